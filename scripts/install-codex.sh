#!/bin/sh
# Install the pinned OpenAI Codex CLI into .tools/codex (git-ignored), for the contract tests.
# Idempotent: does nothing when the pinned version is already there.
# Usage: scripts/install-codex.sh            (prints the binary path on success)
set -eu
CODEX_VERSION="${CODEX_VERSION:-0.169.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="$ROOT/.tools/codex"
BIN="$PREFIX/node_modules/.bin/codex"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -qx "codex-cli $CODEX_VERSION"; then
    echo "$BIN"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-codex: npm is not on PATH; install Node.js >= 18 first" >&2
    exit 1
fi
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --loglevel=error "@openai/codex@$CODEX_VERSION" >&2
"$BIN" --version >&2
echo "$BIN"
