#!/usr/bin/env bash
# A paced soak of the release hub's ingest-only hook (issue 23): wrk with a 10 ms pause per
# connection, 20 connections (about 1,750 deliveries/s here), for SOAK_MINUTES (30), in slices
# of SLICE seconds (30), printing after each slice the hub's RSS, its data dir's size and the
# slice's p50/p99 and errors (RSS also split into anonymous and file pages, the data dir into
# journal, sled and payload segments, and the host's steal time); then the hub is restarted on
# the same data dir and its start time and idle RSS are printed. Run by hand: bench/soak.sh.
# Results: stdout and bench/results/soak.md.
# Knobs: SOAK_MINUTES=30 SLICE=30 CONNECTIONS=20 DELAY_MS=10 BENCH_NO_BUILD=1 HUB=path/to/hookhub
# CONFIG=another hooks file with the same ingest-only hook (e.g. retention changed)
# QUIET_PER_S=2: beside the soak, that many deliveries a second to a second hook (bench-tool, one
# /bin/true run each), which retention keeps for the whole soak: their records share the busy
# hook's files, which only compaction lets go (the "quiet" column counts them). They are sent
# by bench/quiet.py over one connection: a process started per delivery would take a core from
# the hub for milliseconds each time and show in the p99 (BENCHMARKS.md).
set -euo pipefail

cd "$(dirname "$0")/.."
SOAK_MINUTES=${SOAK_MINUTES:-30}
QUIET_PER_S=${QUIET_PER_S:-0}
SLICE=${SLICE:-30}
CONNECTIONS=${CONNECTIONS:-20}
DELAY_MS=${DELAY_MS:-10}
HUB=${HUB:-$PWD/target/release/hookhub}
CONFIG=${CONFIG:-bench/hooks.bench.yaml}
RESULTS=$PWD/bench/results
mkdir -p "$RESULTS"
source bench/lib.sh
work_dir hookhub-soak

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
[[ -n ${BENCH_NO_BUILD:-} ]] || cargo build --release --bin hookhub >&2

rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# parts_mb DIR: the data dir's journal files, sled's directory and the payload segments, in MiB.
parts_mb() {
    local journal=$(du -cm "$1"/journal-* 2>/dev/null | awk 'END {print $1 + 0}')
    echo "$journal / $(du -sm "$1/db" | cut -f1) / $(du -sm "$1/payloads" | cut -f1)"
}
# anon_file_mb PID: the RSS split into anonymous memory (heap, stacks) and file pages (the binary).
anon_file_mb() { awk '/^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} END {printf "%.1f / %.1f", a / 1024, f / 1024}' "/proc/$1/status"; }
start_hub() { # sets PID, and STARTED_MS to the ms it took to answer /healthz
    local t0=$(now_ms)
    "$HUB" serve --config "$CONFIG" --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
        >"$WORK/hub.out" 2>>"$WORK/hub.err" &
    PID=$!
    until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz" 2>/dev/null; do
        kill -0 "$PID" 2>/dev/null || { echo "the hub died: $(tail -n 5 "$WORK/hub.err")" >&2; exit 1; }
        sleep 0.01
    done
    STARTED_MS=$(($(now_ms) - t0))
}

small_body "$WORK/body.json"
SIG=$(bench_signature "$WORK/body.json")
PORT=$(free_port)
start_hub
# The quiet hook's deliveries, counted in $WORK/quiet as they are answered 202.
: >"$WORK/quiet"
if ((QUIET_PER_S > 0)); then
    python3 bench/quiet.py "http://127.0.0.1:$PORT/api/webhooks/bench-tool" "$QUIET_PER_S" "$SIG" \
        "$WORK/body.json" "$WORK/quiet" "$PID" &
    QUIET=$!
fi

{
    echo "# hookhub soak, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
    echo
    echo "- $CONNECTIONS connections, ${DELAY_MS} ms pause per connection between requests, 1 KB GitHub-signed body, ingest-only hook, ${SOAK_MINUTES} min"
    ((QUIET_PER_S == 0)) || echo "- beside it, $QUIET_PER_S deliveries a second to bench-tool (/bin/true), all kept by retention"
    echo
    echo "| minute | deliveries/s | p50 ms | p99 ms | errors | hub RSS MiB | anon / file MiB | data dir MiB | journal / db / payloads MiB | quiet | steal % |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    slices=$((SOAK_MINUTES * 60 / SLICE))
    for ((i = 1; i <= slices; i++)); do
        t0=$(cpu_times)
        BENCH_BODY_FILE=$WORK/body.json BENCH_SIGNATURE=$SIG BENCH_DELAY_MS=$DELAY_MS \
            wrk -t2 -c"$CONNECTIONS" -d"${SLICE}s" --timeout 10s --latency -s bench/post.lua \
            "http://127.0.0.1:$PORT/api/webhooks/bench-ingest" >"$WORK/slice.txt"
        rate=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/slice.txt")
        p50=$(awk '$1 == "50%" {print $2}' "$WORK/slice.txt")
        p99=$(awk '$1 == "99%" {print $2}' "$WORK/slice.txt")
        errors=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
            /Socket errors:/ {for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0}
            END {print n + 0}' "$WORK/slice.txt")
        echo "| $(awk -v s=$((i * SLICE)) 'BEGIN {printf "%.1f", s / 60}') | $rate | $p50 | $p99 | $errors | $(rss_mb "$PID") | $(anon_file_mb "$PID") | $(du -sm "$WORK/data" | cut -f1) | $(parts_mb "$WORK/data") | $(wc -l <"$WORK/quiet") | $(steal_pct "$t0" "$(cpu_times)") |"
    done
    # A child of the outer shell: wait for it to be gone (its database lock with it).
    [[ -z ${QUIET:-} ]] || kill "$QUIET" 2>/dev/null || true
    kill "$PID"
    while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
    start_hub
    sleep 2
    echo
    echo "- restart on the same data dir: /healthz answered after ${STARTED_MS} ms; RSS 2 s later $(rss_mb "$PID") MiB; data dir $(du -sm "$WORK/data" | cut -f1) MiB"
    kill "$PID"
    while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
} | tee "$RESULTS/soak.md"
