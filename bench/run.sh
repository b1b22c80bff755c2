#!/usr/bin/env bash
# Loopback benchmark of hookhub's ingress against two ceilings (examples/ceiling.rs):
#   ceiling-nostore  verify the GitHub HMAC, answer 202
#   ceiling-durable  verify, append the body to a file, 202 after a shared (group-committed) fdatasync
#   hookhub          the release binary with bench/hooks.bench.yaml (forwards to the ceiling's /sink)
#   adnanh-webhook   the peer (issue 23): adnanh/webhook 2.8.0 from Debian's `webhook` package
#                    (installed when missing), a payload-hmac-sha256 rule on the same header and
#                    `execute-command: /bin/true`; it answers before the command runs and keeps no log
#                    (the processes it starts during the run are counted from /proc/stat)
#   hookhub-tool     the hub's bench-tool hook: execute_tool running /bin/true, concurrency 20;
#                    runs completed per second from /metrics
# Every row has the host's steal time during its measured run, and what the server process spent
# per accepted (2xx) delivery over it: CPU, user and system (its threads and the children it
# waited for), and the bytes it wrote to storage (/proc/PID/io).
# Run by hand, not by CI: bench/run.sh. Results: stdout and bench/results/latest.md.
# Knobs (environment): CONNECTIONS=32 THREADS=2 WARMUP=3 DURATION=15 LARGE_DURATION=8
#   SIZES_LARGE="65536 1048576" LOW_CONNECTIONS=4 (an extra 1 KB run of hookhub and
#   ceiling-durable below the hub's queue cap; empty skips it) BENCH_TMP=<dir for data dirs>
#   BENCH_NO_BUILD=1 (use the binaries already in target/release)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-15}
LARGE_DURATION=${LARGE_DURATION:-8}
SIZES_LARGE=${SIZES_LARGE-65536 1048576}
LOW_CONNECTIONS=${LOW_CONNECTIONS-4}
SECRET=bench-secret
HUB=$ROOT/target/release/hookhub
CEILING=$ROOT/target/release/examples/ceiling
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
WORK=${BENCH_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/hookhub-bench.XXXXXX")}
mkdir -p "$WORK"

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    [[ -n ${BENCH_TMP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source bench/lib.sh

# wait_ready URL PID: until URL answers 2xx (at most 30 s), failing early if PID died.
wait_ready() {
    local deadline=$(($(now_ms) + 30000))
    until curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || { log "server $2 died before $1 answered"; return 1; }
        (($(now_ms) < deadline)) || { log "timed out waiting for $1"; return 1; }
        sleep 0.005
    done
}

stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# make_body SIZE FILE: a GitHub-push-like JSON object of exactly SIZE bytes.
make_body() {
    python3 - "$1" "$2" <<'PY'
import json, sys
size, path = int(sys.argv[1]), sys.argv[2]
doc = {"ref": "refs/heads/main", "repository": {"full_name": "bench/hookhub"},
       "pusher": {"name": "bench"}, "head_commit": {"message": "benchmark"}, "padding": ""}
doc["padding"] = "x" * (size - len(json.dumps(doc, separators=(",", ":"))))
text = json.dumps(doc, separators=(",", ":"))
assert len(text) == size, (len(text), size)
open(path, "w").write(text)
PY
}

# signature FILE: the X-Hub-Signature-256 value for FILE.
signature() {
    echo "sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r "$1" | cut -d' ' -f1)"
}

# processes_started: processes and threads created since boot (/proc/stat).
processes_started() { awk '/^processes/ {print $2}' /proc/stat; }

# load URL SECONDS BODY_FILE OUT CONNS PID: a warm-up, then the measured wrk run written to OUT;
# the host's steal time during the measured run goes to OUT.steal (percent) and the server
# PID's CPU and bytes written over it to OUT.usage (two process_usage lines). BEFORE_RUN,
# when set, is run between the two (to read a counter at the start of the measured run).
load() {
    local url=$1 secs=$2 body=$3 out=$4 conns=$5 pid=$6 sig t0 t1 u0
    sig=$(signature "$body")
    BENCH_BODY_FILE=$body BENCH_SIGNATURE=$sig \
        wrk -t"$THREADS" -c"$conns" -d"${WARMUP}s" --timeout 10s -s bench/post.lua "$url" >/dev/null
    [[ -z ${BEFORE_RUN:-} ]] || $BEFORE_RUN
    t0=$(cpu_times)
    u0=$(process_usage "$pid")
    BENCH_BODY_FILE=$body BENCH_SIGNATURE=$sig \
        wrk -t"$THREADS" -c"$conns" -d"${secs}s" --timeout 10s --latency -s bench/post.lua "$url" >"$out"
    printf '%s\n%s\n' "$u0" "$(process_usage "$pid")" >"$out.usage"
    t1=$(cpu_times)
    steal_pct "$t0" "$t1" >"$out.steal"
}

# to_ms VALUE: wrk's "812.00us" / "1.23ms" / "1.05s" in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.2f", n }'
}

# row NAME SIZE SECS OUT [CONNS]: one Markdown table row from a wrk report and the server's
# usage over it; records the rate of 2xx answers (wrk's req/s counts every answer, 503s
# included) in OK[NAME/SIZE].
ROWS=()
declare -A OK
row() {
    local name=$1 size=$2 secs=$3 out=$4 conns=${5:-$CONNECTIONS} rps ok p50 p99 non2xx errors accepted usage
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
    errors=$(awk -F': ' '/Socket errors:/ {print $2}' "$out")
    # "N requests in 15.01s": the 2xx rate over the run's real length.
    ok=$(awk -v bad="${non2xx:-0}" '/ requests in / {t = $4; sub(/s,$/, "", t); printf "%.0f", ($1 - bad) / t}' "$out")
    OK[$name/$size/$conns]=$ok
    accepted=$(awk -v bad="${non2xx:-0}" '/ requests in / {print $1 - bad}' "$out")
    usage=$(per_delivery "$(sed -n 1p "$out.usage")" "$(sed -n 2p "$out.usage")" "$accepted")
    ROWS+=("| $name | $(human "$size") | $conns | $secs | $rps | **$ok** | $p50 | $p99 | ${non2xx:-0} | ${errors:-none} | $usage | $(cat "$out.steal") |")
    log "  $name $(human "$size") c=$conns: $rps req/s, $ok 2xx/s, p50 $p50 ms, p99 $p99 ms, non-2xx ${non2xx:-0}, per 2xx $usage"
}
human() {
    case $1 in 1024) echo "1 KB" ;; 65536) echo "64 KB" ;; 1048576) echo "1 MB" ;; *) echo "$1 B" ;; esac
}
# perf_true: the CPU one /bin/true start costs on this host (ms), from 200 runs.
perf_true() {
    python3 -c 'import os, resource, subprocess
for _ in range(200): subprocess.run(["/bin/true"])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.2f" % ((r.ru_utime + r.ru_stime) * 1000 / 200))'
}
ratio() { awk -v a="${OK[$1]:-0}" -v b="${OK[$2]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

command -v wrk >/dev/null || {
    log "installing wrk"
    if [[ $(id -u) == 0 ]]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi
}
for tool in curl python3 openssl; do command -v "$tool" >/dev/null || { log "needs $tool"; exit 1; }; done

if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    log "building (release)"
    cargo build --release --bin hookhub --example ceiling >&2
fi
[[ -x $HUB && -x $CEILING ]] || { log "no release build at $HUB / $CEILING"; exit 1; }

for size in 1024 $SIZES_LARGE; do make_body "$size" "$WORK/body-$size.json"; done

# --- ceilings ------------------------------------------------------------------------------
run_ceiling() { # MODE SIZE SECS [CONNS]
    local mode=$1 size=$2 secs=$3 conns=${4:-$CONNECTIONS} port pid
    port=$(free_port)
    "$CEILING" --mode "$mode" --listen "127.0.0.1:$port" --file "$WORK/ceiling-$mode-$size.log" \
        2>"$WORK/ceiling-$mode-$size.err" &
    pid=$!
    PIDS+=("$pid")
    wait_ready "http://127.0.0.1:$port/healthz" "$pid"
    load "http://127.0.0.1:$port/api/webhooks/bench" "$secs" "$WORK/body-$size.json" "$WORK/wrk-ceiling-$mode-$size-$conns.txt" "$conns" "$pid"
    row "ceiling-$mode" "$size" "$secs" "$WORK/wrk-ceiling-$mode-$size-$conns.txt" "$conns"
    stop "$pid"
    rm -f "$WORK/ceiling-$mode-$size.log"
}

# --- hookhub -------------------------------------------------------------------------------
# The forward target: a nostore ceiling's /sink, up for every hub run.
SINK_PORT=$(free_port)
"$CEILING" --mode nostore --listen "127.0.0.1:$SINK_PORT" 2>"$WORK/sink.err" &
SINK_PID=$!
PIDS+=("$SINK_PID")
wait_ready "http://127.0.0.1:$SINK_PORT/healthz" "$SINK_PID"

STARTUP_MS="" RSS_IDLE_KB="" RSS_AFTER_KB="" TOP_SNAPSHOT=""
run_hub() { # SIZE SECS [CONNS [PATH NAME]]; the 1 KB forward run at CONNECTIONS also takes the startup and RSS figures
    local size=$1 secs=$2 conns=${3:-$CONNECTIONS} path=${4:-bench} name=${5:-hookhub} port pid data t0 t1 top_pid="" main=""
    [[ $size != 1024 || $conns != "$CONNECTIONS" || $path != bench ]] || main=1
    port=$(free_port)
    data=$(mktemp -d "$WORK/hub-data-$size.XXXXXX")
    t0=$(now_ms)
    BENCH_SINK_URL="http://127.0.0.1:$SINK_PORT/sink" "$HUB" serve --config bench/hooks.bench.yaml \
        --data-dir "$data" --listen "127.0.0.1:$port" 2>"$WORK/hub-$size.err" &
    pid=$!
    PIDS+=("$pid")
    wait_ready "http://127.0.0.1:$port/healthz" "$pid"
    t1=$(now_ms)
    if [[ -n $main ]]; then
        STARTUP_MS=$((t1 - t0))
        sleep 2
        RSS_IDLE_KB=$(rss_kb "$pid")
        # A per-thread CPU snapshot halfway through the measured run (after the warm-up).
        (sleep $((WARMUP + secs / 2)) && top -H -b -n 1 -d 1 -p "$pid" >"$WORK/top-hub.txt" 2>&1) &
        top_pid=$!
    fi
    load "http://127.0.0.1:$port/api/webhooks/$path" "$secs" "$WORK/body-$size.json" "$WORK/wrk-$name-$size-$conns.txt" "$conns" "$pid"
    [[ -z $main ]] || RSS_AFTER_KB=$(rss_kb "$pid")
    row "$name" "$size" "$secs" "$WORK/wrk-$name-$size-$conns.txt" "$conns"
    if [[ -n $main ]]; then
        wait "$top_pid" || true
        TOP_SNAPSHOT=$(sed -n '7,20p' "$WORK/top-hub.txt")
        DATA_KB_1K=$(du -sk "$data" | cut -f1)
    fi
    stop "$pid"
    rm -rf "$data"
}

# --- the peer: adnanh/webhook --------------------------------------------------------------
PEER_RSS_KB="" PEER_SPAWNED=""
peer_mark() { processes_started >"$WORK/peer-mark"; }
run_peer() { # SIZE SECS
    local size=$1 secs=$2 port pid
    port=$(free_port)
    cat >"$WORK/peer-hooks.json" <<JSON
[{"id": "bench", "execute-command": "/bin/true",
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "$SECRET",
    "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}}]
JSON
    webhook -hooks "$WORK/peer-hooks.json" -ip 127.0.0.1 -port "$port" >"$WORK/peer.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    # It has no health route: an unknown hook's 404 says it listens.
    for _ in $(seq 1 500); do
        curl -s -o /dev/null "http://127.0.0.1:$port/hooks/none" && break
        sleep 0.01
    done
    # It answers before its command runs and bounds nothing, so its answers are promises:
    # what it really ran is the processes it started during the measured run.
    local p0 p1
    BEFORE_RUN=peer_mark load "http://127.0.0.1:$port/hooks/bench" "$secs" "$WORK/body-$size.json" "$WORK/wrk-peer-$size.txt" "$CONNECTIONS" "$pid"
    p1=$(processes_started)
    p0=$(cat "$WORK/peer-mark")
    PEER_SPAWNED=$(awk -v a="$p0" -v b="$p1" -v t="$secs" 'BEGIN {printf "%.0f", (b - a) / t}')
    PEER_RSS_KB=$(rss_kb "$pid")
    row adnanh-webhook "$size" "$secs" "$WORK/wrk-peer-$size.txt"
    stop "$pid"
}
# --- hookhub running /bin/true per delivery (bench-tool: execute_tool, concurrency 20) -------
# Completions, not answers: the 202s are the executions that got a place in the hook's queue
# (the rest are 503 queue_full); hookhub_executions_total{status="succeeded"} counts the runs
# that ended, each logged with its exit code.
TOOL_DONE="" TOOL_PORT=""
succeeded() {
    curl -fsS -H "Authorization: Bearer bench-admin-token" "http://127.0.0.1:$TOOL_PORT/metrics" |
        awk '/^hookhub_executions_total\{/ && /bench-tool/ && /succeeded/ {n += $NF} END {print n + 0}'
}
tool_mark() { succeeded >"$WORK/tool-mark"; }
run_tool() { # SECS
    local secs=$1 pid data
    TOOL_PORT=$(free_port)
    data=$(mktemp -d "$WORK/hub-data-tool.XXXXXX")
    BENCH_SINK_URL="http://127.0.0.1:$SINK_PORT/sink" "$HUB" serve --config bench/hooks.bench.yaml \
        --data-dir "$data" --listen "127.0.0.1:$TOOL_PORT" 2>"$WORK/hub-tool.err" &
    pid=$!
    PIDS+=("$pid")
    wait_ready "http://127.0.0.1:$TOOL_PORT/healthz" "$pid"
    BEFORE_RUN=tool_mark load "http://127.0.0.1:$TOOL_PORT/api/webhooks/bench-tool" "$secs" "$WORK/body-1024.json" "$WORK/wrk-tool.txt" "$CONNECTIONS" "$pid"
    TOOL_DONE=$(awk -v a="$(cat "$WORK/tool-mark")" -v b="$(succeeded)" -v t="$secs" 'BEGIN {printf "%.0f", (b - a) / t}')
    row hookhub-tool 1024 "$secs" "$WORK/wrk-tool.txt"
    log "  hookhub-tool: $TOOL_DONE /bin/true runs completed per second"
    stop "$pid"
    rm -rf "$data"
}

command -v webhook >/dev/null || {
    log "installing webhook (adnanh/webhook, Debian's package)"
    if [[ $(id -u) == 0 ]]; then apt-get install -y -qq webhook; else sudo apt-get install -y -qq webhook; fi
}

log "1 KB bodies, $CONNECTIONS connections, ${WARMUP}s warm-up + ${DURATION}s"
run_ceiling nostore 1024 "$DURATION"
run_ceiling durable 1024 "$DURATION"
run_peer 1024 "$DURATION"
run_hub 1024 "$DURATION" "$CONNECTIONS" bench-ingest hookhub-ingest
run_hub 1024 "$DURATION"
run_tool "$DURATION"
for size in $SIZES_LARGE; do
    log "$(human "$size") bodies, ${WARMUP}s warm-up + ${LARGE_DURATION}s"
    run_ceiling durable "$size" "$LARGE_DURATION"
    run_hub "$size" "$LARGE_DURATION" "$CONNECTIONS" bench-ingest hookhub-ingest
    run_hub "$size" "$LARGE_DURATION"
done
if [[ -n $LOW_CONNECTIONS ]]; then
    log "1 KB bodies, $LOW_CONNECTIONS connections (below the hub's queue cap), ${WARMUP}s warm-up + ${LARGE_DURATION}s"
    run_ceiling durable 1024 "$LARGE_DURATION" "$LOW_CONNECTIONS"
    run_hub 1024 "$LARGE_DURATION" "$LOW_CONNECTIONS"
fi
stop "$SINK_PID"

# --- report --------------------------------------------------------------------------------
BIN_BYTES=$(stat -c %s "$HUB")
{
    echo "# hookhub benchmark, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
    echo
    echo "- machine: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
    echo "- data dir filesystem: $(df -T "$WORK" | awk 'NR == 2 {print $2 " (" $1 ", mounted on " $7 ")"}')"
    echo "- load: wrk $THREADS threads, $CONNECTIONS connections, ${WARMUP}s warm-up per run, loopback, same cores as the servers"
    echo
    echo "| server | body | conns | secs | req/s (all answers) | 2xx/s | p50 ms | p99 ms | non-2xx | socket errors | server per 2xx: user µs / sys µs / KB written | steal % |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Ratios of 2xx/s at $CONNECTIONS connections$([[ -z $LOW_CONNECTIONS ]] || echo " (last column: 1 KB at $LOW_CONNECTIONS)"):"
    echo
    echo "| ratio | 1 KB |$(for s in $SIZES_LARGE; do printf ' %s |' "$(human "$s")"; done)$([[ -z $LOW_CONNECTIONS ]] || echo " 1 KB, c=$LOW_CONNECTIONS |")"
    echo "|---|---|$(for _ in $SIZES_LARGE; do printf -- '---|'; done)$([[ -z $LOW_CONNECTIONS ]] || echo "---|")"
    echo "| hookhub-ingest / ceiling-durable | $(ratio "hookhub-ingest/1024/$CONNECTIONS" "ceiling-durable/1024/$CONNECTIONS") |$(for s in $SIZES_LARGE; do printf ' %s |' "$(ratio "hookhub-ingest/$s/$CONNECTIONS" "ceiling-durable/$s/$CONNECTIONS")"; done)$([[ -z $LOW_CONNECTIONS ]] || echo " – |")"
    echo "| hookhub / ceiling-durable | $(ratio "hookhub/1024/$CONNECTIONS" "ceiling-durable/1024/$CONNECTIONS") |$(for s in $SIZES_LARGE; do printf ' %s |' "$(ratio "hookhub/$s/$CONNECTIONS" "ceiling-durable/$s/$CONNECTIONS")"; done)$([[ -z $LOW_CONNECTIONS ]] || echo " $(ratio "hookhub/1024/$LOW_CONNECTIONS" "ceiling-durable/1024/$LOW_CONNECTIONS") |")"
    echo "| hookhub / ceiling-nostore | $(ratio "hookhub/1024/$CONNECTIONS" "ceiling-nostore/1024/$CONNECTIONS") |$(for _ in $SIZES_LARGE; do printf ' – |'; done)$([[ -z $LOW_CONNECTIONS ]] || echo " – |")"
    echo "| hookhub-ingest / adnanh-webhook | $(ratio "hookhub-ingest/1024/$CONNECTIONS" "adnanh-webhook/1024/$CONNECTIONS") |$(for _ in $SIZES_LARGE; do printf ' – |'; done)$([[ -z $LOW_CONNECTIONS ]] || echo " – |")"
    echo
    echo "/bin/true per delivery, 1 KB, $CONNECTIONS connections: hookhub completed $TOOL_DONE runs/s (each logged with its exit code); adnanh-webhook acknowledged ${OK[adnanh-webhook/1024/$CONNECTIONS]}/s and started $PEER_SPAWNED processes/s (its runs; /proc/stat). One /bin/true here: $(perf_true) ms of CPU."
    echo
    echo "- hub startup to first /healthz answer: ${STARTUP_MS} ms (fresh data dir; 5 ms polling)"
    echo "- hub RSS idle (2 s after ready): $((RSS_IDLE_KB / 1024)) MiB ($RSS_IDLE_KB kB)"
    echo "- hub RSS right after the 1 KB run: $((RSS_AFTER_KB / 1024)) MiB ($RSS_AFTER_KB kB); adnanh/webhook's after its 1 KB run: $((PEER_RSS_KB / 1024)) MiB"
    echo "- hub data dir after the 1 KB run: $((DATA_KB_1K / 1024)) MiB"
    echo "- release binary (stripped by the release profile): $BIN_BYTES bytes ($(awk -v b="$BIN_BYTES" 'BEGIN {printf "%.1f", b / 1048576}') MiB); $(file -b "$HUB" 2>/dev/null | grep -o 'not stripped\|stripped' || echo '?')"
    echo
    echo "Hub threads halfway through the 1 KB run (top -H):"
    echo
    echo '```'
    echo "$TOP_SNAPSHOT"
    echo '```'
} | tee "$RESULTS/latest.md"
