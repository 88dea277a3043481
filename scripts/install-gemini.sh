#!/bin/sh
# Install the pinned Gemini CLI into .tools/gemini (git-ignored), for the contract tests.
# Idempotent: does nothing when the pinned version is already there.
# Usage: scripts/install-gemini.sh            (prints the binary path on success)
set -eu
GEMINI_VERSION="${GEMINI_VERSION:-0.61.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="$ROOT/.tools/gemini"
BIN="$PREFIX/node_modules/.bin/gemini"

# GEMINI_CLI_NO_RELAUNCH: `--version` would otherwise re-execute node with a bigger heap.
if [ -x "$BIN" ] && GEMINI_CLI_NO_RELAUNCH=true "$BIN" --version 2>/dev/null | grep -qx "$GEMINI_VERSION"; then
    echo "$BIN"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-gemini: npm is not on PATH; install Node.js >= 20 first" >&2
    exit 1
fi
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --loglevel=error "@google/gemini-cli@$GEMINI_VERSION" >&2
GEMINI_CLI_NO_RELAUNCH=true "$BIN" --version >&2
echo "$BIN"
