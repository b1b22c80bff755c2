#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of the PostgreSQL store and of several hubs on one
# database.
#
#   scripts/pg.sh start DIR [--watch PID]   prints postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/pg.sh stop DIR                  stops the cluster and deletes DIR
#
# `start` installs Debian's `postgresql` package when no initdb is found under
# /usr/lib/postgresql/*/bin, makes a cluster in DIR (which must be absent or empty; the cluster
# is DIR/data, its socket DIR itself, its log DIR/server.log), and starts it on 127.0.0.1 on a
# free port with fsync on (the tests measure durable commits), trust authentication for
# loopback and the socket only. initdb and the server refuse to run as root: as root they run
# as the `postgres` system user, which then owns DIR. With `--watch PID` a detached watcher stops
# the cluster (`pg_ctl stop -m immediate`) and deletes DIR once PID has exited, so a test run
# that is killed leaves nothing running. Quiet on success: only the URL on stdout.
set -euo pipefail

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

usage() {
    die "usage: scripts/pg.sh start DIR [--watch PID] | scripts/pg.sh stop DIR"
}

# Written into DIR by `start`; `stop` and the watcher delete only a DIR that has it.
readonly MARKER=".hookhub-pg"

# The newest PostgreSQL's bin directory, or nothing.
find_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    fi
}

install_postgres() {
    [[ $(id -u) == 0 ]] || die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and installing it needs root: apt-get install postgresql"
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and there is no apt-get to install it with"
    local log
    log=$(mktemp)
    if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "could not install Debian's postgresql package (apt-get's output above)"
    fi
    rm -f "$log"
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [[ $(id -u) == 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# A port below Linux's ephemeral range (32768-60999), so that the ports tests take with
# 127.0.0.1:0 never meet it; the start is retried when the port is taken.
random_port() {
    echo $((15000 + (RANDOM * 32768 + RANDOM) % 17000))
}

start() {
    local dir=$1 watch=${2:-}
    [[ -z "$watch" || "$watch" =~ ^[0-9]+$ ]] || die "--watch takes a process id, not '$watch'"
    local bin
    bin=$(find_bin)
    if [[ -z "$bin" ]]; then
        install_postgres
        bin=$(find_bin)
        [[ -n "$bin" ]] || die "installed postgresql, but found no /usr/lib/postgresql/*/bin/initdb"
    fi

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [[ -z $(ls -A "$dir") ]] || die "$dir is not empty; give start a new or empty directory"
    if [[ $(id -u) == 0 ]]; then
        id -u postgres >/dev/null 2>&1 || die "there is no 'postgres' system user to run the server as (it comes with Debian's postgresql package)"
        chown postgres: "$dir"
        as_owner test -w "$dir" || die "the postgres user cannot reach $dir: every directory above it must be searchable by others"
    fi
    chmod 700 "$dir"
    as_owner touch "$dir/$MARKER"

    if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        die "initdb failed in $dir/data (its output above)"
    fi
    # Trust, but only for the socket (in DIR, which only its owner can enter) and loopback.
    as_owner tee "$dir/data/pg_hba.conf" >/dev/null <<EOF
local all all trust
host  all all 127.0.0.1/32 trust
EOF
    as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
max_connections = 200
logging_collector = off
EOF

    local port attempt
    for attempt in 1 2 3 4 5; do
        port=$(random_port)
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start \
            >"$dir/pg_ctl.log" 2>&1; then
            break
        fi
        if ! grep -q "could not bind\|Address already in use\|could not create any TCP/IP sockets" "$dir/server.log" 2>/dev/null; then
            cat "$dir/pg_ctl.log" "$dir/server.log" >&2 2>/dev/null || true
            die "the server in $dir/data did not start (pg_ctl's output and the server log above)"
        fi
        [[ $attempt -lt 5 ]] || die "found no free port for the server in 5 tries"
    done
    as_owner "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 ||
        die "the server in $dir/data started but does not answer on 127.0.0.1:$port"
    echo "$port" >"$dir/port"

    if [[ -n "$watch" ]]; then
        # Detached, with every descriptor closed, so whoever reads our stdout sees its end now.
        setsid bash -c '
            pid=$1 dir=$2 bin=$3 marker=$4
            alive() {
                [[ -r /proc/$pid/stat ]] || return 1
                local state
                state=$(sed "s/.*) //" "/proc/$pid/stat" | cut -d" " -f1)
                [[ $state != Z ]]
            }
            while alive; do sleep 1; done
            if [[ -f $dir/$marker ]]; then
                if [[ $(id -u) == 0 ]]; then
                    (cd / && runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" stop -m immediate)
                else
                    "$bin/pg_ctl" -D "$dir/data" stop -m immediate
                fi
                rm -rf "$dir"
            fi
        ' pg-watch "$watch" "$dir" "$bin" "$MARKER" </dev/null >/dev/null 2>&1 &
    fi
    echo "postgres://postgres@127.0.0.1:$port/postgres"
}

stop() {
    local dir=$1
    [[ -d "$dir" ]] || die "$dir does not exist"
    [[ -f "$dir/$MARKER" ]] || die "$dir is not a cluster made by scripts/pg.sh start"
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        local bin
        bin=$(find_bin)
        [[ -n "$bin" ]] || die "found no /usr/lib/postgresql/*/bin/pg_ctl to stop $dir/data with"
        # A server that is already gone (killed, crashed) leaves its pid file behind.
        as_owner "$bin/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 ||
            ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 ||
            die "pg_ctl could not stop the server in $dir/data"
    fi
    rm -rf "$dir"
}

[[ $# -ge 2 ]] || usage
case "$1" in
start)
    case "$#:${3:-}" in
    2:) start "$2" ;;
    4:--watch) start "$2" "$4" ;;
    *) usage ;;
    esac
    ;;
stop)
    [[ $# == 2 ]] || usage
    stop "$2"
    ;;
*) usage ;;
esac
