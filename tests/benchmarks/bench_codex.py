"""Overhead of the openai-codex provider over a bare ``subprocess.run`` of the same command.

Runs the pinned real CLI against the local Responses stub, alternating the two ways so that
drift hits both equally; the figure per side is the median, the overhead their difference
(and the median of the differences of neighbouring runs). ``python -m tests.benchmarks``
includes it when the CLI is installed; on its own::

    python -m tests.benchmarks.bench_codex [runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs

__all__ = ["BINARY", "CodexResult", "measure_codex"]

REPO = Path(__file__).resolve().parents[2]
BINARY = os.environ.get("OBRA_LLM_CODEX_BIN") or str(REPO / ".tools/codex/node_modules/.bin/codex")
PROMPT = "benchmark prompt"


@attrs.frozen
class CodexResult:
    runs: int
    binary: str
    bare_ms: float
    provider_ms: float
    paired_overhead_ms: float

    @property
    def overhead_ms(self) -> float:
        return self.provider_ms - self.bare_ms


def available() -> bool:
    return Path(BINARY).exists()


def measure_codex(runs: int = 20) -> CodexResult:
    """Median wall time of ``generate()`` and of the bare ``subprocess.run``, alternately."""
    from obra_llm.providers.codex import CodexCLI, CodexSettings, build_argv
    from tests.support.responses_stub import ResponsesStub

    saved = os.environ.get("CODEX_HOME")
    try:
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
            for run in range(runs):
                for side in ("bare", "provider") if run % 2 == 0 else ("provider", "bare"):
                    if side == "bare":
                        with tempfile.TemporaryDirectory(prefix="obra-codex-") as workdir:
                            settings = CodexSettings(model="")
                            argv = build_argv(settings, binary=BINARY, sandbox="read-only", workdir=workdir)
                            started = time.perf_counter()
                            done = subprocess.run(
                                argv, input=PROMPT.encode(), capture_output=True, start_new_session=True, timeout=60, check=True
                            )
                            bare_times.append(time.perf_counter() - started)
                            assert b"Hello" in done.stdout
                    else:
                        started = time.perf_counter()
                        answer = llm.generate(PROMPT)
                        provider_times.append(time.perf_counter() - started)
                        assert answer == "Hello", answer
    finally:
        if saved is None:
            os.environ.pop("CODEX_HOME", None)
        else:
            os.environ["CODEX_HOME"] = saved
    return CodexResult(
        runs=runs,
        binary=BINARY,
        bare_ms=statistics.median(bare_times) * 1000,
        provider_ms=statistics.median(provider_times) * 1000,
        paired_overhead_ms=statistics.median(p - b for p, b in zip(provider_times, bare_times, strict=True)) * 1000,
    )


def main(runs: int) -> None:
    result = measure_codex(runs)
    print(f"runs: {runs} each, codex: {result.binary}")
    print(f"bare subprocess.run median: {result.bare_ms:.1f} ms")
    print(f"provider generate() median: {result.provider_ms:.1f} ms")
    print(f"overhead (difference of medians): {result.overhead_ms:+.1f} ms; paired: {result.paired_overhead_ms:+.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
