-- wrk script: POST a form body with HTTP Basic client authentication.
-- bench.sh passes both values in the environment:
--   BENCH_AUTHORIZATION  the full Authorization header value ("Basic …")
--   BENCH_BODY           the application/x-www-form-urlencoded body
wrk.method = "POST"
wrk.body = assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = assert(os.getenv("BENCH_AUTHORIZATION"), "BENCH_AUTHORIZATION is not set")
