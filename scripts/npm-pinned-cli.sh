#!/bin/sh
# Install one pinned npm CLI into .tools/<dir> (git-ignored), for the contract tests; the
# install-<tool>.sh scripts call it. Idempotent: does nothing when the pinned version is there.
# Usage: scripts/npm-pinned-cli.sh DIR PACKAGE@VERSION BIN-NAME VERSION-LINE   (prints the binary path)
#   VERSION-LINE is what `BIN --version` prints for the pinned version, exactly.
set -eu
DIR="$1" SPEC="$2" NAME="$3" EXPECTED="$4"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="$ROOT/.tools/$DIR"
BIN="$PREFIX/node_modules/.bin/$NAME"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -qxF "$EXPECTED"; then
    echo "$BIN"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-$DIR: npm is not on PATH; install Node.js >= 20 first" >&2
    exit 1
fi
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --loglevel=error "$SPEC" >&2
"$BIN" --version >&2
echo "$BIN"
