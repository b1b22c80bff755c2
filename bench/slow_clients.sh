#!/usr/bin/env bash
# 2,000 slow or idle connections from one address, then 2,000 through a trusted proxy with
# distinct client addresses, against the release hub, while a signed sender keeps delivering
# (bench/slow_clients.py says how). Prints the phases' lines and the hub's peak RSS.
# Knobs: COUNT=2000 SECONDS=40 HUB=<a hookhub binary> BENCH_NO_BUILD=1
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HUB=${HUB:-$ROOT/target/release/hookhub}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hookhub-slow.XXXXXX")
trap 'kill "$HUB_PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    cargo build --release --bin hookhub >&2
fi
# The attack and the sender run from this shell: give them the file descriptors they need.
ulimit -n "$(ulimit -Hn)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s|^server:|server:\n  trustedProxies: [127.0.0.3/32]|" bench/hooks.bench.yaml > "$WORK/hooks.yaml"
"$HUB" serve --config "$WORK/hooks.yaml" --data-dir "$WORK/data" --listen "127.0.0.1:$port" \
    2>"$WORK/hub.err" &
HUB_PID=$!
until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null; do
    kill -0 "$HUB_PID" || { cat "$WORK/hub.err" >&2; exit 1; }
    sleep 0.05
done
peak=0
( while kill -0 "$HUB_PID" 2>/dev/null; do
      awk '/^VmHWM:/ {print $2}' "/proc/$HUB_PID/status" > "$WORK/peak" 2>/dev/null || true
      sleep 1
  done ) &
status=0
python3 bench/slow_clients.py --port "$port" --count "${COUNT:-2000}" --seconds "${SECONDS_EACH:-40}" || status=$?
peak=$(cat "$WORK/peak" 2>/dev/null || echo 0)
echo "hub peak RSS: $((peak / 1024)) MiB; connections refused: $(curl -fsS -H 'Authorization: Bearer bench-admin-token' "http://127.0.0.1:$port/metrics" | awk '/^hookhub_connections_refused_total/ {print $2}')"
exit "$status"
