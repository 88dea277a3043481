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

from obra_llm.errors import LLMException
from obra_llm.providers.gemini import GeminiWire
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


def _pretty_error(size: int) -> bytes:
    """A Gemini error body pretty-printed like the API's, padded with ``size`` bytes of detail lines."""
    details = [{"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": f"line {n}"} for n in range(size // 80)]
    error = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": details}}
    return json.dumps(error, indent=2).replace("\n", "\r\n").encode() + b"\r\n"


def test_gemini_stream_with_a_pretty_printed_body_reads_in_linear_time() -> None:
    body = _pretty_error(96 * 1024)
    payload = b'data: {"candidates": [{"content": {"parts": [{"text": "SCORE"}]}}]}\r\n\r\n' + body

    def read(chunks: list[bytes]) -> None:
        with pytest.raises(LLMException, match="RESOURCE_EXHAUSTED"):
            _drain(GeminiWire().process_stream(iter(chunks)))

    _assert_linear(read, payload, body)


def test_gemini_stream_as_a_pretty_printed_json_array_reads_in_linear_time() -> None:
    chunk = {"candidates": [{"content": {"parts": [{"text": "token "}]}}]}
    last = {"candidates": [{"content": {"parts": [{"text": "end"}]}, "finishReason": "STOP"}]}
    payload = json.dumps([chunk] * 1000 + [last], indent=2).encode()

    def read(chunks: list[bytes]) -> None:
        pieces = [item for item in GeminiWire().process_stream(iter(chunks)) if isinstance(item, str)]
        assert "".join(pieces) == "token " * 1000 + "end"

    _assert_linear(read, payload, payload)


_SMALL_VALUE = b'{"candidates": [{"content": {"parts": [{"text": "tok"}]}}]}'


@pytest.mark.parametrize(
    ("reader", "payload"),
    [
        ("iter_sse", b"".join(b"data: " + _SMALL_VALUE + b"\r\n\r\n" for _ in range(100_000))),
        ("iter_sse", b"".join(b"event: delta\ndata: " + _SMALL_VALUE + b"\n\n" for _ in range(100_000))),
        ("iter_sse_or_json", b"".join(b"data: " + _SMALL_VALUE + b"\n\n" for _ in range(100_000))),
        ("iter_sse_or_json", b"".join(_SMALL_VALUE + b"\n" for _ in range(20_000))),
    ],
    ids=["sse-data-run", "sse-named", "sse_or_json-events", "sse_or_json-bare-values"],
)
def test_many_events_in_one_chunk_read_in_linear_time(reader: str, payload: bytes) -> None:
    """One chunk holding thousands of events (a gzip body inflates to such chunks): each event costs the same.

    On main before the framing rewrite, 20,000 bare JSON values in one chunk took ~17 s (each
    value re-split the rest of its block): quadratic in the values per block.
    """
    read: Callable[[Iterable[bytes]], Iterator[Any]] = getattr(framing, reader)
    values = b"[" + b",".join(_SMALL_VALUE for _ in range(payload.count(b"candidates"))) + b"]"
    _assert_linear(lambda chunks: _drain(read([b"".join(chunks)])), payload, values)


def test_a_bare_value_with_a_stray_quote_fails_at_once_not_after_rescanning_every_line() -> None:
    """An odd ``"`` on a line of a pretty-printed value, then closing brackets line after line.

    Strings cannot span lines in JSON, so once the bracket count says the kept value
    closes, a value that does not parse is invalid: it raises there. Before, each later
    ``}`` line re-counted everything kept (8,000 lines 0.08 s, 32,000 lines 0.57 s, so
    minutes at a 1 MiB bound).
    """
    payload = b'{\n"\n' + b"}\n" * 200_000
    chunks = [payload[start : start + 2] for start in range(0, len(payload), 2)]  # one line per chunk

    def read(chunks: list[bytes]) -> None:
        with pytest.raises(LLMException, match="not valid"):
            _drain(framing.iter_sse_or_json(chunks, max_value_bytes=1 << 22))

    budget = max(_BUDGET * min(_seconds(lambda: json.loads(b"[" + b"{}," * 100_000 + b"{}]")) for _ in range(2)), _FLOOR_SECONDS)
    spent = _seconds(lambda: read(chunks))
    assert spent <= budget, f"took {spent:.2f} s, over {budget:.2f} s"


def test_a_line_sent_a_few_bytes_at_a_time_is_kept_in_little_more_than_its_size() -> None:
    """A peer dripping a long line in 2-byte chunks: the line's pieces are merged as they come.

    One ``bytes`` object per chunk cost ~35 bytes each: a 1 MB line peaked at ~63 MB.
    """
    import tracemalloc

    size = 1_000_000

    def drip() -> Iterator[bytes]:
        for _ in range(size // 2):
            yield bytes(b"x" + b"y")  # a new object each time, as a socket read gives
        yield b"\n"

    tracemalloc.start()
    try:
        lines = list(framing.iter_lines(drip(), max_line_bytes=2 * size))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == ["xy" * (size // 2)]
    assert peak < 8 * size, f"a {size / 1e6:g} MB line peaked at {peak / 1e6:.1f} MB"
