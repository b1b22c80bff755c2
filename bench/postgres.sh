#!/usr/bin/env bash
# Ingest on PostgreSQL beside sled and the durable ceiling, in one run (issue 22):
#   ceiling-durable   verify, append to a file, 202 after a shared fdatasync (examples/ceiling.rs)
#   sled              the release hub on its default store
#   postgres-1        the same hub with `store: { backend: postgres }` on a local cluster
#   postgres-2        two such hubs on one database, wrk split between them
# Each on the ingest-only hook of bench/hooks.bench.yaml (verify, parse, durable execution,
# 202). The cluster is scripts/pg.sh's (fsync on, synchronous_commit on, on the same disk as
# the other runs). Run by hand: bench/postgres.sh. Results: stdout and bench/results/postgres.md.
# Knobs: CONNECTIONS=32 THREADS=2 WARMUP=3 DURATION=10 BENCH_NO_BUILD=1 SIZE=1024
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-10}
SIZE=${SIZE:-1024}
SECRET=bench-secret
HUB=$ROOT/target/release/hookhub
CEILING=$ROOT/target/release/examples/ceiling
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hookhub-pgbench.XXXXXX")
# The cluster runs as the postgres user, which must be able to reach its directory.
chmod 711 "$WORK"

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    bash scripts/pg.sh stop "$WORK/pg" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source bench/lib.sh
wait_ready() { # URL PID
    for _ in $(seq 1 3000); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { log "server $2 died before $1 answered"; return 1; }
        sleep 0.01
    done
    log "timed out waiting for $1"
    return 1
}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    cargo build --release --bin hookhub --example ceiling >&2
fi

python3 - "$SIZE" "$WORK/body.json" <<'PY'
import json, sys
size, path = int(sys.argv[1]), sys.argv[2]
doc = {"ref": "refs/heads/main", "repository": {"full_name": "bench/hookhub"}, "padding": ""}
doc["padding"] = "x" * (size - len(json.dumps(doc, separators=(",", ":"))))
open(path, "w").write(json.dumps(doc, separators=(",", ":")))
PY
SIG="sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r "$WORK/body.json" | cut -d' ' -f1)"

# wrk_run OUT SECS CONNS URL: one wrk process; prints nothing.
wrk_run() {
    BENCH_BODY_FILE=$WORK/body.json BENCH_SIGNATURE=$SIG \
        wrk -t"$THREADS" -c"$3" -d"$2s" --timeout 10s --latency -s bench/post.lua "$4" >"$1"
}
# ok_rate FILE: 2xx answers per second.
ok_rate() {
    local bad
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$1")
    awk -v bad="${bad:-0}" '/ requests in / {t = $4; sub(/s,$/, "", t); printf "%.0f", ($1 - bad) / t}' "$1"
}
p99() { awk '$1 == "99%" {print $2}' "$1"; }

