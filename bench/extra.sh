#!/usr/bin/env bash
# The figures of issue 7 that bench/run.sh does not take, on the release build:
#   1. ingest→forward end-to-end latency at a fixed 1,000 req/s (examples/e2e.rs: open-loop
#      sender + the forward target, timing each delivery from send to forward arrival);
#   2. RSS under a 30 s flood (unsigned + oversized + signed requests at once), peak and after;
#   3. how startup, idle RSS and 1 KB ingest grow with 1, 100 and 10,000 hooks.
# Run by hand after bench/run.sh (which builds): BENCH_NO_BUILD=1 bench/extra.sh.
# Knobs: RATE=1000 E2E_SECONDS=20 FLOOD_SECONDS=30 HOOK_COUNTS="1 100 10000" DURATION=8
# HUB=<another hookhub binary, to compare builds>
# Writes bench/results/extra.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RATE=${RATE:-1000}
E2E_SECONDS=${E2E_SECONDS:-20}
FLOOD_SECONDS=${FLOOD_SECONDS:-30}
HOOK_COUNTS=${HOOK_COUNTS-1 100 10000}
DURATION=${DURATION:-8}
HUB=${HUB:-$ROOT/target/release/hookhub}
E2E=$ROOT/target/release/examples/e2e
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hookhub-extra.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
source bench/lib.sh
wait_ready() {
    local deadline=$(($(now_ms) + 120000))
    until curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || { log "server $2 died"; return 1; }
        (($(now_ms) < deadline)) || { log "timed out waiting for $1"; return 1; }
        sleep 0.005
    done
}

if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    cargo build --release --bin hookhub --example e2e --example ceiling >&2
fi
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

