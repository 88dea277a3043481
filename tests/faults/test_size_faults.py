"""Answers too big to be answers: a whole body and one stream line are bounded, for every HTTP provider.

Seen on 19bf5c7: a 298 KB gzip body inflating to 300 MB was read whole (+600 MB RSS). Now a
whole answer's decoded body is bounded by ``max_response_bytes`` (64 MiB) and one stream
line by ``max_line_bytes`` (16 MiB); past either, a non-retried ``LLMResponseException``,
and the read stops there.
"""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from obra_llm.errors import ConfigError, LLMResponseException
from obra_llm.transports.decoding import PIECE
from obra_llm.transports.endpoint import MAX_BODY_BYTES, MAX_LINE_BYTES
from tests.faults.kits import KITS, FaultKit
from tests.support.fakes import FakeClock
from tests.support.wire_server import Raw

BOMB_BYTES = 200 * 1024 * 1024


def _gzip_bomb(size: int) -> bytes:
    """A gzip body of about ``size / 1000`` bytes that inflates to ``size`` bytes of JSON-looking text."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"message": {"content": "')]
    block = b"0" * (1024 * 1024)
    parts += [packer.compress(block) for _ in range(size // len(block))]
    parts.append(packer.compress(b'"}}') + packer.flush())
    return b"".join(parts)


def _refused(call: Callable[[], object], match: str | None = None) -> tuple[LLMResponseException, int]:
    """The error ``call`` raises, and the traced memory peak while it ran."""
    tracemalloc.start()
    try:
        with pytest.raises(LLMResponseException, match=match) as caught:
            call()
        return caught.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_is_refused_with_memory_bounded() -> None:
    kit = KITS["ollama"]
    clock = FakeClock()
    bomb = _gzip_bomb(BOMB_BYTES)
    assert len(bomb) < 400_000
    with kit.running() as server:
        server.queue(Raw(200, bomb, "application/json", headers={"Content-Encoding": "gzip"}))
        llm = kit.make(server.url, clock=clock, sleep=clock.sleep)
        with llm:
            error, peak = _refused(lambda: llm.generate("hi"))
    assert error.retryable is False
    assert f"the answer is larger than {MAX_BODY_BYTES} bytes once decoded (max_response_bytes)" in error.message
    # The bound plus a few inflated pieces. 19bf5c7 held all 200 MB, twice; httpx's own decoder
    # inflates each socket read whole (a 64 KiB read of zeros is 64 MiB), which went past this.
    assert peak < MAX_BODY_BYTES + 4 * PIECE, f"peak {peak / 1e6:.0f} MB"
    assert kit.attempts(server) == 1 and clock.sleeps == []


def test_a_gzip_bomb_in_a_stream_is_refused_with_memory_bounded() -> None:
    kit = KITS["ollama"]
    clock = FakeClock()
    bomb = _gzip_bomb(BOMB_BYTES)
    with kit.running() as server:
        server.queue(Raw(200, bomb, "application/x-ndjson", headers={"Content-Encoding": "gzip"}))
        llm = kit.make(server.url, clock=clock, sleep=clock.sleep)
        with llm:
            _, peak = _refused(lambda: list(llm.generate_stream("hi")), rf"longer than {MAX_LINE_BYTES} bytes \(max_line_bytes\)")
    assert peak < MAX_LINE_BYTES + 4 * PIECE, f"peak {peak / 1e6:.0f} MB"
    assert kit.attempts(server) == 1 and clock.sleeps == []


def test_a_whole_answer_past_max_response_bytes_is_refused(kit: FaultKit[Any]) -> None:
    clock = FakeClock()
    pieces = ["x" * 50_000] * 4
    with kit.running() as server:
        server.queue(kit.answer(server, pieces, stream=False), kit.answer(server, pieces, stream=False))
        llm = kit.make(server.url, clock=clock, sleep=clock.sleep, max_response_bytes=100_000)
        with llm:
            with pytest.raises(LLMResponseException, match=r"larger than 100000 bytes once decoded \(max_response_bytes\)") as caught:
                llm.generate("hi")
            assert caught.value.retryable is False
            assert kit.attempts(server) == 1 and clock.sleeps == []
        roomy = kit.make(server.url, clock=clock, sleep=clock.sleep, max_response_bytes=1_000_000)
        with roomy:
            assert roomy.generate("hi") == "".join(pieces)


def test_a_stream_line_past_max_line_bytes_is_refused(kit: FaultKit[Any]) -> None:
    clock = FakeClock()
    with kit.running() as server:
        server.queue(kit.answer(server, ["y" * 300_000], stream=True), kit.answer(server, ["y" * 300_000], stream=True))
        llm = kit.make(server.url, clock=clock, sleep=clock.sleep, max_line_bytes=100_000)
        with llm:
            with pytest.raises(LLMResponseException, match=r"longer than 100000 bytes \(max_line_bytes\)") as caught:
                list(llm.generate_stream("hi"))
            assert caught.value.retryable is False
            assert kit.attempts(server) == 1 and clock.sleeps == []
        roomy = kit.make(server.url, clock=clock, sleep=clock.sleep)
        with roomy:
            assert "".join(roomy.generate_stream("hi")) == "y" * 300_000


@pytest.mark.parametrize("key", ["max_response_bytes", "max_line_bytes"])
def test_the_bounds_are_bounded_too(kit: FaultKit[Any], key: str) -> None:
    clock = FakeClock()
    for value in (10, 2**40):
        settings: dict[str, Any] = {key: value}
        with pytest.raises(ConfigError, match=rf"out of range: expected a number from 1024 to 2147483647 @ \$.{key}"):
            kit.make("http://127.0.0.1:9", clock=clock, sleep=clock.sleep, **settings)
