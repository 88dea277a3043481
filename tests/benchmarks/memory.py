"""Memory: RSS and open file descriptors over 10,000 calls through one provider instance.

Runs in a fresh interpreter (``python -m tests.benchmarks.memory BASE_URL [CALLS]``) so
that nothing else the benchmark did is in the heap: after a warm-up of 500 calls, the
resident set size and the number of open file descriptors are read from ``/proc/self``,
``CALLS`` calls are made (every fourth a ``generate_stream``, the others ``generate``), the
garbage collector runs, and both are read again. It prints one JSON object.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time

import attrs

__all__ = ["MemoryResult", "measure_memory"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@attrs.frozen
class MemoryResult:
    provider: str
    calls: int
    rss_before_mb: float
    rss_after_mb: float
    fds_before: int
    fds_after: int
    seconds: float

    @property
    def growth_mb(self) -> float:
        return self.rss_after_mb - self.rss_before_mb


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE / 2**20


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _child(base_url: str, calls: int) -> dict[str, float | int | str]:
    import obra_llm
    from tests.benchmarks.overhead import PROMPT
    from tests.benchmarks.stub_server import MODEL, TEXT

    llm = obra_llm.create_llm({"type": "ollama", "endpoint": base_url, "model": MODEL})

    def once(number: int) -> None:
        answer = llm.generate(PROMPT) if number % 4 != 3 else "".join(llm.generate_stream(PROMPT))
        if answer != TEXT:
            raise AssertionError(answer)

    for number in range(500):
        once(number)
    gc.collect()
    rss_before, fds_before = _rss_mb(), _fds()
    started = time.perf_counter()
    for number in range(calls):
        once(number)
    seconds = time.perf_counter() - started
    gc.collect()
    return {
        "provider": "ollama",
        "calls": calls,
        "rss_before_mb": rss_before,
        "rss_after_mb": _rss_mb(),
        "fds_before": fds_before,
        "fds_after": _fds(),
        "seconds": seconds,
    }


def measure_memory(base_url: str, calls: int = 10_000) -> MemoryResult:
    """Run the measurement in a fresh interpreter and read its answer."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.memory", base_url, str(calls)],
        check=True,
        capture_output=True,
        text=True,
    )
    values = json.loads(done.stdout.strip().splitlines()[-1])
    return MemoryResult(
        provider=str(values["provider"]),
        calls=int(values["calls"]),
        rss_before_mb=float(values["rss_before_mb"]),
        rss_after_mb=float(values["rss_after_mb"]),
        fds_before=int(values["fds_before"]),
        fds_after=int(values["fds_after"]),
        seconds=float(values["seconds"]),
    )


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10_000)))
