#!/bin/sh
# Install the pinned Claude Code CLI into .tools/claude (git-ignored), for the contract tests.
# 2.1.332 is pinned because, with CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 (which the provider
# always sets), it connects to nothing but its base URL; the last JS build (2.1.112) opens TLS to
# api.anthropic.com whatever is set. It is one native binary (npm needs no particular Node).
# Usage: scripts/install-claude.sh            (prints the binary path on success)
set -eu
CLAUDE_VERSION="${CLAUDE_VERSION:-2.1.332}"
exec "$(dirname "$0")/npm-pinned-cli.sh" claude "@anthropic-ai/claude-code@$CLAUDE_VERSION" claude "$CLAUDE_VERSION (Claude Code)"
