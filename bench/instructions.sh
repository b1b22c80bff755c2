#!/usr/bin/env bash
# Instructions per delivery, counted by callgrind: repeatable where wall-clock pairs on a noisy
# VM are not (a change of a few per cent disappears in the host's spread). The release hub runs
# under `valgrind --tool=callgrind` on bench/hooks.bench.yaml; after WARM deliveries the counters
# are zeroed, then N sequential 1 KB GitHub-signed deliveries go to the ingest-only hook on one
# keep-alive connection, and the counts are dumped. Prints the whole process's instructions per
# delivery and the hub's own functions (inclusive) above 1,000 a delivery.
# Under valgrind sha2 takes its portable path, so HMAC reads ~70,000 instructions a delivery
# that SHA-NI does in a few thousand: compare runs with each other, not with the CPU's clock.
# Knobs: N=2000 WARM=300 BODY_BYTES=1024 BENCH_NO_BUILD=1 (else builds the release binary with symbols)
# HUB=<another binary> (with BENCH_NO_BUILD=1: compare two builds)
# Output: stdout, and the raw profile in bench/results/callgrind.out (callgrind_annotate reads it).
set -euo pipefail

cd "$(dirname "$0")/.."
N=${N:-2000}
BODY_BYTES=${BODY_BYTES:-1024}
WARM=${WARM:-300}
HUB=${HUB:-$PWD/target/release/hookhub}
RESULTS=$PWD/bench/results
mkdir -p "$RESULTS"
source bench/lib.sh
work_dir hookhub-instructions

command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    # Same code and optimisation as the release binary, with the symbols callgrind names.
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        cargo build --release --bin hookhub >&2
fi

PORT=$(free_port)
mkdir -p "$WORK/data"
valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$WORK/callgrind.out" \
    "$HUB" serve --config bench/hooks.bench.yaml --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
    >"$WORK/hub.out" 2>"$WORK/hub.err" &
PID=$!
wait_healthy "$PORT" "$PID" "$WORK/hub.err"

# deliver COUNT: COUNT sequential signed deliveries on one connection, each answered 202.
deliver() {
    python3 - "$PORT" "$1" "$BODY_BYTES" <<'PY'
import hashlib, hmac, http.client, json, sys
port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
doc = {"ref": "refs/heads/main", "repository": {"full_name": "bench/hookhub"}, "padding": ""}
doc["padding"] = "x" * (size - len(json.dumps(doc, separators=(",", ":"))))
body = json.dumps(doc, separators=(",", ":")).encode()
signature = "sha256=" + hmac.new(b"bench-secret", body, hashlib.sha256).hexdigest()
headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
           "X-Hub-Signature-256": signature}
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for _ in range(count):
    connection.request("POST", "/api/webhooks/bench-ingest", body, headers)
    answer = connection.getresponse()
    answer.read()
    if answer.status != 202:
        sys.exit(f"delivery answered {answer.status}")
PY
}

log "warming up: $WARM deliveries under callgrind"
deliver "$WARM"
callgrind_control -z "$PID" >/dev/null
log "counting: $N deliveries"
deliver "$N"
callgrind_control -d "$PID" >/dev/null
# The dump is written by the hub's own thread a moment later.
for _ in $(seq 50); do
    [[ -s $WORK/callgrind.out.1 ]] && break
    sleep 0.1
done
kill "$PID"
wait "$PID" 2>/dev/null || true
PID=""
cp "$WORK/callgrind.out.1" "$RESULTS/callgrind.out"

total=$(callgrind_annotate "$RESULTS/callgrind.out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "# hookhub instructions per delivery, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
echo
echo "- $N sequential $BODY_BYTES-byte deliveries to the ingest-only hook, after $WARM to warm up"
echo "- whole process: $((total / N)) instructions per delivery"
echo
echo "| per delivery (inclusive) | function |"
echo "|---|---|"
# Entries name the source file of the line counted (inlined code names its own file), as
# `src/…` or `$PWD/src/…`: the hub's files are those.
callgrind_annotate --inclusive=yes --tree=none --threshold=100 --auto=no "$RESULTS/callgrind.out" |
    grep -E '^ *[0-9,]+ ' | sed "s|$PWD/src/|src/|" |
    awk -v n="$N" '{
        count = $1; gsub(",", "", count)
        name = $0; sub(/^.*%\) +/, "", name); sub(/ \[.*$/, "", name)
        if (name !~ /^src\// || count / n < 1000 || seen[name]++) next
        printf "| %d | `%s` |\n", count / n, substr(name, 5)
    }'
