#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run them: the README's test command.
#   1. a virtualenv in .venv with obra_llm and its test extras (editable);
#   2. the pinned OpenAI Codex CLI in .tools/codex and Gemini CLI in .tools/gemini (npm), for the contract tests;
#   3. the whole test suite, offline (no socket beyond loopback), then mypy --strict and ruff.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k ollama`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

bash scripts/install-codex.sh >/dev/null
bash scripts/install-gemini.sh >/dev/null

.venv/bin/python -m pytest "$@"
.venv/bin/python -m mypy
.venv/bin/python -m ruff check --quiet obra_llm tests
