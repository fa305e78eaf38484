-- wrk: the raw axum route (POST /bench/echo) with a small JSON body, for scale,
-- followed by done.lua.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"query":"{ serverInfo { version } }"}'
