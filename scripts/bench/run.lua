-- wrk script: runs of one released action without parameters.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"params": {}}'
