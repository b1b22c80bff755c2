#!/usr/bin/env bash
# A paced soak of the release hub's ingest-only hook (issue 23; HOOK below for another): wrk
# with a 10 ms pause per connection, 20 connections (about 1,750 deliveries/s here), for
# SOAK_MINUTES (30), in slices of SLICE seconds (30), printing after each slice the hub's RSS,
# its data dir's size and the slice's p50/p99 and errors (RSS also split into anonymous and
# file pages, the data dir into journal, sled and payload segments, the host's steal time, and
# the hub's slow journal syncs); then the hub is restarted on the same data dir and its start
# time and idle RSS are printed. Run by hand: bench/soak.sh.
# Results: stdout and bench/results/soak.md.
# Knobs: SOAK_MINUTES=30 SLICE=30 CONNECTIONS=20 DELAY_MS=10 BENCH_NO_BUILD=1 HUB=path/to/hookhub
# CEILING_BIN=path/to/examples/ceiling (the sink and CEILING_BESIDE's ceiling)
# CONFIG=another hooks file with the same ingest-only hook (e.g. retention changed)
# QUIET_PER_S=2: beside the soak, that many deliveries a second to a second hook (bench-tool, one
# /bin/true run each), which retention keeps for the whole soak: their records share the busy
# hook's files, which only compaction lets go (the "quiet" column counts them). They are sent
# by bench/quiet.py over one connection: a process started per delivery would take a core from
# the hub for milliseconds each time and show in the p99 (BENCHMARKS.md).
# HOOK=bench: the load goes to the hook that forwards each delivery (to a nostore ceiling's
# /sink, started here) instead of the ingest-only one: the workers, attempts and their
# metrics are in the soak.
# METRICS=0: /metrics is not read after each slice (the syncs column shows –): a scrape drains
# the recorder's histogram samples, so a hub nobody scrapes is soaked this way.
# CEILING_BESIDE=1: the durable ceiling (examples/ceiling.rs) runs beside the hub, and each hub
# slice is followed by a slice of the same load on the ceiling (the soak takes twice as long):
# a bad minute in both is the machine's (its storage, its neighbours), in the hub's alone ours.
set -euo pipefail

cd "$(dirname "$0")/.."
SOAK_MINUTES=${SOAK_MINUTES:-30}
QUIET_PER_S=${QUIET_PER_S:-0}
SLICE=${SLICE:-30}
CONNECTIONS=${CONNECTIONS:-20}
DELAY_MS=${DELAY_MS:-10}
HUB=${HUB:-$PWD/target/release/hookhub}
CEILING_BIN=${CEILING_BIN:-$PWD/target/release/examples/ceiling}
CONFIG=${CONFIG:-bench/hooks.bench.yaml}
RESULTS=$PWD/bench/results
mkdir -p "$RESULTS"
source bench/lib.sh
work_dir hookhub-soak

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
CEILING_BESIDE=${CEILING_BESIDE:-}
HOOK=${HOOK:-bench-ingest}
METRICS=${METRICS:-1}
[[ -n ${BENCH_NO_BUILD:-} ]] || cargo build --release --bin hookhub --example ceiling >&2

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
    BENCH_SINK_URL=${SINK_URL:-} "$HUB" serve --config "$CONFIG" --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
        >"$WORK/hub.out" 2>>"$WORK/hub.err" &
    PID=$!
    until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz" 2>/dev/null; do
        kill -0 "$PID" 2>/dev/null || { echo "the hub died: $(tail -n 5 "$WORK/hub.err")" >&2; exit 1; }
        sleep 0.01
    done
    STARTED_MS=$(($(now_ms) - t0))
}

# slice URL OUT: one slice of the paced load on URL, wrk's report in OUT; prints "rate p50 p99 errors".
slice() {
    BENCH_BODY_FILE=$WORK/body.json BENCH_SIGNATURE=$SIG BENCH_DELAY_MS=$DELAY_MS \
        wrk -t2 -c"$CONNECTIONS" -d"${SLICE}s" --timeout 10s --latency -s bench/post.lua "$1" >"$2"
    awk '/^Requests\/sec:/ {rate = sprintf("%.0f", $2)} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
        /Non-2xx or 3xx responses:/ {n += $NF}
        /Socket errors:/ {for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0}
        END {print rate, p50, p99, n + 0}' "$2"
}

