#!/usr/bin/env bash
# Alternated saturated runs of two or more hub binaries, for an A/B on this noisy host (a
# change of a few per cent needs several pairs, or bench/instructions.sh). Each run: a fresh
# data dir, 3 s of warm-up, then DURATION s of wrk (2 threads, CONNECTIONS connections, the 1 KB
# GitHub-signed body) on the ingest-only hook; the hub's CPU per delivery from /proc over the
# run, its peak RSS (sampled every 0.5 s) and RSS 2 s after, and the host's steal time.
# Usage: bench/pairs.sh ROUNDS BINARY... (e.g. target/release/hookhub /tmp/hookhub-before); the
# word `ceiling` in place of a binary runs the durable ceiling (target/release/examples/ceiling
# --mode durable) in its turn, for the hub's p99 beside the machine's durable limit.
# Knobs: DURATION=8 CONNECTIONS=32 CONFIG=bench/hooks.bench.yaml (another hooks file with the same hook)
# Output: a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
[[ $# -ge 2 ]] || { echo "usage: bench/pairs.sh ROUNDS BINARY..." >&2; exit 2; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
ROUNDS=$1
shift
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-32}
CONFIG=${CONFIG:-bench/hooks.bench.yaml}
work_dir hookhub-pairs
small_body "$WORK/body.json"
SIG=$(bench_signature "$WORK/body.json")
echo "| round | binary | req/s | p99 | CPU µs/req | peak RSS MiB | RSS after MiB | steal % |"
echo "|---|---|---|---|---|---|---|---|"
tick=$(getconf CLK_TCK)
for r in $(seq "$ROUNDS"); do
    for bin in "$@"; do
        rm -rf "$WORK/data"; mkdir -p "$WORK/data"
        PORT=$(free_port)
        if [[ $bin == ceiling ]]; then
            target/release/examples/ceiling --mode durable --file "$WORK/data/ceiling.log" --listen "127.0.0.1:$PORT" 2>"$WORK/hub.err" &
            URL="http://127.0.0.1:$PORT/api/webhooks/bench"
        else
            "$bin" serve --config "$CONFIG" --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/hub.out" 2>"$WORK/hub.err" &
            URL="http://127.0.0.1:$PORT/api/webhooks/bench-ingest"
        fi
        P=$!
        PID=$P
        wait_healthy "$PORT" "$P" "$WORK/hub.err"
        BENCH_BODY_FILE="$WORK/body.json" BENCH_SIGNATURE="$SIG" wrk -t2 -c"$CONNECTIONS" -d3s -s bench/post.lua "$URL" >/dev/null
        c0=$(awk '{print $14+$15}' "/proc/$P/stat"); s0=$(cpu_times)
        ( while kill -0 "$P" 2>/dev/null; do rss_kb "$P"; sleep 0.5; done ) >"$WORK/rss.txt" 2>/dev/null &
        M=$!
        BENCH_BODY_FILE="$WORK/body.json" BENCH_SIGNATURE="$SIG" wrk -t2 -c"$CONNECTIONS" -d${DURATION}s --latency -s bench/post.lua "$URL" >"$WORK/wrk.txt"
        c1=$(awk '{print $14+$15}' "/proc/$P/stat"); s1=$(cpu_times)
        kill "$M" 2>/dev/null || true
        sleep 2
        after=$(rss_kb "$P")
        peak=$(sort -n "$WORK/rss.txt" | tail -1)
        reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
        rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
        p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.txt")
        non2xx=$(awk '/Non-2xx/ {print $4}' "$WORK/wrk.txt")
        cpu=$(awk -v a=$c0 -v b=$c1 -v n=$reqs -v t=$tick 'BEGIN{printf "%.1f", (b-a)/t*1e6/n}')
        echo "| $r | $bin | $rps${non2xx:+ ($non2xx non-2xx)} | $p99 | $cpu | $((peak/1024)) | $((after/1024)) | $(steal_pct "$s0" "$s1") |"
        kill "$P"; wait "$P" 2>/dev/null || true
        PID=""
    done
done
