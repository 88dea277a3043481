"""Metrics: exact counts, the snapshot's keys, and exactness under threads."""

from __future__ import annotations

import threading
from typing import Any

from obra_llm.metrics import Metrics

SNAPSHOT_KEYS = {
    "calls",
    "total_tokens",
    "total_latency_ms",
    "errors",
    "timeouts",
    "prompt_tokens",
    "completion_tokens",
    "retries",
    "structured_repairs",
}


def _call(metrics: Metrics, **end: Any) -> None:
    """One whole call: started, then finished with ``end``."""
    metrics.record_start()
    metrics.record_end(**end)


def test_a_started_call_is_counted_before_it_ends() -> None:
    metrics = Metrics()
    metrics.record_start()
    metrics.record_retry()
    snapshot = metrics.snapshot()
    assert (snapshot["calls"], snapshot["retries"], snapshot["errors"], snapshot["total_latency_ms"]) == (1, 1, 0, 0.0)
    metrics.record_end(latency_ms=2.0, failed=True)
    snapshot = metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["total_latency_ms"]) == (1, 1, 2.0)


def test_fresh_snapshot_is_all_zero() -> None:
    assert Metrics().snapshot() == {
        "calls": 0,
        "total_tokens": 0,
        "total_latency_ms": 0.0,
        "errors": 0,
        "timeouts": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "retries": 0,
        "structured_repairs": 0,
    }


def test_snapshot_has_exactly_the_orchestrator_keys() -> None:
    assert set(Metrics().snapshot()) == SNAPSHOT_KEYS


def test_successful_call_counts_tokens_and_latency() -> None:
    metrics = Metrics()
    _call(metrics, latency_ms=12.5, prompt_tokens=7, completion_tokens=5)
    assert metrics.snapshot() == {
        "calls": 1,
        "total_tokens": 12,
        "total_latency_ms": 12.5,
        "errors": 0,
        "timeouts": 0,
        "prompt_tokens": 7,
        "completion_tokens": 5,
        "retries": 0,
        "structured_repairs": 0,
    }


def test_failed_call_is_an_error_and_a_call() -> None:
    metrics = Metrics()
    _call(metrics, latency_ms=3.0, failed=True)
    snapshot = metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["timeouts"]) == (1, 1, 0)


def test_timeout_counts_as_error_too() -> None:
    metrics = Metrics()
    _call(metrics, latency_ms=3.0, timed_out=True)
    snapshot = metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["timeouts"]) == (1, 1, 1)


def test_failed_timeout_is_one_error_not_two() -> None:
    metrics = Metrics()
    _call(metrics, latency_ms=1.0, failed=True, timed_out=True)
    snapshot = metrics.snapshot()
    assert (snapshot["errors"], snapshot["timeouts"]) == (1, 1)


def test_retries_do_not_count_as_calls() -> None:
    metrics = Metrics()
    metrics.record_retry()
    metrics.record_retry()
    snapshot = metrics.snapshot()
    assert (snapshot["calls"], snapshot["retries"]) == (0, 2)


def test_snapshot_is_a_copy() -> None:
    metrics = Metrics()
    before = metrics.snapshot()
    _call(metrics, latency_ms=1.0)
    assert before["calls"] == 0
    assert metrics.snapshot()["calls"] == 1


def test_totals_are_exact_under_16_threads_of_100_calls() -> None:
    metrics = Metrics()
    threads_count, calls_each = 16, 100
    start = threading.Barrier(threads_count)

    def work() -> None:
        start.wait()
        for index in range(calls_each):
            _call(metrics, 
                latency_ms=1.5,
                prompt_tokens=2,
                completion_tokens=3,
                failed=index % 10 == 0,
                timed_out=index % 25 == 0,
            )
            metrics.record_retry()

    threads = [threading.Thread(target=work) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # per thread: failures at 0,10,...,90 (10) plus timeouts at 25 and 75 -> 12 errors; timeouts 0,25,50,75 -> 4
    assert metrics.snapshot() == {
        "calls": 1600,
        "total_tokens": 8000,
        "total_latency_ms": 2400.0,
        "errors": 16 * 12,
        "timeouts": 16 * 4,
        "prompt_tokens": 3200,
        "completion_tokens": 4800,
        "retries": 1600,
        "structured_repairs": 0,
    }
