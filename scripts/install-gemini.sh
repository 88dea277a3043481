#!/bin/sh
# Install the pinned Gemini CLI into .tools/gemini (git-ignored), for the contract tests.
# Usage: scripts/install-gemini.sh            (prints the binary path on success)
set -eu
GEMINI_VERSION="${GEMINI_VERSION:-0.61.0}"
# `--version` would otherwise re-execute node with a bigger heap.
export GEMINI_CLI_NO_RELAUNCH=true
exec "$(dirname "$0")/npm-pinned-cli.sh" gemini "@google/gemini-cli@$GEMINI_VERSION" gemini "$GEMINI_VERSION"
