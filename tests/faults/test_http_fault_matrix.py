"""The fault matrix: every HTTP provider under every fault, against its own local wire server.

Each case runs for the six HTTP providers (``tests/faults/kits.py`` builds the faults in
each provider's wire format) and asserts the exception class, ``retryable``, how many
attempts the server saw, the sleeps (a fake clock: backoff and ``retry-after`` are exact
and instant, and the total deadline holds), exact metrics, and that no thread, descriptor
or socket outlives the provider (``no_leaks`` around its whole life, ``close()`` included).
Only the timeout cases wait for real: a 0.3 s timeout against a server that stalls 0.6 s.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from obra_llm import LLMException
from obra_llm.providers.http_api import HttpLLM
from tests.faults.kits import ALL_KITS, INVALID_JSON, RESET_WHOLE, FaultKit
from tests.support.fakes import FakeClock
from tests.support.leaks import no_leaks
from tests.support.wire_server import Chunked, Hang, Sse, WireServer

PIECES = ["Hello", ", wor", "ld: Zürich → 東京 🙂", "."]
TEXT = "".join(PIECES)
#: The timeout of the cases that wait for real, and how long the server stalls meanwhile.
TIMEOUT = 0.3
STALL = 0.6
#: The answer size of the big-answer case: 50 MB through each of the two shared stream readers
#: (OpenAI: SSE, Ollama: NDJSON), 8 MB for the other four providers. On this 2-core machine a
#: 50 MB stream takes 2-4 s per provider (about 18 s for all six, half the matrix's time again);
#: the other four use the same readers, so 8 MB covers their own processing at a fraction of it.
BIG_BYTES = {"openai": 50_000_000, "ollama": 50_000_000}
BIG_BYTES_DEFAULT = 8_000_000
@pytest.fixture(params=ALL_KITS, ids=[kit.name for kit in ALL_KITS])
def kit(request: pytest.FixtureRequest) -> FaultKit[Any]:
    chosen: FaultKit[Any] = request.param
    return chosen


@pytest.fixture
def server(kit: FaultKit[Any]) -> Iterator[WireServer]:
    with kit.running() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@contextmanager
def lifetime(kit: FaultKit[Any], url: str, clock: FakeClock, **settings: Any) -> Iterator[HttpLLM[Any]]:
    """The provider from construction to ``close()``, inside ``no_leaks``."""
    with no_leaks():
        llm = kit.make(url, clock=clock, sleep=clock.sleep, **settings)
        with llm:
            yield llm


def failure(call: Callable[[], object], kind: type[LLMException], *, retryable: bool, provider: str) -> LLMException:
    """The exception ``call`` raises: exactly ``kind``, with this ``retryable`` and ``provider``."""
    with pytest.raises(LLMException) as caught:
        call()
    error = caught.value
    assert type(error) is kind, f"{type(error).__name__}: {error}"
    assert error.retryable is retryable, repr(error)
    assert error.provider == provider, repr(error)
    return error


def streamed(llm: HttpLLM[Any], received: list[str]) -> Callable[[], None]:
    """A call that streams into ``received`` (so that pieces before a failure can be checked)."""
    return lambda: received.extend(llm.generate_stream("hi"))


def assert_metrics(
    llm: HttpLLM[Any],
    clock: FakeClock,
    *,
    calls: int = 1,
    errors: int = 0,
    timeouts: int = 0,
    retries: int = 0,
    tokens: tuple[int, int] = (0, 0),
) -> None:
    prompt, completion = tokens
    assert llm.metrics == {
        "calls": calls,
        "total_tokens": prompt + completion,
        "total_latency_ms": pytest.approx(sum(clock.sleeps) * 1000.0),
        "errors": errors,
        "timeouts": timeouts,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "retries": retries,
        "structured_repairs": 0,
    }


def assert_backoff(sleeps: Sequence[float], *, base: float = 0.5, cap: float = 8.0, jitter: float = 0.25) -> None:
    """Each sleep is the policy's exponential backoff, shortened by at most ``jitter``."""
    for retries_done, slept in enumerate(sleeps):
        full = min(base * 2.0**retries_done, cap)
        assert full * (1 - jitter) <= slept <= full, (retries_done, slept)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- cases -----------------------------------------------------------------------------------------


