"""Hostile framing: one huge event, or one value pretty-printed over many lines, must cost linear time.

On 19bf5c7 one 16 MB SSE event took 8-10 s (the SSE reader re-split everything buffered
for every chunk) and Gemini's reader re-parsed a pretty-printed body once per line. The
figures here are not wall-clock targets (those live in ``python -m tests.benchmarks``):
each reading is compared with ``json.loads`` of the same bytes, timed on the same machine
just before, and allowed ``_BUDGET`` times that (at least ``_FLOOR_SECONDS``). Linear code
needs 1-3x; the quadratic readers needed hundreds of times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from obra_llm.transports import framing

_BUDGET = 25.0
_FLOOR_SECONDS = 0.5
_SMALL_CHUNK = 4 * 1024


def _chunks(payload: bytes, size: int = _SMALL_CHUNK) -> list[bytes]:
    return [payload[start : start + size] for start in range(0, len(payload), size)]


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _assert_linear(read: Callable[[list[bytes]], object], payload: bytes, reference: bytes) -> None:
    """``read`` of ``payload`` in 4 KiB chunks costs at most ``_BUDGET`` x ``json.loads(reference)``."""
    chunks = _chunks(payload)
    budget = max(_BUDGET * min(_seconds(lambda: json.loads(reference)) for _ in range(2)), _FLOOR_SECONDS)
    spent = _seconds(lambda: read(chunks))
    if spent > budget:  # a second chance, in case the machine was busy
        spent = min(spent, _seconds(lambda: read(chunks)))
    assert spent <= budget, f"{len(payload) / 1e6:.1f} MB took {spent:.2f} s, over {budget:.2f} s ({_BUDGET:g}x json.loads)"


_VALUE = json.dumps({"text": "x" * (16 * 1024 * 1024)}).encode()


def _drain(values: Iterable[Any]) -> None:
    for _value in values:
        pass


@pytest.mark.parametrize(
    ("reader", "payload"),
    [
        ("iter_lines", _VALUE + b"\n"),
        ("iter_ndjson", _VALUE + b"\n"),
        ("iter_sse", b"data: " + _VALUE + b"\r\n\r\n"),
        ("iter_sse_or_json", b"data: " + _VALUE + b"\r\n\r\n"),
        ("iter_sse_or_json", _VALUE + b"\n"),
    ],
    ids=["lines", "ndjson", "sse", "sse_or_json-event", "sse_or_json-bare"],
)
def test_one_16_mb_event_reads_in_linear_time(reader: str, payload: bytes) -> None:
    read: Callable[[Iterable[bytes]], Iterator[Any]] = getattr(framing, reader)
    _assert_linear(lambda chunks: _drain(read(chunks)), payload, _VALUE)
