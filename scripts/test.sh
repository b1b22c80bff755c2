#!/usr/bin/env bash
# Runs every test of hookhub: unit tests, integration tests that start the real hub on
# 127.0.0.1:0 with local doubles, and the CLI tests against the built binary.
# Installs what the tests need; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --all-targets --locked