def test_connection_refused(kit: FaultKit[Any], clock: FakeClock) -> None:
    with lifetime(kit, f"http://127.0.0.1:{closed_port()}", clock, retry_attempts=3) as llm:
        error = failure(lambda: llm.generate("hi"), kit.refused_class, retryable=True, provider=kit.name)
        assert "cannot connect" in error.message and "gave up after 3 attempt(s)" in error.__notes__
        failure(streamed(llm, []), kit.refused_class, retryable=True, provider=kit.name)
        assert len(clock.sleeps) == 4
        assert_backoff(clock.sleeps[:2])
        assert_backoff(clock.sleeps[2:])
        assert_metrics(llm, clock, calls=2, errors=2, retries=4)


def test_reset_mid_stream_after_a_piece_is_raised(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(kit.reset(server, PIECES[:2]), kit.answer(server, PIECES, stream=True))
    with lifetime(kit, server.url, clock) as llm:
        received: list[str] = []
        error = failure(streamed(llm, received), kit.reset_class, retryable=True, provider=kit.name)
        assert "broke" in error.message
        assert received == PIECES[:2]
        assert kit.attempts(server) == 1 and clock.sleeps == []
        assert "".join(llm.generate_stream("again")) == TEXT
        assert_metrics(llm, clock, calls=2, errors=1, tokens=kit.tokens(PIECES))
    assert kit.attempts(server) == 2


def test_reset_mid_body_of_a_whole_answer_is_retried(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(RESET_WHOLE, kit.answer(server, PIECES, stream=False))
    with lifetime(kit, server.url, clock) as llm:
        assert llm.generate("hi") == TEXT
        assert kit.attempts(server) == 2
        assert len(clock.sleeps) == 1
        assert_backoff(clock.sleeps)
        assert_metrics(llm, clock, retries=1, tokens=kit.tokens(PIECES))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_5xx_then_success(kit: FaultKit[Any], server: WireServer, clock: FakeClock, stream: bool) -> None:
    server.queue(kit.server_error(), kit.answer(server, PIECES, stream=stream))
    with lifetime(kit, server.url, clock) as llm:
        answer = "".join(llm.generate_stream("hi")) if stream else llm.generate("hi")
        assert answer == TEXT
        assert kit.attempts(server) == 2
        assert len(clock.sleeps) == 1
        assert_backoff(clock.sleeps)
        assert_metrics(llm, clock, retries=1, tokens=kit.tokens(PIECES))


def test_5xx_until_the_attempts_run_out(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(*[kit.server_error() for _ in range(5)])
    with lifetime(kit, server.url, clock, retry_attempts=3) as llm:
        error = failure(lambda: llm.generate("hi"), kit.server_error_class, retryable=True, provider=kit.name)
        assert error.status_code is not None and error.status_code >= 500
        assert "gave up after 3 attempt(s)" in error.__notes__
        assert kit.attempts(server) == 3
        assert len(clock.sleeps) == 2
        assert_backoff(clock.sleeps)
        assert_metrics(llm, clock, errors=1, retries=2)


def test_5xx_retries_stop_at_the_total_deadline(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(*[kit.server_error() for _ in range(10)])
    settings = {"retry_attempts": 10, "retry_backoff_base": 4.0, "retry_backoff_max": 8.0, "retry_deadline": 15.0, "timeout": 5}
    with lifetime(kit, server.url, clock, **settings) as llm:
        error = failure(lambda: llm.generate("hi"), kit.server_error_class, retryable=True, provider=kit.name)
        # Sleeps of 3-4 s and 6-8 s leave no room for a third (6-8 s) within 15 s.
        assert any("would cross the 15 s retry deadline" in note for note in error.__notes__)
        assert kit.attempts(server) == 3
        assert len(clock.sleeps) == 2 and sum(clock.sleeps) < 15.0
        assert_backoff(clock.sleeps, base=4.0)
        assert_metrics(llm, clock, errors=1, retries=2)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_429_retry_hint_is_waited_exactly(kit: FaultKit[Any], server: WireServer, clock: FakeClock, stream: bool) -> None:
    server.queue(kit.rate_limited(7), kit.answer(server, PIECES, stream=stream))
    with lifetime(kit, server.url, clock) as llm:
        answer = "".join(llm.generate_stream("hi")) if stream else llm.generate("hi")
        assert answer == TEXT
        assert kit.attempts(server) == 2
        assert clock.sleeps == [7.0]
        assert_metrics(llm, clock, retries=1, tokens=kit.tokens(PIECES))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_retry_after_beyond_the_cap_fails_fast(kit: FaultKit[Any], server: WireServer, clock: FakeClock, stream: bool) -> None:
    server.queue(kit.retry_after_beyond_cap(3600), kit.answer(server, PIECES, stream=stream))
    with lifetime(kit, server.url, clock) as llm:
        call = streamed(llm, []) if stream else lambda: llm.generate("hi")
        error = failure(call, kit.rate_limit_class, retryable=True, provider=kit.name)
        assert error.status_code == 429 and error.retry_after == 3600.0
        assert any("more than retry_after_max=60 s" in note for note in error.__notes__)
        assert kit.attempts(server) == 1
        assert clock.sleeps == []
        assert_metrics(llm, clock, errors=1)


def test_slow_headers_time_out(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(Hang(STALL), Hang(STALL))
    with lifetime(kit, server.url, clock, timeout=TIMEOUT, retry_attempts=1) as llm:
        started = time.monotonic()
        error = failure(lambda: llm.generate("hi"), kit.timeout_class, retryable=True, provider=kit.name)
        assert f"within {TIMEOUT:g} s" in error.message
        failure(streamed(llm, []), kit.timeout_class, retryable=True, provider=kit.name)
        # The timeout class already proves the client gave up first; this only bounds the wait.
        assert time.monotonic() - started < 2 * STALL + 1.0
        assert kit.attempts(server) == 2 and clock.sleeps == []
        assert_metrics(llm, clock, calls=2, errors=2, timeouts=2)


def test_slow_body_times_out(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    slow_whole = Chunked(['{"id": "x", '], content_type="application/json", stall=STALL)
    server.queue(kit.slow_body(server, PIECES[:1], STALL), slow_whole, kit.answer(server, PIECES, stream=False))
    with lifetime(kit, server.url, clock, timeout=TIMEOUT, retry_attempts=2) as llm:
        started = time.monotonic()
        received: list[str] = []
        # A piece reached the caller: the timeout is raised, not retried, though retryable.
        error = failure(streamed(llm, received), kit.timeout_class, retryable=True, provider=kit.name)
        assert f"within {TIMEOUT:g} s" in error.message
        assert received == PIECES[:1]
        assert kit.attempts(server) == 1 and clock.sleeps == []
        # Nothing reached the caller of a whole answer: its timed-out attempt is retried.
        assert llm.generate("hi") == TEXT
        assert time.monotonic() - started < 2 * STALL + 1.0
        assert kit.attempts(server) == 3
        assert len(clock.sleeps) == 1
        assert_backoff(clock.sleeps)
        assert_metrics(llm, clock, calls=2, errors=1, timeouts=1, retries=1, tokens=kit.tokens(PIECES))


def test_truncated_stream_after_a_piece_is_raised(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(kit.truncated(server, PIECES[:2]), kit.answer(server, PIECES, stream=True))
    with lifetime(kit, server.url, clock) as llm:
        received: list[str] = []
        error = failure(streamed(llm, received), kit.truncated_class, retryable=True, provider=kit.name)
        assert "cut" in error.message
        assert received == PIECES[:2]
        assert kit.attempts(server) == 1 and clock.sleeps == []
        assert_metrics(llm, clock, errors=1)


def test_truncated_stream_before_any_piece_is_retried(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(kit.truncated(server, []), kit.answer(server, PIECES, stream=True))
    with lifetime(kit, server.url, clock) as llm:
        assert list(llm.generate_stream("hi")) == PIECES
        assert kit.attempts(server) == 2
        assert len(clock.sleeps) == 1
        assert_backoff(clock.sleeps)
        assert_metrics(llm, clock, retries=1, tokens=kit.tokens(PIECES))


def test_invalid_json_with_status_200(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(INVALID_JSON)
    with lifetime(kit, server.url, clock) as llm:
        error = failure(lambda: llm.generate("hi"), kit.invalid_json_class, retryable=False, provider=kit.name)
        assert "not JSON" in error.message and error.status_code == 200
        assert kit.attempts(server) == 1 and clock.sleeps == []
        assert_metrics(llm, clock, errors=1)


def test_invalid_json_in_a_stream(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(kit.invalid_stream())
    with lifetime(kit, server.url, clock) as llm:
        error = failure(streamed(llm, []), kit.invalid_json_class, retryable=False, provider=kit.name)
        assert "not JSON" in error.message
        assert kit.attempts(server) == 1 and clock.sleeps == []
        assert_metrics(llm, clock, errors=1)


def test_invalid_utf8_in_a_stream(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(kit.invalid_utf8_stream)
    with lifetime(kit, server.url, clock) as llm:
        error = failure(streamed(llm, []), kit.invalid_json_class, retryable=False, provider=kit.name)
        assert "UTF-8" in error.message or "not JSON" in error.message
        assert kit.attempts(server) == 1 and clock.sleeps == []
        assert_metrics(llm, clock, errors=1)


def test_error_after_200_before_any_piece(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(kit.stream_error(server, []), kit.answer(server, PIECES, stream=True))
    with lifetime(kit, server.url, clock) as llm:
        if kit.stream_error_retryable:
            assert list(llm.generate_stream("hi")) == PIECES
            assert kit.attempts(server) == 2
            assert len(clock.sleeps) == 1
            assert_backoff(clock.sleeps)
            assert_metrics(llm, clock, retries=1, tokens=kit.tokens(PIECES))
        else:
            failure(streamed(llm, []), kit.stream_error_class, retryable=False, provider=kit.name)
            assert kit.attempts(server) == 1 and clock.sleeps == []
            assert_metrics(llm, clock, errors=1)


def test_error_after_200_after_a_piece_is_raised(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    server.queue(kit.stream_error(server, PIECES[:2]), kit.answer(server, PIECES, stream=True))
    with lifetime(kit, server.url, clock) as llm:
        received: list[str] = []
        failure(streamed(llm, received), kit.stream_error_class, retryable=kit.stream_error_retryable, provider=kit.name)
        assert received == PIECES[:2]
        assert kit.attempts(server) == 1 and clock.sleeps == []
        assert_metrics(llm, clock, errors=1)


def test_big_streamed_answer(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    block = "The quick brown fox jumps over the lazy dog; Zürich → 東京, naïve café. " * 800
    size = BIG_BYTES.get(kit.name, BIG_BYTES_DEFAULT)
    count = -(-size // len(block.encode()))
    pieces = [f"{index:08d}{block}" for index in range(count)]
    expected = "".join(pieces)
    assert len(expected.encode()) >= size
    server.queue(kit.answer(server, pieces, stream=True))
    with lifetime(kit, server.url, clock) as llm:
        text = "".join(llm.generate_stream("hi"))
        assert len(text) == len(expected)
        assert text == expected
        assert kit.attempts(server) == 1
        assert_metrics(llm, clock, tokens=kit.tokens(pieces))


def test_utf8_split_across_chunks_on_one_connection(kit: FaultKit[Any], server: WireServer, clock: FakeClock) -> None:
    pieces = ["Zürich ", "→ ", "東京 ", "🙂", " naïve café"]
    replies = [kit.answer(server, pieces, stream=True, chunk_size=size) for size in (1, 3, 2, 7)]
    for reply in replies:
        assert isinstance(reply, Sse | Chunked)
        wire = "".join(reply.frames if isinstance(reply, Sse) else reply.pieces).encode()
        assert "東京".encode() in wire and "🙂".encode() in wire  # raw UTF-8, so chunks do split characters
    server.queue(*replies, kit.answer(server, pieces, stream=False))
    with lifetime(kit, server.url, clock) as llm:
        for _ in replies:
            assert list(llm.generate_stream("hi")) == pieces
        assert llm.generate("hi") == "".join(pieces)
        assert server.connections == 1
        prompt, completion = kit.tokens(pieces)
        assert_metrics(llm, clock, calls=5, tokens=(5 * prompt, 5 * completion))
