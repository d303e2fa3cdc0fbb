#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, skipping what is there:
# Chromium + ChromeDriver (browser tests), Node.js + npm and the pinned Claude Code CLIs (real
# end-to-end tests, both versions), tmux (interactive TUI tests), chattr (e2fsprogs), the musl
# target and musl-tools (static hook build), rustfmt and clippy, PostgreSQL 15+ (the team-mode
# store's tests start their own servers with maestro-testpg).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools)
# The interactive-TUI tests drive Claude Code in tmux; the read-only and full-disk tests use
# chattr (e2fsprogs) because file modes do not stop root.
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
# The self-approval test's agent tries to reach the server with curl: without it every attempt
# fails for the wrong reason and the test proves less.
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v git >/dev/null 2>&1 || missing+=(git)    # the git probe's tests use real repositories
command -v chattr >/dev/null 2>&1 || missing+=(e2fsprogs)
# maestro-testpg runs initdb and postgres of version 15 or newer: Debian's
# /usr/lib/postgresql/N/bin, else those on PATH. The search tests need the unaccent extension
# beside it (in Debian's postgresql-N package; elsewhere often a separate "contrib" package).
pg_ok() {
  local initdb major share
  for initdb in /usr/lib/postgresql/*/bin/initdb "$(command -v initdb 2>/dev/null || true)"; do
    [ -x "$initdb" ] || continue
    major="$("$initdb" --version 2>/dev/null | grep -oE '[0-9]+' | head -n1)"
    [ -n "$major" ] && [ "$major" -ge 15 ] || continue
    share="/usr/share/postgresql/$major"
    [ -d "$share" ] || share="$("$(dirname "$initdb")/pg_config" --sharedir 2>/dev/null || true)"
    [ -f "$share/extension/unaccent.control" ] && return 0
  done
  return 1
}
pg_ok || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if command -v rustup >/dev/null 2>&1; then
  # run-all.sh checks formatting and lints: a minimal toolchain may lack both.
  cargo fmt --version >/dev/null 2>&1 || { echo "==> rustup component add rustfmt"; rustup component add rustfmt; }
  cargo clippy --version >/dev/null 2>&1 || { echo "==> rustup component add clippy"; rustup component add clippy; }
fi
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -q x86_64-unknown-linux-musl; then
  echo "==> rustup target add x86_64-unknown-linux-musl"
  rustup target add x86_64-unknown-linux-musl
fi
bash "$root/.ci/install-claude.sh"
