"""Overhead of the openai-codex provider over a bare ``subprocess.run`` of the same command.

Runs the pinned real CLI against the local Responses stub, alternating the two ways so that
drift hits both equally, and prints the medians. Usage::

    python tests/benchmarks/bench_codex.py [runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from obra_llm.providers.codex import CodexCLI, build_argv
from tests.support.responses_stub import ResponsesStub

REPO = Path(__file__).resolve().parents[2]
BINARY = os.environ.get("OBRA_LLM_CODEX_BIN") or str(REPO / ".tools/codex/node_modules/.bin/codex")
PROMPT = "benchmark prompt"


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as home, ResponsesStub() as stub:
        Path(home, "config.toml").write_text(
            f'model_provider = "stub"\nmodel = "stub-model"\n[model_providers.stub]\nname = "stub"\n'
            f'base_url = "{stub.base_url}"\nwire_api = "responses"\nrequest_max_retries = 0\nstream_max_retries = 0\n'
        )
        os.environ["CODEX_HOME"] = home
        llm = CodexCLI()
        llm.initialize({"codex_command": BINARY, "retry_attempts": 1})
        llm.generate(PROMPT)  # warm-up: caches, and the one-time auth check
        bare_times: list[float] = []
        provider_times: list[float] = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="obra-codex-") as workdir:
                settings = llm.settings_type(model="")
                argv = build_argv(settings, binary=BINARY, sandbox="read-only", workdir=workdir)
                started = time.perf_counter()
                done = subprocess.run(argv, input=PROMPT.encode(), capture_output=True, start_new_session=True, timeout=60, check=True)
                bare_times.append(time.perf_counter() - started)
                assert b"Hello" in done.stdout
            started = time.perf_counter()
            assert llm.generate(PROMPT) == "Hello"
            provider_times.append(time.perf_counter() - started)
    bare = statistics.median(bare_times) * 1000
    provider = statistics.median(provider_times) * 1000
    print(f"runs: {runs} each, codex: {BINARY}")
    print(f"bare subprocess.run median: {bare:.1f} ms")
    print(f"provider generate() median: {provider:.1f} ms")
    print(f"overhead (median difference): {provider - bare:+.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
