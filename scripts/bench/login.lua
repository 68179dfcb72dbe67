-- wrk script: repeated successful sign-ins of one account.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "bench@example.com", "password": "violet-harbor-tram-1987"}'
