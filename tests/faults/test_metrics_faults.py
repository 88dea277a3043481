"""Metrics count every call that started exactly once, whatever ends it, for every HTTP provider.

Seen on 19bf5c7: after a ``KeyboardInterrupt`` mid-stream ``calls`` stayed 0, and during a
retry's sleep the metrics read ``calls=0`` with ``retries=1``. The interrupt here is a real
``SIGALRM`` turned into ``KeyboardInterrupt`` while the provider waits on a stalled server
(what Ctrl-C does to an orchestrator), and the sleep is the fake clock's, observed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from obra_llm.protocol import MetricsSnapshot
from tests.faults.kits import FaultKit
from tests.faults.revision_checks.metrics_counting import interrupt_after
from tests.support.fakes import FakeClock
from tests.support.leaks import no_leaks
from tests.support.wire_server import Chunked, WireServer

PIECES = ["Hello", ", world", "."]
STALL = 1.0
INTERRUPT_AFTER = 0.3


@pytest.fixture
def server(kit: FaultKit[Any]) -> Iterator[WireServer]:
    with kit.running() as running:
        yield running


def _counts(metrics: MetricsSnapshot) -> tuple[int, int, int, int]:
    return metrics["calls"], metrics["errors"], metrics["timeouts"], metrics["retries"]


def test_interrupt_mid_stream_counts_one_call(kit: FaultKit[Any], server: WireServer) -> None:
    server.queue(kit.slow_body(server, PIECES[:1], STALL))
    with no_leaks():
        llm = kit.make(server.url, clock=time.monotonic, sleep=time.sleep, timeout=30)
        with llm:
            received: list[str] = []
            with pytest.raises(KeyboardInterrupt), interrupt_after(INTERRUPT_AFTER):
                received.extend(llm.generate_stream("hi"))
            assert received == PIECES[:1]
            assert _counts(llm.metrics) == (1, 0, 0, 0)


def test_interrupt_during_a_whole_answer_counts_one_call(kit: FaultKit[Any], server: WireServer) -> None:
    server.queue(Chunked(['{"id": "x", '], content_type="application/json", stall=STALL))
    with no_leaks():
        llm = kit.make(server.url, clock=time.monotonic, sleep=time.sleep, timeout=30)
        with llm:
            with pytest.raises(KeyboardInterrupt), interrupt_after(INTERRUPT_AFTER):
                llm.generate("hi")
            assert _counts(llm.metrics) == (1, 0, 0, 0)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_call_sleeping_before_its_retry_is_already_counted(kit: FaultKit[Any], server: WireServer, stream: bool) -> None:
    server.queue(kit.server_error(), kit.answer(server, PIECES, stream=stream))
    clock = FakeClock()
    during_sleep: list[tuple[int, int, int, int]] = []
    llm: Any = None

    def sleep(seconds: float) -> None:
        during_sleep.append(_counts(llm.metrics))
        clock.sleep(seconds)

    call: Callable[[], object] = (lambda: "".join(llm.generate_stream("hi"))) if stream else (lambda: llm.generate("hi"))
    with no_leaks():
        llm = kit.make(server.url, clock=clock, sleep=sleep)
        with llm:
            assert call() == "".join(PIECES)
            assert during_sleep == [(1, 0, 0, 1)]
            assert _counts(llm.metrics) == (1, 0, 0, 1)