# syncs: the hub's journal syncs so far from /metrics, as "LE=COUNT ..." for each bucket of
# hookhub_journal_sync_seconds (cumulative, as Prometheus gives them).
syncs() {
    ((METRICS)) || return 0
    curl -fsS --max-time 5 -H "Authorization: Bearer bench-admin-token" "http://127.0.0.1:$PORT/metrics" |
        awk -F'[{}" ]+' '/^hookhub_journal_sync_seconds_bucket/ {printf "%s=%s ", $3, $NF}'
}
# slow_syncs "SYNCS" "SYNCS": between two syncs readings, the syncs that took over 5 ms and the
# bucket the slowest fell in, as "N / ≤ S s".
slow_syncs() {
    ((METRICS)) || { echo "–"; return; }
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) { split(x[i], p, "="); split(y[i], q, "="); le[i] = p[1]; d[i] = q[2] - p[2] }
        over = d[n]; for (i = 1; i <= n; i++) if (le[i] == "0.005") over = d[n] - d[i]
        for (i = 1; i <= n; i++) if (d[i] == d[n]) { slowest = le[i]; break }
        printf "%d / ≤ %s s", over, slowest }'
}

small_body "$WORK/body.json"
SIG=$(bench_signature "$WORK/body.json")
trap 'kill ${CEILING_PID:-} ${SINK_PID:-} 2>/dev/null || true; stop_and_clean' EXIT
if [[ $HOOK == bench ]]; then
    SINK_PORT=$(free_port)
    "$CEILING_BIN" --mode nostore --listen "127.0.0.1:$SINK_PORT" 2>"$WORK/sink.err" &
    SINK_PID=$!
    SINK_URL="http://127.0.0.1:$SINK_PORT/sink"
    wait_healthy "$SINK_PORT" "$SINK_PID" "$WORK/sink.err"
fi
PORT=$(free_port)
start_hub
if [[ -n $CEILING_BESIDE ]]; then
    CEILING_PORT=$(free_port)
    "$CEILING_BIN" --mode durable --listen "127.0.0.1:$CEILING_PORT" \
        --file "$WORK/ceiling.log" 2>"$WORK/ceiling.err" &
    CEILING_PID=$!
    wait_healthy "$CEILING_PORT" "$CEILING_PID" "$WORK/ceiling.err"
fi
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
    echo "- $CONNECTIONS connections, ${DELAY_MS} ms pause per connection between requests, 1 KB GitHub-signed body, hook $HOOK ($([[ $HOOK == bench ]] && echo "forwards each delivery" || echo "ingest only")), ${SOAK_MINUTES} min"
    ((QUIET_PER_S == 0)) || echo "- beside it, $QUIET_PER_S deliveries a second to bench-tool (/bin/true), all kept by retention"
    echo
    [[ -z $CEILING_BESIDE ]] || echo "- each hub slice is followed by one of the durable ceiling under the same load (the ceiling columns)"
    ((!METRICS)) || echo "- syncs over 5 ms: the hub's journal syncs (write and fdatasync) in the slice that took longer, from /metrics, and the bucket its slowest fell in"
    echo
    echo "| minute | deliveries/s | p50 ms | p99 ms | errors | hub RSS MiB | anon / file MiB | data dir MiB | journal / db / payloads MiB | quiet | steal % | syncs over 5 ms |$([[ -z $CEILING_BESIDE ]] || echo " ceiling p50 / p99 ms | ceiling errors | ceiling steal % |")"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|$([[ -z $CEILING_BESIDE ]] || echo "---|---|---|")"
    slices=$((SOAK_MINUTES * 60 / SLICE))
    for ((i = 1; i <= slices; i++)); do
        t0=$(cpu_times)
        s0=$(syncs)
        read -r rate p50 p99 errors < <(slice "http://127.0.0.1:$PORT/api/webhooks/$HOOK" "$WORK/slice.txt")
        row="| $(awk -v s=$((i * SLICE * (CEILING_BESIDE ? 2 : 1))) 'BEGIN {printf "%.1f", s / 60}') | $rate | $p50 | $p99 | $errors | $(rss_mb "$PID") | $(anon_file_mb "$PID") | $(du -sm "$WORK/data" | cut -f1) | $(parts_mb "$WORK/data") | $(wc -l <"$WORK/quiet") | $(steal_pct "$t0" "$(cpu_times)") | $(slow_syncs "$s0" "$(syncs)") |"
        if [[ -n $CEILING_BESIDE ]]; then
            t0=$(cpu_times)
            read -r _ cp50 cp99 cerrors < <(slice "http://127.0.0.1:$CEILING_PORT/api/webhooks/bench" "$WORK/ceiling-slice.txt")
            row+=" $cp50 / $cp99 | $cerrors | $(steal_pct "$t0" "$(cpu_times)") |"
            : >"$WORK/ceiling.log" # its bodies are not needed; the file stays open for appends
        fi
        echo "$row"
    done
    [[ -z $CEILING_BESIDE ]] || { kill "$CEILING_PID"; wait "$CEILING_PID" 2>/dev/null || true; }
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
