#!/usr/bin/env bash
# Where the hub's CPU goes at saturation, sampled by perf. bench/instructions.sh counts one
# delivery at a time under callgrind, exactly and repeatably, but it cannot see what only
# saturation brings: cache lines moving between the cores (shared locks, reference counts),
# misses in structures that are large only under load, and the background threads' batches
# at their real sizes. This samples the release
# hub's threads on the CPU clock (the VMs here have no hardware counters) while wrk saturates
# the ingest-only hook as bench/pairs.sh does, and prints each thread's share, user against
# kernel, and the symbols above PERCENT of the hub's samples.
# Samples are taken on timer interrupts, so within a function they land a little after the
# instruction that was running: read a function's share, not its hot lines.
# Knobs: HUB=<a binary with symbols> (else builds one into target/sym) DURATION=8 SECONDS_SAMPLED=5
#        CONNECTIONS=32 PERCENT=0.4 FREQ=1999
# Output: a Markdown report on stdout; the raw samples in bench/results/perf.data (perf report).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
SECONDS_SAMPLED=${SECONDS_SAMPLED:-5}
CONNECTIONS=${CONNECTIONS:-32}
PERCENT=${PERCENT:-0.4}
FREQ=${FREQ:-1999}
RESULTS=$PWD/bench/results
mkdir -p "$RESULTS"
source bench/lib.sh
work_dir hookhub-profile

command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [[ -z ${HUB:-} ]]; then
    # Same code and optimisation as the release binary, with the symbols perf names.
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        cargo build --release --bin hookhub --target-dir target/sym >&2
    HUB=$PWD/target/sym/release/hookhub
fi

small_body "$WORK/body.json"
SIGNATURE=$(bench_signature "$WORK/body.json")
PORT=$(free_port)
mkdir -p "$WORK/data"
"$HUB" serve --config bench/hooks.bench.yaml --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
    >"$WORK/hub.out" 2>"$WORK/hub.err" &
PID=$!
wait_healthy "$PORT" "$PID" "$WORK/hub.err"

log "saturating for $DURATION s, sampling $SECONDS_SAMPLED s of it"
BENCH_BODY_FILE="$WORK/body.json" BENCH_SIGNATURE="$SIGNATURE" \
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/post.lua \
    "http://127.0.0.1:$PORT/api/webhooks/bench-ingest" >"$WORK/wrk.txt" &
WRK=$!
# Sampled from the middle of the run: after the warm-up, before wrk winds down.
sleep $(((DURATION - SECONDS_SAMPLED) / 2))
perf record -F "$FREQ" -e cpu-clock -p "$PID" -o "$RESULTS/perf.data" -- sleep "$SECONDS_SAMPLED" \
    >/dev/null 2>&1
wait "$WRK"

rate=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
# report ARGS...: perf's table without its comments, as "share|column|column".
report() {
    perf report -i "$RESULTS/perf.data" --no-children -g none --stdio --field-separator='|' "$@" \
        2>/dev/null | grep -v '^#' | grep -v '^$' | sed 's/^ *//; s/ *|/|/g; s/| */|/g'
}
echo "# Where the hub's CPU goes at saturation, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
echo
echo "- wrk: $CONNECTIONS connections, 1 KB GitHub-signed body, ingest-only hook: $rate deliveries/s, p99 $p99"
echo "- $SECONDS_SAMPLED s sampled at $FREQ Hz on the CPU clock"
echo
echo "| share of the hub's samples | thread | where |"
echo "|---|---|---|"
report --sort comm,dso | awk -F'|' '{
    where = ($3 ~ /kernel/) ? "kernel" : "user"
    share[$2 "|" where] += $1
} END { for (k in share) { split(k, p, "|"); printf "| %.1f%% | %s | %s |\n", share[k], p[1], p[2] } }' |
    sort -t'|' -k2 -rn
echo
echo "| share | thread | symbol |"
echo "|---|---|---|"
report --sort comm,sym --percent-limit "$PERCENT" |
    awk -F'|' '{ sub(/^\[.\] /, "", $3); printf "| %s | %s | `%s` |\n", $1, $2, substr($3, 1, 110) }'
