#!/bin/sh
# Install the pinned OpenAI Codex CLI into .tools/codex (git-ignored), for the contract tests.
# Usage: scripts/install-codex.sh            (prints the binary path on success)
set -eu
CODEX_VERSION="${CODEX_VERSION:-0.169.0}"
exec "$(dirname "$0")/npm-pinned-cli.sh" codex "@openai/codex@$CODEX_VERSION" codex "codex-cli $CODEX_VERSION"