ROWS=()
declare -A RATE
# measure NAME URL...: warm-up, then DURATION seconds split over the URLs (connections too).
measure() {
    local name=$1 n total=0 i=0 pids=() url
    shift
    n=$#
    for url in "$@"; do
        BENCH_BODY_FILE=$WORK/body.json BENCH_SIGNATURE=$SIG \
            wrk -t1 -c$((CONNECTIONS / n)) -d"${WARMUP}s" -s bench/post.lua "$url" >/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}"
    pids=()
    for url in "$@"; do
        wrk_run "$WORK/wrk-$name-$i.txt" "$DURATION" $((CONNECTIONS / n)) "$url" &
        pids+=($!)
        i=$((i + 1))
    done
    wait "${pids[@]}"
    local p99s=""
    for ((i = 0; i < n; i++)); do
        if [[ $(ok_rate "$WORK/wrk-$name-$i.txt") == 0 ]]; then
            log "no 2xx from $name ($i): $(cat "$WORK/wrk-$name-$i.txt")"
            tail -n 5 "$WORK"/*.err >&2 || true
        fi
        total=$((total + $(ok_rate "$WORK/wrk-$name-$i.txt")))
        p99s+="$(p99 "$WORK/wrk-$name-$i.txt") "
    done
    RATE[$name]=$total
    ROWS+=("| $name | $total | ${p99s% } |")
    log "  $name: $total 2xx/s, p99 ${p99s% }"
}

# The durable ceiling.
port=$(free_port)
"$CEILING" --mode durable --listen "127.0.0.1:$port" --file "$WORK/ceiling.log" 2>/dev/null &
pid=$!
PIDS+=("$pid")
wait_ready "http://127.0.0.1:$port/healthz" "$pid"
measure ceiling-durable "http://127.0.0.1:$port/api/webhooks/bench"
kill "$pid"

# start_hub NAME CONFIG: a release hub; prints its port.
start_hub() {
    local port
    port=$(free_port)
    mkdir -p "$WORK/$1"
    [[ ! -f $WORK/secret.key ]] || { install -m 600 "$WORK/secret.key" "$WORK/$1/secret.key"; chmod 700 "$WORK/$1"; }
    "$HUB" serve --config "$2" --data-dir "$WORK/$1" --listen "127.0.0.1:$port" >"$WORK/$1.out" 2>"$WORK/$1.err" &
    PIDS+=("$!")
    wait_ready "http://127.0.0.1:$port/healthz" "$!" >&2
    [[ -f $WORK/secret.key ]] || cp "$WORK/$1/secret.key" "$WORK/secret.key"
    echo "$port $!"
}

# sled.
read -r port pid < <(start_hub sled bench/hooks.bench.yaml)
measure sled "http://127.0.0.1:$port/api/webhooks/bench-ingest"
SLED_RSS=$(rss_kb "$pid")
kill "$pid"
rm -f "$WORK/secret.key"

# PostgreSQL: one hub, then two on a fresh database.
SERVER=$(bash scripts/pg.sh start "$WORK/pg" --watch $$)
database() { # NAME: a fresh database's URL
    psql "$SERVER" -qc "CREATE DATABASE $1" >/dev/null
    echo "${SERVER%/*}/$1"
}
pg_config() { # URL FILE
    { cat bench/hooks.bench.yaml; printf 'store: { backend: postgres, url: "%s" }\n' "$1"; } >"$2"
}
pg_config "$(database bench1)" "$WORK/pg1.yaml"
read -r port pid < <(start_hub pg1 "$WORK/pg1.yaml")
measure postgres-1 "http://127.0.0.1:$port/api/webhooks/bench-ingest"
PG_RSS=$(rss_kb "$pid")
kill "$pid"
rm -f "$WORK/secret.key"
pg_config "$(database bench2)" "$WORK/pg2.yaml"
read -r port_a pid_a < <(start_hub pg2a "$WORK/pg2.yaml")
read -r port_b pid_b < <(start_hub pg2b "$WORK/pg2.yaml")
measure postgres-2 "http://127.0.0.1:$port_a/api/webhooks/bench-ingest" "http://127.0.0.1:$port_b/api/webhooks/bench-ingest"
kill "$pid_a" "$pid_b"

ratio() { awk -v a="${RATE[$1]}" -v b="${RATE[$2]}" 'BEGIN { printf "%.2f", a / b }'; }
{
    echo "# hookhub on PostgreSQL, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
    echo
    echo "- machine: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); PostgreSQL $(psql "$SERVER" -Atc 'SHOW server_version') on the same machine and disk"
    echo "- load: wrk, $CONNECTIONS connections in all (split between hubs), ${WARMUP}s warm-up + ${DURATION}s, $SIZE-byte GitHub-signed body, ingest-only hook"
    echo
    echo "| server | 2xx/s | p99 (per wrk) |"
    echo "|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "- sled / ceiling-durable: $(ratio sled ceiling-durable); postgres-1 / sled: $(ratio postgres-1 sled); postgres-2 / postgres-1: $(ratio postgres-2 postgres-1)"
    echo "- RSS after the run: sled hub $((SLED_RSS / 1024)) MiB, PostgreSQL hub $((PG_RSS / 1024)) MiB (the PostgreSQL server's own memory not counted)"
} | tee "$RESULTS/postgres.md"
