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
echo "==> cargo test (the embedded SQLite store)"
status=0
cargo test --workspace --no-fail-fast -- --test-threads=2 || status=$?
# Every server integration test again, on PostgreSQL (team mode): one throwaway cluster
# (initdb as an unprivileged user, a random port), a fresh database per test server.
echo "==> server integration tests on PostgreSQL"
pg_parent="$(mktemp -d "${TMPDIR:-/tmp}/maestro-ci-pg.XXXXXX")"
chmod 755 "$pg_parent"
pg_dir="$pg_parent/cluster"
cargo build -q -p maestro-testpg --bin testpg
testpg="${CARGO_TARGET_DIR:-target}/debug/testpg"
pg_url="$("$testpg" start --dir "$pg_dir")"
trap '"$testpg" stop --dir "$pg_dir" || true; rm -rf "$pg_parent"' EXIT
MAESTRO_TEST_STORE=postgres MAESTRO_TEST_PG_URL="$pg_url" \
    cargo test -p maestro-tests --no-fail-fast -- --test-threads=2 || status=$?
exit "$status"
