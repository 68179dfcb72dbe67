#!/usr/bin/env python3
"""A loopback stand-in for an OpenAI-compatible API, for running the demo without a model.

Usage: mock_openai.py PORT_FILE

Listens on 127.0.0.1 on a free port and writes the port to PORT_FILE. It serves
`GET /v1/models` and `POST /v1/chat/completions`; a chat reply names the species found in the
last user message and reports token counts as whitespace-separated words.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "mock-gpt"
SPECIES = ("Adelie", "Chinstrap", "Gentoo")


class Handler(BaseHTTPRequestHandler):
    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "demo"}
            ]})
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        try:
            request = json.loads(self.rfile.read(length) or b"null")
        except json.JSONDecodeError as error:
            self.send_json(400, {"error": {"message": f"the body is not JSON: {error}"}})
            return
        if self.path != "/v1/chat/completions":
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        messages = request.get("messages") if isinstance(request, dict) else None
        if not messages:
            self.send_json(400, {"error": {"message": "`messages` is required"}})
            return

        prompt = " ".join(str(message.get("content", "")) for message in messages)
        found = [name for name in SPECIES if name in prompt]
        reply = (
            f"Mock summary: the aggregate covers {', '.join(found) or 'no known species'}; "
            f"the prompt had {len(prompt.split())} words."
        )
        self.send_json(200, {
            "id": "chatcmpl-demo",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", MODEL),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": len(reply.split()),
                "total_tokens": len(prompt.split()) + len(reply.split()),
            },
        })

    def log_message(self, format, *args):
        sys.stderr.write("mock_openai: " + (format % args) + "\n")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mock_openai.py PORT_FILE")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        handle.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
