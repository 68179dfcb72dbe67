#!/usr/bin/env bash
# Palmer Penguins demo: loads penguins.csv into SQLite and starts Trellis. Then, through the
# HTTP API, it creates a SQL resource, an LLM resource and an app with three actions: a filtered
# query, an aggregate per species shaped by a jq transformer, and an LLM summary of that
# aggregate. It releases the app, invites a viewer and runs every action as the viewer.
#
# Environment (the names avoid the TRELLIS_ prefix, which the server reads as settings):
#   PENGUINS_TRELLIS_BIN  trellis binary to start; default `cargo run --release --`
#   PENGUINS_TRELLIS_URL  use this running server instead of starting one. It must have
#                         `exec_sqlite_dir` set to PENGUINS_SQLITE_DIR, and allow the LLM's
#                         host in `exec_internal_hosts` when that host is on a private network
#   PENGUINS_SQLITE_DIR   the server's SQLite folder, with PENGUINS_TRELLIS_URL
#   OPENAI_BASE_URL       OpenAI-compatible API for the summary; when unset, a loopback mock
#                         (mock_openai.py) responds
#   OPENAI_API_KEY        its API key, if it needs one
#   OPENAI_MODEL          model name; default gpt-4o-mini
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
server_pid=""
mock_pid=""

cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
fail() {
  printf 'FAILED: %s\n' "$*" >&2
  exit 1
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Reads a dotted path such as `tokens.access_token` or `data.rows.0.species` from JSON on stdin.
json_get() {
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value if isinstance(value, str) else json.dumps(value))
' "$1"
}

# Sends a request and prints the response body. Stops the demo unless the status is 2xx.
# Usage: api METHOD PATH TOKEN [BODY]
api() {
  local method=$1 path=$2 token=$3 body=${4:-}
  local args=(-sS -X "$method" -o "$work/response" -w '%{http_code}')
  if [ -n "$token" ]; then args+=(-H "authorization: Bearer $token"); fi
  if [ -n "$body" ]; then args+=(-H 'content-type: application/json' --data-binary "$body"); fi
  local status
  status=$(curl "${args[@]}" "$base$path") || fail "$method $path: curl failed"
  if [[ $status != 2* ]]; then
    printf 'FAILED: %s %s returned %s:\n' "$method" "$path" "$status" >&2
    cat "$work/response" >&2
    echo >&2
    exit 1
  fi
  cat "$work/response"
}

# The SQLite file and, when no model API is given, the mock model API.
if [ -n "${PENGUINS_TRELLIS_URL:-}" ]; then
  sqlite_dir="${PENGUINS_SQLITE_DIR:?set PENGUINS_SQLITE_DIR to the exec_sqlite_dir setting of the server}"
else
  sqlite_dir="$work/sqlite"
fi
mkdir -p "$sqlite_dir"
step "loading penguins.csv into $sqlite_dir/penguins.db"
python3 "$here/load_penguins.py" "$here/penguins.csv" "$sqlite_dir/penguins.db"

if [ -z "${OPENAI_BASE_URL:-}" ]; then
  step "starting the loopback mock of an OpenAI-compatible API"
  python3 "$here/mock_openai.py" "$work/mock.port" 2>"$work/mock.log" &
  mock_pid=$!
  for _ in $(seq 1 50); do [ -s "$work/mock.port" ] && break; sleep 0.1; done
  [ -s "$work/mock.port" ] || fail "the mock API did not start; see $work/mock.log"
  OPENAI_BASE_URL="http://127.0.0.1:$(cat "$work/mock.port")/v1"
fi
model="${OPENAI_MODEL:-gpt-4o-mini}"
llm_host=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.netloc.rsplit("@", 1)[-1])' "$OPENAI_BASE_URL")
echo "the summary uses $model at $OPENAI_BASE_URL"

# The server.
if [ -n "${PENGUINS_TRELLIS_URL:-}" ]; then
  base="${PENGUINS_TRELLIS_URL%/}"
