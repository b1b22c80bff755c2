#!/usr/bin/env bash
# Runs every test of hookhub: unit tests, integration tests that start the real hub on
# 127.0.0.1:0 with local doubles (and a real PostgreSQL, scripts/pg.sh), the CLI tests against
# the built binary, and the web UI in real headless Chromium against the built binary.
# Installs what the tests need; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# One throwaway PostgreSQL cluster for the whole run (the PostgreSQL store's tests and the tests
# with two hubs on one database; each test makes its own database on it). Stopped and deleted at
# the end, and by its watcher should this script be killed.
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/hookhub-pg.XXXXXX")
trap 'rm -rf "$pg_dir"' EXIT
HOOKHUB_TEST_DATABASE_URL=$(scripts/pg.sh start "$pg_dir" --watch $$)
export HOOKHUB_TEST_DATABASE_URL
trap 'scripts/pg.sh stop "$pg_dir"' EXIT

cargo test --all-targets --locked

# The browser tests: Debian's chromium, playwright-core from the lock file (it never downloads
# a browser of its own), and the debug binary the tests start.
command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
npm ci --prefix tests/browser --no-audit --no-fund
cargo build --locked --bin hookhub
target_dir="${CARGO_TARGET_DIR:-target}"
export HOOKHUB_BIN="$(cd "$target_dir" && pwd)/debug/hookhub"
# The harness kills the hub it started when a test fails or times out; `timeout` bounds the run.
(cd tests/browser && timeout 900 node --test --test-concurrency=1 ./*.test.mjs)
