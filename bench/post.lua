-- wrk script for bench/run.sh: POST the body in $BENCH_BODY_FILE with its precomputed
-- GitHub signature ($BENCH_SIGNATURE, "sha256=<hex>"), the same request every time.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
wrk.headers["X-Hub-Signature-256"] = assert(os.getenv("BENCH_SIGNATURE"))

-- BENCH_DELAY_MS (bench/soak.sh): each connection waits this long between requests, for a
-- paced load instead of a saturating one.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms then
   function delay()
      return delay_ms
   end
end