else
  port=$(free_port)
  base="http://127.0.0.1:$port"
  step "starting Trellis on $base (log: $work/server.log)"
  if [ -n "${PENGUINS_TRELLIS_BIN:-}" ]; then
    command=("$PENGUINS_TRELLIS_BIN")
  else
    command=(cargo run --release --quiet --manifest-path "$root/Cargo.toml" --)
  fi
  TRELLIS_LISTEN="127.0.0.1:$port" \
    TRELLIS_DATA_DIR="$work/data" \
    TRELLIS_EXEC_SQLITE_DIR="$sqlite_dir" \
    TRELLIS_EXEC_INTERNAL_HOSTS="[\"$llm_host\"]" \
    "${command[@]}" serve >"$work/server.log" 2>&1 &
  server_pid=$!
  # A release build from clean takes several minutes, so wait up to 30 minutes.
  for _ in $(seq 1 1800); do
    if curl -sf "$base/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$work/server.log" >&2
      fail "the server exited before it was ready"
    fi
    sleep 1
  done
  curl -sf "$base/readyz" >/dev/null || fail "the server was not ready after 30 minutes"
fi

step "signing up the owner and creating a workspace"
suffix=$(python3 -c 'import uuid; print(uuid.uuid4().hex[:8])')
owner_email="owner-$suffix@penguins.example"
viewer_email="viewer-$suffix@penguins.example"
owner=$(api POST /api/v1/auth/signup "" \
  "{\"email\": \"$owner_email\", \"password\": \"violet-harbor-tram-1987\"}" |
  json_get tokens.access_token)
workspace=$(api POST /api/v1/workspaces "$owner" '{"name": "Palmer Station"}' | json_get id)
ws="/api/v1/workspaces/$workspace"
echo "workspace $workspace"

step "creating the SQL resource on penguins.db and testing its connection"
sql_resource=$(api POST "$ws/resources" "$owner" '{
  "name": "Penguins database", "plugin_id": "sql", "plugin_version": "0.1.0",
  "config": {"engine": "sqlite", "database": "penguins.db"}
}' | json_get id)
api POST "$ws/resources/$sql_resource/test" "$owner" >/dev/null
echo "resource $sql_resource"

