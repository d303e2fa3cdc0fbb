#!/usr/bin/env bash
# Builds Maestro's release binaries and installs them into PREFIX/bin (default ~/.local/bin):
#   - maestro-hook, statically linked for musl (the target and musl-tools are added when
#     missing; if a static build is impossible it falls back to a normal build and says so);
#   - maestro-server.
# Then it tells you how to register the hooks with `maestro-hook install`.
#
# Usage: install/install.sh [--prefix DIR] [--no-tls] [--no-static] [--hook-only]
#   PREFIX=DIR works too. The hook speaks https (rustls) unless --no-tls (plain http only);
#   --tls is accepted for compatibility.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${PREFIX:-$HOME/.local}"
tls=1
static=1
server=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --tls) tls=1; shift ;;
    --no-tls) tls=0; shift ;;
    --no-static) static=0; shift ;;
    --hook-only) server=0; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

say() { printf '==> %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

have cargo || { echo "install.sh: cargo not found; install Rust first (https://rustup.rs)" >&2; exit 1; }
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
bindir="$prefix/bin"
mkdir -p "$bindir"

hook_features=()
[ "$tls" = 0 ] && hook_features=(--no-default-features)

arch="$(uname -m)"
musl="${arch}-unknown-linux-musl"
hook_bin=""

if [ "$static" = 1 ] && [ "$(uname -s)" = Linux ]; then
  if have rustup && ! rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
    say "adding the Rust target $musl"
    rustup target add "$musl" || true
  fi
  if ! have musl-gcc; then
    # Only C code (e.g. TLS with --tls) needs musl-gcc; try to add it, carry on without.
    if have apt-get; then
      sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
      say "installing musl-tools"
      $sudo apt-get install -y musl-tools >/dev/null 2>&1 || true
    fi
  fi
  say "building maestro-hook (static, $musl)"
  if (cd "$repo" && cargo build --release -p maestro-hook --target "$musl" "${hook_features[@]}"); then
    hook_bin="$target_dir/$musl/release/maestro-hook"
  else
    say "static build failed; building a normal (dynamically linked) maestro-hook instead"
  fi
fi
if [ -z "$hook_bin" ]; then
  say "building maestro-hook"
  (cd "$repo" && cargo build --release -p maestro-hook "${hook_features[@]}")
  hook_bin="$target_dir/release/maestro-hook"
fi

if [ "$server" = 1 ]; then
  say "building maestro-server"
  (cd "$repo" && cargo build --release -p maestro-server)
fi

install_bin() {
  # Copy then rename, so a running hook is never half overwritten.
  local src="$1" name; name="$(basename "$1")"
  cp "$src" "$bindir/.$name.new"
  chmod 755 "$bindir/.$name.new"
  mv -f "$bindir/.$name.new" "$bindir/$name"
  say "installed $bindir/$name"
}
install_bin "$hook_bin"
[ "$server" = 1 ] && install_bin "$target_dir/release/maestro-server"

if have file; then file "$bindir/maestro-hook" | sed 's/^/    /'; fi

server_hint="$bindir/maestro-server"
[ "$server" = 1 ] || server_hint="maestro-server"
cat <<MSG

Next steps:
  1. Start the server:      $server_hint        (prints its URL and token files)
  2. Register the hooks:    $bindir/maestro-hook install --scope user
                            (or --scope local / --scope project inside a project;
                             --server URL if the server is not on http://127.0.0.1:8420;
                             --dry-run to see the change first)
  3. Check:                 $bindir/maestro-hook status
MSG
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo; echo "Note: $bindir is not on your PATH." ;;
esac
