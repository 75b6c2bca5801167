-- A fixed request with the bearer token from B4_TOKEN.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("B4_TOKEN")