step "creating the LLM resource on $OPENAI_BASE_URL and testing its connection"
llm_config=$(python3 -c '
import json, sys
config = {"provider": "openai", "base_url": sys.argv[1], "default_model": sys.argv[2]}
if sys.argv[3]:
    config["api_key"] = sys.argv[3]
print(json.dumps({"name": "Summaries", "plugin_id": "llm", "plugin_version": "0.1.0",
                  "config": config}))
' "$OPENAI_BASE_URL" "$model" "${OPENAI_API_KEY:-}")
llm_resource=$(api POST "$ws/resources" "$owner" "$llm_config" | json_get id)
api POST "$ws/resources/$llm_resource/test" "$owner" >/dev/null
echo "resource $llm_resource"

step "creating the app and its three actions"
app=$(api POST "$ws/apps" "$owner" '{"name": "Penguin explorer"}' | json_get id)
filter_body=$(
  cat <<JSON
{
  "name": "Find penguins",
  "resource_id": "$sql_resource",
  "operation": "query",
  "input": {"sql": "SELECT species, island, sex, body_mass_g, flipper_length_mm FROM penguins WHERE species = {{ species }} AND island = {{ island }} AND body_mass_g >= {{ min_body_mass_g }} ORDER BY body_mass_g DESC"},
  "params_schema": {
    "type": "object",
    "required": ["species", "island", "min_body_mass_g"],
    "properties": {
      "species": {"enum": ["Adelie", "Chinstrap", "Gentoo"]},
      "island": {"enum": ["Biscoe", "Dream", "Torgersen"]},
      "min_body_mass_g": {"type": "integer", "minimum": 0}
    }
  }
}
JSON
)
filter=$(api POST "$ws/apps/$app/actions" "$owner" "$filter_body" | json_get id)
aggregate_body=$(
  cat <<JSON
{
  "name": "Species averages",
  "resource_id": "$sql_resource",
  "operation": "query",
  "input": {"sql": "SELECT species, COUNT(*) AS penguins, ROUND(AVG(body_mass_g), 1) AS mean_body_mass_g, ROUND(AVG(flipper_length_mm), 1) AS mean_flipper_length_mm, ROUND(AVG(bill_length_mm), 1) AS mean_bill_length_mm FROM penguins WHERE body_mass_g IS NOT NULL GROUP BY species ORDER BY species"},
  "transformer": "{species: [.rows[] | {species, penguins, mean_body_mass_g, mean_flipper_length_mm, mean_bill_length_mm}], heaviest: (.rows | max_by(.mean_body_mass_g) | .species)}"
}
JSON
)
aggregate=$(api POST "$ws/apps/$app/actions" "$owner" "$aggregate_body" | json_get id)
# An action cannot call another one, so the app passes the aggregate's data to the summary as
# the `aggregate` parameter, as JSON text.
summary_body=$(
  cat <<JSON
{
  "name": "Summarize species",
  "resource_id": "$llm_resource",
  "operation": "chat",
  "input": {
    "system": "You are a field biologist. Answer in at most three sentences.",
    "prompt": "Here are per-species averages from the Palmer Penguins data set, as JSON:\n{{ aggregate }}\nSummarize how the species differ in size.",
    "temperature": 0.2,
    "max_tokens": 200
  },
  "params_schema": {
    "type": "object",
    "required": ["aggregate"],
    "properties": {"aggregate": {"type": "string", "maxLength": 20000}}
  },
  "timeout_ms": 60000
}
JSON
)
summary=$(api POST "$ws/apps/$app/actions" "$owner" "$summary_body" | json_get id)
echo "app $app: actions $filter, $aggregate, $summary"

step "releasing the app"
release=$(api POST "$ws/apps/$app/releases" "$owner" '{}' | json_get number)
echo "release $release"

step "inviting $viewer_email as a viewer"
invite=$(api POST "$ws/invites" "$owner" "{\"email\": \"$viewer_email\", \"role\": \"viewer\"}" |
  json_get token)
viewer=$(api POST /api/v1/auth/signup "" \
  "{\"email\": \"$viewer_email\", \"password\": \"copper-lantern-orbit-42\"}" |
  json_get tokens.access_token)
api POST "/api/v1/invites/$invite/accept" "$viewer" >/dev/null
echo "the viewer joined the workspace"

step "running 'Find penguins' as the viewer: Gentoo on Biscoe, at least 5500 g"
found=$(api POST "$ws/apps/$app/actions/$filter/run" "$viewer" \
  '{"params": {"species": "Gentoo", "island": "Biscoe", "min_body_mass_g": 5500}}')
count=$(echo "$found" | json_get data.row_count)
heaviest=$(echo "$found" | json_get data.rows.0.body_mass_g)
echo "$count penguins; the heaviest weighs $heaviest g"
[ "$count" -gt 0 ] || fail "the filtered query returned no rows"

step "running 'Species averages' as the viewer"
averages=$(api POST "$ws/apps/$app/actions/$aggregate/run" "$viewer" '{"params": {}}' |
  json_get data)
echo "$averages" | python3 -m json.tool
[ "$(echo "$averages" | json_get heaviest)" = "Gentoo" ] ||
  fail "expected Gentoo to be the heaviest species"

step "running 'Summarize species' as the viewer, with the averages as its parameter"
summary_params=$(python3 -c 'import json, sys; print(json.dumps({"params": {"aggregate": sys.argv[1]}}))' "$averages")
summarized=$(api POST "$ws/apps/$app/actions/$summary/run" "$viewer" "$summary_params")
echo "$summarized" | json_get data.text
echo "usage: $(echo "$summarized" | json_get meta.usage)"
input_tokens=$(echo "$summarized" | json_get meta.usage.input_tokens)
[ "$input_tokens" != "null" ] && [ "$input_tokens" -gt 0 ] ||
  fail "the summary run recorded no input tokens"

step "checking the workspace's token usage as the owner"
tokens=$(api GET "$ws/usage" "$owner" | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
print(sum(item["input_tokens"] + item["output_tokens"] for item in items))
')
echo "$tokens LLM tokens recorded today"
[ "$tokens" -gt 0 ] || fail "the usage report has no LLM tokens"

step "the demo finished"
