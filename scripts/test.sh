#!/usr/bin/env bash
# Runs every test of hookhub: unit tests, integration tests that start the real hub on
# 127.0.0.1:0 with local doubles, the CLI tests against the built binary, and the web UI in
# real headless Chromium against the built binary.
# Installs what the tests need; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

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
