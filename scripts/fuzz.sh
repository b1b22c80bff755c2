#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each one for N seconds (default 30), one
# after the other. Not part of the test command: CI has no time for it.
#
#   bash scripts/fuzz.sh            # every target, 30 s each
#   bash scripts/fuzz.sh 300        # every target, 5 min each
#   bash scripts/fuzz.sh 60 payload_parse template_render
#
# Each run starts from the committed seeds in fuzz/corpus/<target>/ and keeps what it grows in
# fuzz/work/<target>/ (ignored by git). A crash stops the script; the input that caused it is
# in fuzz/artifacts/<target>/ — replay it with `cargo fuzz run <target> <file>`.
#
# cargo-fuzz needs nightly flags; on a stable toolchain RUSTC_BOOTSTRAP=1 lets rustc accept
# them. FUZZ_TARGET_DIR moves the (large) build out of the tree.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(config_load verify_schemes payload_parse template_render)
fi

if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# No sanitizer: hookhub forbids unsafe code, so ASan would only slow the search down; panics,
# overflows (debug assertions are on), stack overflows and hangs are caught without it.
flags=(--sanitizer none --codegen-units 16 --target-dir "${FUZZ_TARGET_DIR:-fuzz/target}")

cargo fuzz build "${flags[@]}"
for target in "${targets[@]}"; do
  mkdir -p "fuzz/work/$target"
  echo "== $target for ${seconds}s"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds runaway memory.
  cargo fuzz run "${flags[@]}" "$target" "fuzz/work/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
