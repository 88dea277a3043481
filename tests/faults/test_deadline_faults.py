"""``timeout`` bounds an attempt, whatever the server trickles, for every HTTP provider.

Seen on 19bf5c7: with ``timeout: 2`` a server trickling the headers or the body a byte at a
time, an Ollama stream of blank keep-alive lines and an Anthropic stream of ``ping`` events
each held the call for as long as the server went on (httpx times each read, and each byte
came within it); ``is_available()`` took 6 s. Here the server goes on for about 10 s against
``timeout: 1``: a whole answer must end about 1 s after it started, a stream about 1 s
after its last useful piece, and a long but healthy stream must not be cut. These tests wait
for real, so their margins are generous (4 s against 1 s; the server would go on for 10 s).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest

from obra_llm.errors import LLMTimeoutException
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.lifecycle import PROBE_TIMEOUT
from tests.faults.kits import FaultKit
from tests.support.fakes import FakeClock
from tests.support.wire_server import Chunked, Json, Raw, Reply, Request, Sse, TrickledHead, WireServer

TIMEOUT = 1.0
MARGIN = 4.0
#: How long a hostile server would go on: far past every bound under test.
GOES_ON = 10.0


class _TricklingServer(WireServer):
    """Answers every request (generation, probe, model info) with headers that never end."""

    def route(self, request: Request) -> Reply:
        return TrickledHead(gap=0.2, seconds=GOES_ON)


def _frames(reply: Sse | Chunked) -> list[str]:
    return list(reply.frames) if isinstance(reply, Sse) else list(reply.pieces)


def _stream(reply: Sse | Chunked, frames: Sequence[str], *, gap: float) -> Chunked:
    content_type = "text/event-stream" if isinstance(reply, Sse) else reply.content_type
    return Chunked(frames, content_type=content_type, gap=gap)


def _times_out(llm: HttpLLM[Any]) -> tuple[LLMTimeoutException, float]:
    """The timeout ``llm.generate`` raises (``llm`` closed afterwards), and the real seconds it took."""
    with llm:
        started = time.monotonic()
        with pytest.raises(LLMTimeoutException) as caught:
            llm.generate("hi")
        return caught.value, time.monotonic() - started


def _keep_alives(kit: FaultKit[Any], seconds: float, gap: float = 0.2) -> list[str]:
    return [kit.keep_alive] * int(seconds / gap)


def test_a_trickling_whole_answer_times_out_on_time(kit: FaultKit[Any]) -> None:
    clock = FakeClock()
    with kit.running() as server:
        answer = kit.answer(server, ["Hello", "."], stream=False)
        assert isinstance(answer, Json | Raw)
        text = json.dumps(answer.body) if isinstance(answer, Json) else answer.body.decode()
        server.queue(Chunked([text], content_type="application/json", chunk_size=max(1, len(text) // 100), gap=0.1))
        llm = kit.make(server.url, clock=clock, sleep=clock.sleep, timeout=TIMEOUT, retry_attempts=1)
        error, spent = _times_out(llm)
    assert f"did not send its whole answer within {TIMEOUT:g} s" in error.message
    assert spent < MARGIN, f"{spent:.1f} s"
    assert llm.metrics["timeouts"] == 1


def test_trickling_headers_time_out_on_time(kit: FaultKit[Any]) -> None:
    with _TricklingServer() as server:
        llm = kit.make(server.url, clock=time.monotonic, sleep=time.sleep, timeout=TIMEOUT, retry_attempts=1)
        error, spent = _times_out(llm)
    assert f"did not send its whole answer within {TIMEOUT:g} s (the timeout bounds an attempt" in error.message
    assert spent < MARGIN, f"{spent:.1f} s"
    assert llm.metrics["timeouts"] == 1


def test_is_available_answers_within_its_bound_against_trickling_headers(kit: FaultKit[Any]) -> None:
    with _TricklingServer() as server:
        llm = kit.make(server.url, clock=time.monotonic, sleep=time.sleep, timeout=30.0)
        with llm:
            started = time.monotonic()
            assert llm.is_available() is False
            spent = time.monotonic() - started
    assert spent < PROBE_TIMEOUT + 2.0, f"{spent:.1f} s"


def test_the_retry_deadline_bounds_every_attempt_and_the_waits(kit: FaultKit[Any]) -> None:
    """``timeout: 2``, ``retry_deadline: 3``: the second attempt gets the 1 s left, not 2 s."""
    with _TricklingServer() as server:
        llm = kit.make(
            server.url, clock=time.monotonic, sleep=time.sleep, timeout=2.0, retry_deadline=3.0, retry_attempts=5,
            retry_backoff_base=0.1,
        )
        with llm:
            started = time.monotonic()
            with pytest.raises(LLMTimeoutException):
                llm.generate("hi")
            spent = time.monotonic() - started
    assert spent < 3.0 + 2.0, f"{spent:.1f} s"
    assert len(server.requests) >= 2  # a second attempt started, inside the deadline


def test_keep_alives_before_the_first_piece_are_not_progress(kit: FaultKit[Any]) -> None:
    with kit.running() as server:
        answer = kit.answer(server, ["Hello", "."], stream=True)
        assert isinstance(answer, Sse | Chunked)
        server.queue(_stream(answer, [*_keep_alives(kit, GOES_ON), *_frames(answer)], gap=0.2))
        llm = kit.make(server.url, clock=time.monotonic, sleep=time.sleep, timeout=TIMEOUT, retry_attempts=1)
        with llm:
            started = time.monotonic()
            with pytest.raises(LLMTimeoutException) as caught:
                list(llm.generate_stream("hi"))
            spent = time.monotonic() - started
    assert f"sent nothing useful within {TIMEOUT:g} s (keep-alive lines and pings are not progress)" in caught.value.message
    assert spent < MARGIN, f"{spent:.1f} s"
    assert llm.metrics["timeouts"] == 1


def test_keep_alives_after_a_piece_are_not_progress_either(kit: FaultKit[Any]) -> None:
    with kit.running() as server:
        answer = kit.answer(server, ["Hello", "."], stream=True)
        assert isinstance(answer, Sse | Chunked)
        frames = _frames(answer)
        first = next(index for index, frame in enumerate(frames) if "Hello" in frame)
        server.queue(_stream(answer, [*frames[: first + 1], *_keep_alives(kit, GOES_ON), *frames[first + 1 :]], gap=0.2))
        llm = kit.make(server.url, clock=time.monotonic, sleep=time.sleep, timeout=TIMEOUT, retry_attempts=3)
        with llm:
            pieces = llm.generate_stream("hi")
            assert next(pieces) == "Hello"
            started = time.monotonic()
            with pytest.raises(LLMTimeoutException) as caught:
                next(pieces)
            spent = time.monotonic() - started
    assert "sent nothing useful" in caught.value.message
    assert spent < MARGIN, f"{spent:.1f} s"
    assert kit.attempts(server) == 1  # a piece had reached the caller: never retried


def test_a_long_healthy_stream_is_not_cut(kit: FaultKit[Any]) -> None:
    """Pieces every 0.3 s, keep-alives between them, for 3 s in all against ``timeout: 1``; the
    caller pausing longer than ``timeout`` between pieces is not the server's silence either."""
    pieces = [f"p{index} " for index in range(6)]
    with kit.running() as server:
        answer = kit.answer(server, pieces, stream=True)
        assert isinstance(answer, Sse | Chunked)
        frames = [part for frame in _frames(answer) for part in (frame, kit.keep_alive)]
        server.queue(_stream(answer, frames, gap=0.15))
        llm = kit.make(server.url, clock=time.monotonic, sleep=time.sleep, timeout=TIMEOUT, retry_attempts=1)
        with llm:
            got = []
            for piece in llm.generate_stream("hi"):
                got.append(piece)
                if len(got) == 2:
                    time.sleep(TIMEOUT * 1.5)
    assert "".join(got) == "".join(pieces)