# start_hub CONFIG SINK_URL: starts the hub on a free port with a fresh data dir; sets HUB_PID,
# HUB_URL and STARTUP_MS.
start_hub() {
    local port data t0
    port=$(free_port)
    data=$(mktemp -d "$WORK/data.XXXXXX")
    t0=$(now_ms)
    BENCH_SINK_URL=$2 "$HUB" serve --config "$1" --data-dir "$data" --listen "127.0.0.1:$port" 2>>"$WORK/hub.err" &
    HUB_PID=$!
    PIDS+=("$HUB_PID")
    HUB_URL="http://127.0.0.1:$port"
    wait_ready "$HUB_URL/healthz" "$HUB_PID"
    STARTUP_MS=$(($(now_ms) - t0))
}
stop_hub() { kill "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; }

REPORT=()
# --- 1. end-to-end forward latency ----------------------------------------------------------
SINK=127.0.0.1:$(free_port)
start_hub bench/hooks.bench.yaml "http://$SINK/sink"
log "e2e: $RATE req/s for ${E2E_SECONDS}s"
E2E_JSON=$("$E2E" --hub "$HUB_URL/api/webhooks/bench" --sink-listen "$SINK" --secret bench-secret \
    --rate "$RATE" --seconds "$E2E_SECONDS")
log "  $E2E_JSON"
stop_hub
REPORT+=("## Ingest → forward, end to end, at $RATE req/s (1 KB, ${E2E_SECONDS} s, open loop)" ""
    '```json' "$E2E_JSON" '```' "")

# --- 2. RSS under a flood -------------------------------------------------------------------
python3 - "$WORK/body.json" "$WORK/big.json" <<'PY'
import sys
open(sys.argv[1], "w").write('{"ref":"refs/heads/main","pad":"' + "x" * 990 + '"}')
open(sys.argv[2], "w").write('{"pad":"' + "x" * (3 * 1024 * 1024) + '"}')
PY
SIG="sha256=$(openssl dgst -sha256 -hmac bench-secret -r "$WORK/body.json" | cut -d' ' -f1)"
start_hub bench/hooks.bench.yaml "http://127.0.0.1:9/sink"
sleep 2
RSS_BEFORE=$(rss_kb "$HUB_PID")
log "flood: ${FLOOD_SECONDS}s of unsigned, oversized and signed requests"
BENCH_BODY_FILE=$WORK/body.json BENCH_SIGNATURE=sha256=00 \
    wrk -t1 -c200 -d"${FLOOD_SECONDS}s" -s bench/post.lua "$HUB_URL/api/webhooks/bench-ingest" >"$WORK/flood-unsigned.txt" &
W1=$!
BENCH_BODY_FILE=$WORK/big.json BENCH_SIGNATURE=sha256=00 \
    wrk -t1 -c50 -d"${FLOOD_SECONDS}s" -s bench/post.lua "$HUB_URL/api/webhooks/bench-ingest" >"$WORK/flood-big.txt" &
W2=$!
BENCH_BODY_FILE=$WORK/body.json BENCH_SIGNATURE=$SIG \
    wrk -t1 -c8 -d"${FLOOD_SECONDS}s" --latency -s bench/post.lua "$HUB_URL/api/webhooks/bench-ingest" >"$WORK/flood-signed.txt" &
W3=$!
PEAK=0
for _ in $(seq "$FLOOD_SECONDS"); do
    sleep 1
    r=$(rss_kb "$HUB_PID"); ((r > PEAK)) && PEAK=$r
done
wait $W1 $W2 $W3 || true
RSS_AFTER=$(rss_kb "$HUB_PID")
SIGNED_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/flood-signed.txt")
SIGNED_P99=$(awk '$1 == "99%" {print $2}' "$WORK/flood-signed.txt")
UNSIGNED_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/flood-unsigned.txt")
BIG_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/flood-big.txt")
stop_hub
REPORT+=("## RSS under a ${FLOOD_SECONDS} s flood" ""
    "200 connections of unsigned 1 KB POSTs ($UNSIGNED_RPS req/s, all 401), 50 connections of 3 MB bodies ($BIG_RPS req/s, all 413), and 8 connections of signed deliveries at the same time ($SIGNED_RPS req/s accepted, p99 $SIGNED_P99), rate limit off:" ""
    "| RSS before | peak (1 s samples) | after |" "|---|---|---|"
    "| $((RSS_BEFORE / 1024)) MiB | $((PEAK / 1024)) MiB | $((RSS_AFTER / 1024)) MiB |" "")

# --- 3. scaling with the number of hooks ----------------------------------------------------
REPORT+=("## With 1, 100 and 10,000 hooks" ""
    "| hooks | config load + startup to /healthz | RSS idle | ingest 1 KB, c=32, 2xx/s | p99 ms |" "|---|---|---|---|---|")
for n in $HOOK_COUNTS; do
    python3 - "$n" "$WORK/hooks-$n.yaml" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
out = ["server: { rateLimit: { perSecond: 0 } }", "admin: { token: bench-admin-token }", "hooks:"]
for i in range(n):
    out += [f"  - id: hook-{i}", f"    triggerConfig: {{ webhookPath: p/{i}, webhookSecret: bench-secret, events: [never-sent] }}",
            "    action: webhook", "    actionConfig: { webhookUrl: 'http://127.0.0.1:9/sink' }"]
open(path, "w").write("\n".join(out) + "\n")
PY
    start_hub "$WORK/hooks-$n.yaml" "http://127.0.0.1:9/sink"
    sleep 2
    IDLE=$(rss_kb "$HUB_PID")
    BENCH_BODY_FILE=$WORK/body.json BENCH_SIGNATURE=$SIG \
        wrk -t2 -c32 -d"${DURATION}s" --latency -s bench/post.lua "$HUB_URL/api/webhooks/p/$((n - 1))" >"$WORK/hooks-$n.txt"
    RPS=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/hooks-$n.txt")
    P99=$(awk '$1 == "99%" {print $2}' "$WORK/hooks-$n.txt")
    NON2XX=$(awk '/Non-2xx/ {print $NF}' "$WORK/hooks-$n.txt")
    log "  $n hooks: startup $STARTUP_MS ms, idle $((IDLE / 1024)) MiB, $RPS req/s (non-2xx ${NON2XX:-0}), p99 $P99"
    REPORT+=("| $n | $STARTUP_MS ms | $((IDLE / 1024)) MiB | $RPS${NON2XX:+ ($NON2XX non-2xx)} | $P99 |")
    stop_hub
done
REPORT+=("")
mkdir -p bench/results
{
    echo "# hookhub extra benchmark, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
    echo
    printf '%s\n' "${REPORT[@]}"
} | tee bench/results/extra.md
