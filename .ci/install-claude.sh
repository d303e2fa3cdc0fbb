#!/usr/bin/env bash
# Installs the pinned real Claude Code CLIs for the end-to-end scenarios: the oldest supported
# and the newest release (the same list as SUPPORTED_VERSIONS in tests/src/claude_cli.rs), each
# into <cache>/<version>, where <cache> is $MAESTRO_CLAUDE_CACHE, else <repo>/.cache/claude-code
# (the dir the tests use). A version already there is reused. Installs Node.js and npm with
# apt-get when node is missing. Uses plain npm with npm's own registry configuration (an explicit
# version installs on Node.js 20 even where newer releases declare a newer engine).
set -euo pipefail

VERSIONS=("2.1.197" "2.1.332")
PACKAGE="@anthropic-ai/claude-code"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="${MAESTRO_CLAUDE_CACHE:-$ROOT/.cache/claude-code}"

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

install_one() {
    VERSION="$1"
    CACHE="$BASE/$VERSION"
    if [ "$(installed_version || true)" = "$VERSION" ] && bin="$(binary)"; then
        echo "Claude Code $VERSION already in $CACHE: $bin"
        return 0
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
}

for v in "${VERSIONS[@]}"; do
    install_one "$v"
done
