"""The ollama provider under injected faults, against the live local wire server.

Retries use a fake clock and sleep, so backoff and deadlines are exact and instant; only
the read-timeout cases wait for real, and then for a fraction of a second.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from obra_llm import LLMConnectionException, LLMResponseException, LLMTimeoutException, RateLimitError
from obra_llm.providers.ollama import OllamaLLM
from tests.support.fakes import FakeClock
from tests.support.ollama_wire import Answer, Cut, Hang, MidStreamError, OllamaWireServer, Status


@pytest.fixture
def server() -> Iterator[OllamaWireServer]:
    with OllamaWireServer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def provider(endpoint: str, clock: FakeClock, **config: object) -> OllamaLLM:
    llm = OllamaLLM(clock=clock, sleep=clock.sleep)
    llm.initialize({"endpoint": endpoint, "model": "qwen2.5-coder:32b"} | config)
    return llm


def test_503_then_success_retries_once(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(Status(503, "server busy, please try again.  maximum pending requests exceeded"))
    with provider(server.url, clock) as llm:
        assert llm.generate("hi") == "Hello from Ollama."
        assert len(server.chat_requests()) == 2
        assert len(clock.sleeps) == 1 and 0.375 <= clock.sleeps[0] <= 0.5
        assert llm.metrics["calls"] == 1 and llm.metrics["retries"] == 1 and llm.metrics["errors"] == 0


def test_429_retry_after_is_honoured(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(Status(429, "too many requests", {"Retry-After": "7"}))
    with provider(server.url, clock) as llm:
        assert llm.generate("hi") == "Hello from Ollama."
    assert clock.sleeps == [7.0]


def test_retry_after_beyond_cap_fails_fast(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(Status(429, "too many requests", {"Retry-After": "3600"}))
    with provider(server.url, clock) as llm, pytest.raises(RateLimitError) as caught:
        llm.generate("hi")
    assert caught.value.retry_after == 3600.0
    assert clock.sleeps == []
    assert len(server.chat_requests()) == 1


def test_persistent_5xx_stops_at_attempt_limit(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(*[Status(500, "the model failed to generate a response")] * 5)
    with provider(server.url, clock, retry_attempts=3) as llm, pytest.raises(LLMResponseException) as caught:
        llm.generate("hi")
    assert caught.value.status_code == 500
    assert len(server.chat_requests()) == 3
    assert len(clock.sleeps) == 2
    assert llm.metrics["errors"] == 1 and llm.metrics["retries"] == 2


def test_deadline_bounds_the_retries(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(*[Status(503, "busy")] * 10)
    config = {"retry_attempts": 10, "retry_backoff_base": 4.0, "retry_backoff_max": 8.0, "retry_deadline": 15.0, "timeout": 5}
    with provider(server.url, clock, **config) as llm, pytest.raises(LLMResponseException):
        llm.generate("hi")
    assert sum(clock.sleeps) < 15.0
    assert len(server.chat_requests()) < 10


def test_refused_connection_is_a_connection_error(clock: FakeClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with provider(f"http://127.0.0.1:{port}", clock, retry_attempts=2) as llm:
        with pytest.raises(LLMConnectionException, match="cannot connect"):
            llm.generate("hi")
        assert llm.is_available() is False
        assert llm.metrics["errors"] == 1 and llm.metrics["retries"] == 1


def test_slow_server_times_out_and_counts(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(Hang(1.0))
    with provider(server.url, clock, retry_attempts=1) as llm:
        with pytest.raises(LLMTimeoutException, match="within 0.2 s"):
            llm.generate("hi", timeout=0.2)
        assert llm.metrics["timeouts"] == 1 and llm.metrics["errors"] == 1


def test_stream_is_retried_before_the_first_piece(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(Status(503, "busy"), Answer(pieces=["a", "b"]))
    with provider(server.url, clock) as llm:
        assert list(llm.generate_stream("hi")) == ["a", "b"]
        assert llm.metrics["retries"] == 1


def test_stream_is_not_retried_after_a_piece(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(MidStreamError(["a"], "boom"), Answer(pieces=["never"]))
    with provider(server.url, clock) as llm:
        received: list[str] = []
        with pytest.raises(LLMResponseException, match="boom"):
            received.extend(llm.generate_stream("hi"))
        assert received == ["a"]
        assert len(server.chat_requests()) == 1


def test_connection_dropped_mid_body(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(Cut(["a"], drop_connection=True))
    with provider(server.url, clock, retry_attempts=1) as llm, pytest.raises(LLMConnectionException, match="broke"):
        list(llm.generate_stream("hi"))


def test_lines_split_anywhere_still_parse(server: OllamaWireServer, clock: FakeClock) -> None:
    pieces = ["Zürich ", "→ ", "東京 ", "🙂"]
    for size in (1, 2, 3, 7):
        server.queue(Answer(pieces=pieces, chunk_size=size))
    with provider(server.url, clock) as llm:
        for _ in range(4):
            assert "".join(llm.generate_stream("hi")) == "".join(pieces)


def test_streamed_calls_reuse_one_connection(server: OllamaWireServer, clock: FakeClock) -> None:
    with provider(server.url, clock) as llm:
        for _ in range(5):
            assert "".join(llm.generate_stream("hi")) == "Hello from Ollama."
        assert llm.generate("hi") == "Hello from Ollama."
    assert server.connections == 1


def test_abandoned_stream_closes_its_response(server: OllamaWireServer, clock: FakeClock) -> None:
    server.queue(Answer(pieces=["a", "b", "c"]))
    with provider(server.url, clock) as llm:
        stream = llm.generate_stream("hi")
        assert next(stream) == "a"
        stream.close()
        assert llm.metrics["calls"] == 1 and llm.metrics["errors"] == 0
        assert llm.generate("hi") == "Hello from Ollama."
