#!/usr/bin/env bash
# Installs the pinned real Claude Code CLI for the end-to-end scenarios (tests/tests/real_claude.rs)
# into the same cache dir the tests use: $MAESTRO_CLAUDE_CACHE, else <repo>/.cache/claude-code.
# Reused when the pinned version is already there. Installs Node.js and npm with apt-get when
# node is missing. Uses plain npm with npm's own registry configuration.
set -euo pipefail

VERSION="2.1.197"
PACKAGE="@anthropic-ai/claude-code"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MAESTRO_CLAUDE_CACHE:-$ROOT/.cache/claude-code}"

installed_version() {
    local manifest="$CACHE/node_modules/$PACKAGE/package.json"
    [ -f "$manifest" ] || return 1
    sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest" | head -n 1
}

binary() {
    local bin="$CACHE/node_modules/.bin/claude"
    # bin/claude.exe is a small stub until the postinstall links the native binary over it.
    if [ -e "$bin" ] && [ "$(stat -L -c %s "$bin")" -gt 4096 ]; then
        echo "$bin"
        return 0
    fi
    for bin in "$CACHE"/node_modules/@anthropic-ai/claude-code-*/claude; do
        if [ -f "$bin" ] && [ "$(stat -c %s "$bin")" -gt 4096 ]; then
            echo "$bin"
            return 0
        fi
    done
    return 1
}

if [ "$(installed_version || true)" = "$VERSION" ] && bin="$(binary)"; then
    echo "Claude Code $VERSION already in $CACHE: $bin"
    exit 0
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "Node.js/npm missing: installing with apt-get"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y nodejs npm
fi

echo "Installing $PACKAGE@$VERSION into $CACHE (node $(node --version), npm $(npm --version))"
mkdir -p "$CACHE"
npm install --prefix "$CACHE" --no-audit --no-fund --save-exact "$PACKAGE@$VERSION"

if [ "$(installed_version || true)" != "$VERSION" ] || ! bin="$(binary)"; then
    echo "error: $PACKAGE@$VERSION did not install a usable claude binary under $CACHE" >&2
    exit 1
fi
echo "Claude Code installed: $bin ($("$bin" --version))"
