#!/usr/bin/env bash
# Runs every test of the project: installs missing test dependencies (install/dev-deps.sh),
# checks formatting and lints, then the whole cargo test suite (unit, integration, browser,
# real Claude Code end to end, fault tests, bounded fuzzing).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash install/dev-deps.sh
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo build (binaries used by the end-to-end tests)"
cargo build --workspace --bins
echo "==> cargo test"
cargo test --workspace --no-fail-fast -- --test-threads=2
