# Helpers the bench scripts share; sourced (`source bench/lib.sh`) from the repository root.

log() { printf '%s\n' "$*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_healthy PORT PID ERR_FILE: waits for the hub on 127.0.0.1:PORT to answer /healthz; exits
# the script with ERR_FILE's last lines if process PID dies first.
wait_healthy() {
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/healthz" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || { echo "the hub died: $(tail -n 5 "$3")" >&2; exit 1; }
        sleep 0.1
    done
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# cpu_times: the machine's total and steal jiffies (/proc/stat), "TOTAL STEAL".
cpu_times() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9}' /proc/stat; }
# steal_pct "TOTAL STEAL" "TOTAL STEAL": the host's steal time between two cpu_times readings,
# in percent.
steal_pct() {
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        d = y[1] - x[1]; printf "%.1f", (d > 0 ? 100 * (y[2] - x[2]) / d : 0) }'
}

# process_usage PID: "USER SYS WRITTEN" for a process: its CPU in jiffies, user and system,
# its threads' and its waited-for children's (/proc/PID/stat fields 14-17), and the bytes it
# caused to be written to storage (/proc/PID/io write_bytes; page-cache writes count when made).
process_usage() {
    local cpu written
    cpu=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $14, $13 + $15}')
    written=$(awk '/^write_bytes:/ {print $2}' "/proc/$1/io" 2>/dev/null || echo 0)
    echo "$cpu ${written:-0}"
}
# per_delivery "USAGE" "USAGE" COUNT: what a process spent between two process_usage readings
# for each of COUNT deliveries: "user µs, sys µs, KB written".
per_delivery() {
    awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { split(a, x, " "); split(b, y, " ");
        if (n <= 0) { print "n/a"; exit }
        printf "%.1f / %.1f / %.2f", (y[1] - x[1]) * 1e6 / hz / n, (y[2] - x[2]) * 1e6 / hz / n, (y[3] - x[3]) / 1024 / n }'
}

# work_dir NAME: sets WORK to a new directory under $TMPDIR and PID to "", and on exit stops the
# process in $PID (when set) and removes WORK. For scripts that run one process at a time.
work_dir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    PID=""
    trap stop_and_clean EXIT
    trap 'exit 130' INT TERM
}
stop_and_clean() {
    [[ -z $PID ]] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    rm -rf "$WORK"
}

# small_body FILE: the 1 KB GitHub-push-like JSON body bench/soak.sh and bench/pairs.sh send.
small_body() {
    python3 - "$1" <<'PY'
import json, sys
doc = {"ref": "refs/heads/main", "repository": {"full_name": "bench/hookhub"}, "padding": ""}
doc["padding"] = "x" * (1024 - len(json.dumps(doc, separators=(",", ":"))))
open(sys.argv[1], "w").write(json.dumps(doc, separators=(",", ":")))
PY
}
# bench_signature FILE: FILE's X-Hub-Signature-256 under bench/hooks.bench.yaml's secret.
bench_signature() { echo "sha256=$(openssl dgst -sha256 -hmac bench-secret -r "$1" | cut -d' ' -f1)"; }
