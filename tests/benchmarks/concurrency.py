"""Concurrency: 16 threads through one shared provider instance vs 16 threads sharing one raw ``httpx.Client``.

Each repetition starts ``threads`` threads at a barrier; each makes ``calls`` non-streamed
calls, and the throughput is all calls over the wall time from the barrier to the last
thread's end. The sides alternate repetition by repetition (in shuffled order) and the
figure per side is the median throughput. The stub counts the connections each side
opens (at most one per thread with a pooled client).
"""

from __future__ import annotations

import contextlib
import gc
import random
import statistics
import threading
import time
from collections.abc import Callable, Mapping

import attrs
import httpx

import obra_llm
from tests.benchmarks.overhead import PEERS, Contender, Unavailable, _peer, ours_call, provider_case, raw_call
from tests.benchmarks.stub_server import TEXT

__all__ = ["ConcurrencyResult", "measure_concurrency"]

#: The comparison clients that are thread-safe and fast enough to include (LiteLLM is neither here).
_THREADED_PEERS = {"ollama client", "openai SDK", "anthropic SDK"}


@attrs.frozen
class Throughput:
    name: str
    role: str
    calls_per_second: float
    ratio: float
    connections: int | None


@attrs.frozen
class ConcurrencyResult:
    provider: str
    threads: int
    calls_per_thread: int
    repetitions: int
    sides: tuple[Throughput, ...]
    unavailable: tuple[Unavailable, ...] = ()

    @property
    def ours(self) -> Throughput:
        return next(side for side in self.sides if side.role == "ours")

    @property
    def peers(self) -> tuple[Throughput, ...]:
        return tuple(side for side in self.sides if side.role == "peer")


def _run(call: Callable[[], str], threads: int, calls: int) -> float:
    """Calls per second of ``threads`` threads making ``calls`` calls each, started together."""
    barrier = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            for _ in range(calls):
                if call() != TEXT:
                    raise AssertionError("wrong answer under concurrency")
        except BaseException as error:
            failures.append(error)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return threads * calls / elapsed


def measure_concurrency(
    provider: str,
    base_url: str,
    *,
    threads: int = 16,
    calls: int = 30,
    repetitions: int = 5,
    stats: Callable[[], Mapping[str, int]] | None = None,
    peers: bool = True,
) -> ConcurrencyResult:
    case = provider_case(provider, base_url)
    llm = obra_llm.create_llm(case.config)
    raw = httpx.Client(base_url=base_url, headers=dict(case.headers), timeout=httpx.Timeout(120.0, connect=10.0))
    closers: list[Callable[[], object]] = [raw.close]
    close = getattr(llm, "close", None)
    if callable(close):
        closers.append(close)
    try:
        contenders = [
            Contender(f"obra_llm {provider}", "ours", ours_call(llm, "generate")),
            Contender("raw httpx", "raw", raw_call(case, raw, "generate")),
        ]
        missing: list[Unavailable] = []
        for name, package, factory, _ in PEERS.get(provider, ()) if peers else ():
            if name not in _THREADED_PEERS:
                continue
            found = _peer(name, package, factory, None, base_url, "generate", closers)
            if isinstance(found, Contender):
                contenders.append(found)
            else:
                missing.append(found)
        connections: list[int | None] = []
        for contender in contenders:  # warm-up: every side fills its pool
            before = stats()["connections"] if stats else 0
            _run(contender.call, threads, 5)
            connections.append(stats()["connections"] - before - 1 if stats else None)
        samples: list[list[float]] = [[] for _ in contenders]
        order = list(range(len(contenders)))
        shuffle = random.Random(threads).shuffle
        gc.collect()
        for _ in range(repetitions):
            shuffle(order)
            for index in order:
                samples[index].append(_run(contenders[index].call, threads, calls))
    finally:
        for closer in reversed(closers):
            with contextlib.suppress(Exception):
                closer()
    medians = [statistics.median(values) for values in samples]
    raw_median = medians[1]
    return ConcurrencyResult(
        provider=provider,
        threads=threads,
        calls_per_thread=calls,
        repetitions=repetitions,
        sides=tuple(
            Throughput(contender.name, contender.role, median, median / raw_median, opened)
            for contender, median, opened in zip(contenders, medians, connections, strict=True)
        ),
        unavailable=tuple(missing),
    )
