"""The fault matrix of fallback chains: every failure class, on mixed members, with exact counts.

Members are real providers: Anthropic, OpenAI and Ollama over loopback against their local
wire servers, Codex replaying the real CLI's recorded transcripts. One fake clock drives the
chain and every member's retries. For each fault on the first member the table says what
the member raises and how many attempts it makes; the chain must then move on (the next
member answers, the one after is never asked) or raise, exactly as ``docs/fallback.md``
documents, and count it so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from obra_llm.errors import (
    AuthenticationError,
    ConfigError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    RateLimitError,
)
from obra_llm.fallback import MOVE_ON_DEFAULTS, FailureClass, classify
from tests.support import anthropic_wire, openai_wire
from tests.support.chains import ChainBench, chain_bench
from tests.support.console import refused_url
from tests.support.ollama_wire import Hang, Status
from tests.support.wire_server import Raw, Sse

#: What the second member of each chain answers (its wire server's or transcript's default answer).
ANSWERS = {
    "anthropic": "".join(anthropic_wire.QUALITY_ANSWER.pieces),
    "ollama": "Hello from Ollama.",
    "openai-codex": "Hello",
}
#: The member tried after each first member, and the one after it (never reached when the second answers).
NEXT = {"openai-codex": ("anthropic", "ollama"), "anthropic": ("ollama", "openai-codex"), "openai": ("ollama", "anthropic"), "ollama": ("openai-codex", "anthropic")}


@attrs.frozen
class Fault:
    """A fault on a chain's first member: how to cause it, and what the member does with it."""

    name: str
    member: str
    failure: FailureClass
    raised: type[LLMException]
    attempts: int
    cause: Callable[[ChainBench], None] = lambda _bench: None
    settings: dict[str, Any] = attrs.Factory(dict)
    #: Whether the wire server sees the attempts (a refused connection never reaches one).
    reaches_server: bool = True


def _queue(name: str, reply: Callable[[], Any], times: int) -> Callable[[ChainBench], None]:
    def cause(bench: ChainBench) -> None:
        server = getattr(bench, name)
        server.queue(*[reply() for _ in range(times)])

    return cause


def _codex(scenario: str, times: int) -> Callable[[ChainBench], None]:
    return lambda bench: bench.codex.queue(*[scenario] * times)


FAULTS = [
    Fault("refused", "ollama", "connection", LLMConnectionException, 3, settings={"base_url": "<closed>"}, reaches_server=False),
    Fault("hang", "ollama", "timeout", LLMTimeoutException, 2, _queue("ollama", lambda: Hang(2.0), 2), {"timeout": 0.25, "retry_attempts": 2}),
    Fault("hang", "openai-codex", "timeout", LLMTimeoutException, 3, _codex("hang", 3)),
    Fault("429", "anthropic", "rate_limit", RateLimitError, 3, _queue("anthropic", lambda: anthropic_wire.error_reply(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", {"retry-after": "1"}), 3)),
    Fault("429", "openai-codex", "rate_limit", RateLimitError, 3, _codex("rate_limited", 3)),
    Fault("insufficient_quota", "openai", "quota", RateLimitError, 1, _queue("openai", openai_wire.insufficient_quota, 1)),
    Fault("529", "anthropic", "overloaded", LLMResponseException, 3, _queue("anthropic", lambda: anthropic_wire.error_reply(529, "overloaded_error", "Overloaded"), 3)),
    Fault("503", "openai", "overloaded", LLMResponseException, 3, _queue("openai", openai_wire.server_overloaded, 3)),
    Fault("500", "ollama", "overloaded", LLMResponseException, 3, _queue("ollama", lambda: Status(500, "the model failed to generate a response"), 3)),
    Fault("high_demand", "openai-codex", "overloaded", LLMResponseException, 3, _codex("server_error", 3)),
    Fault("not_pulled", "ollama", "model_not_found", ModelNotFoundError, 1, settings={"model": "qwen3:0.6b"}),
    Fault("missing_model", "openai-codex", "model_not_found", ModelNotFoundError, 1, _codex("model_not_found", 1)),
    Fault("401", "anthropic", "authentication", AuthenticationError, 1, settings={"api_key": "wrong-key-not-a-secret"}),
    Fault("401", "openai-codex", "authentication", AuthenticationError, 1, _codex("unauthorized", 1)),
    Fault("400", "anthropic", "bad_request", LLMResponseException, 1, _queue("anthropic", lambda: anthropic_wire.error_reply(400, "invalid_request_error", "messages: roles must alternate"), 1)),
    Fault("not_json", "ollama", "bad_response", LLMResponseException, 1, _queue("ollama", lambda: Raw(200, b"<html>proxy error</html>", "text/html"), 1)),
]


#: ``MOVE_ON_DEFAULTS`` keyed by any failure class (``bad_request`` is never one to move on for).
DEFAULTS = dict[str, bool](MOVE_ON_DEFAULTS.items())


def _id(fault: Fault) -> str:
    return f"{fault.member}-{fault.name}"


@pytest.fixture
def bench() -> Iterator[ChainBench]:
    with chain_bench() as made:
        yield made


def _chain_for(bench: ChainBench, fault: Fault, **settings: Any) -> Any:
    member_settings = {key: (refused_url() if value == "<closed>" else value) for key, value in fault.settings.items()}
    second, third = NEXT[fault.member]
    fault.cause(bench)
    return bench.chain(bench.config(fault.member, **member_settings), bench.config(second), bench.config(third), **settings)


def _expected_requests(fault: Fault, *, moved_on: bool) -> dict[str, int]:
    second, _ = NEXT[fault.member]
    requests = {"anthropic": 0, "openai": 0, "ollama": 0, "openai-codex": 0}
    requests[fault.member] = fault.attempts if fault.reaches_server else 0
    if moved_on:
        requests[second] += 1
    return requests


def _check_first_member(llm: Any, fault: Fault) -> None:
    first = llm.metrics["members"][0]
    assert (first["served"], first["failed"], first["skipped"]) == (0, 1, 0)
    assert (first["metrics"]["calls"], first["metrics"]["retries"]) == (1, fault.attempts - 1)


@pytest.mark.parametrize("fault", FAULTS, ids=_id)
def test_the_chain_moves_on_or_raises_as_documented(bench: ChainBench, fault: Fault) -> None:
    llm = _chain_for(bench, fault)
    moves_on = DEFAULTS.get(fault.failure, False)
    second, third = NEXT[fault.member]

    if moves_on:
        assert llm.generate("Rate this change") == ANSWERS[second]
    else:
        with pytest.raises(fault.raised) as caught:
            llm.generate("Rate this change")
        assert type(caught.value) is fault.raised
        assert classify(caught.value) == fault.failure

    assert bench.chat_requests() == _expected_requests(fault, moved_on=moves_on)
    _check_first_member(llm, fault)
    metrics = llm.metrics
    assert (metrics["calls"], metrics["errors"]) == (1, 0 if moves_on else 1)
    assert metrics["timeouts"] == 0
    assert metrics["fallbacks"] == ({f"{fault.member} -> {second}": 1} if moves_on else {})
    assert [member["served"] for member in metrics["members"]] == [0, 1 if moves_on else 0, 0]
    assert metrics["members"][2]["metrics"]["calls"] == 0, f"{third} must never be asked"


@pytest.mark.parametrize("fault", FAULTS, ids=_id)
def test_a_stream_moves_on_before_its_first_piece_as_documented(bench: ChainBench, fault: Fault) -> None:
    llm = _chain_for(bench, fault)
    moves_on = DEFAULTS.get(fault.failure, False)
    second, _ = NEXT[fault.member]
    pieces: list[str] = []

    if moves_on:
        pieces = list(llm.generate_stream("Rate this change"))
        assert "".join(pieces) == ANSWERS[second]
    else:
        with pytest.raises(fault.raised):
            pieces.extend(llm.generate_stream("Rate this change"))
        assert pieces == []

    assert bench.chat_requests() == _expected_requests(fault, moved_on=moves_on)
    _check_first_member(llm, fault)
    assert (llm.metrics["calls"], llm.metrics["errors"]) == (1, 0 if moves_on else 1)


OPT_IN = [fault for fault in FAULTS if not DEFAULTS.get(fault.failure, True)]
OPT_OUT = [fault for fault in FAULTS if DEFAULTS.get(fault.failure, False)]


@pytest.mark.parametrize("fault", OPT_IN, ids=_id)
def test_a_class_turned_on_moves_on(bench: ChainBench, fault: Fault) -> None:
    llm = _chain_for(bench, fault, fallback_on={fault.failure: True})
    second, _ = NEXT[fault.member]

    assert llm.generate("Rate this change") == ANSWERS[second]
    assert bench.chat_requests() == _expected_requests(fault, moved_on=True)


@pytest.mark.parametrize("fault", OPT_OUT, ids=_id)
def test_a_class_turned_off_raises(bench: ChainBench, fault: Fault) -> None:
    llm = _chain_for(bench, fault, fallback_on={fault.failure: False})

    with pytest.raises(fault.raised):
        llm.generate("Rate this change")
    assert bench.chat_requests() == _expected_requests(fault, moved_on=False)


def test_a_bad_request_is_raised_even_with_every_class_on(bench: ChainBench) -> None:
    fault = next(fault for fault in FAULTS if fault.failure == "bad_request")
    llm = _chain_for(bench, fault, fallback_on=dict.fromkeys(MOVE_ON_DEFAULTS, True))

    with pytest.raises(LLMResponseException, match="roles must alternate") as caught:
        llm.generate("Rate this change")
    assert caught.value.status_code == 400
    assert bench.chat_requests() == _expected_requests(fault, moved_on=False)


def test_a_caller_error_is_raised_before_any_member_is_asked(bench: ChainBench) -> None:
    llm = bench.chain(bench.config("anthropic"), bench.config("ollama"))

    with pytest.raises(ConfigError, match="temperature"):
        llm.generate("Rate this change", temperature=7.0)
    assert bench.chat_requests() == {"anthropic": 0, "openai": 0, "ollama": 0, "openai-codex": 0}
    assert (llm.metrics["calls"], llm.metrics["errors"]) == (1, 1)


def test_when_every_member_fails_the_last_error_is_raised_with_the_others_in_its_notes(bench: ChainBench) -> None:
    bench.codex.queue("rate_limited", "rate_limited", "rate_limited")
    bench.anthropic.queue(*[anthropic_wire.error_reply(529, "overloaded_error", "Overloaded")] * 3)
    llm = bench.chain(bench.config("openai-codex"), bench.config("anthropic"), bench.config("ollama", base_url=refused_url()))

    with pytest.raises(LLMConnectionException) as caught:
        llm.generate("Rate this change")

    notes = [note for note in caught.value.__notes__ if note.startswith("fallback:")]
    assert notes[0] == "fallback: every member of the chain failed or was skipped"
    assert notes[1].startswith("fallback: openai-codex failed (rate_limit): [openai-codex]")
    assert notes[2].startswith("fallback: anthropic failed (overloaded): [anthropic]")
    assert bench.chat_requests() == {"anthropic": 3, "openai": 0, "ollama": 0, "openai-codex": 3}
    metrics = llm.metrics
    assert (metrics["calls"], metrics["errors"], metrics["timeouts"]) == (1, 1, 0)
    assert metrics["fallbacks"] == {"openai-codex -> anthropic": 1, "anthropic -> ollama": 1}


def test_a_member_that_cannot_start_is_skipped_and_named() -> None:
    with chain_bench(codex_installed=False) as bench:
        llm = bench.chain(bench.config("openai-codex"), bench.config("anthropic"))

        assert llm.generate("Rate this change") == ANSWERS["anthropic"]
        assert bench.chat_requests()["anthropic"] == 1
        problems = dict(llm.member_problems())
        assert problems["openai-codex"] is not None and "not installed" in problems["openai-codex"]
        assert problems["anthropic"] is None
        assert llm.metrics["members"][0]["skipped"] == 1
        assert llm.metrics["fallbacks"] == {}  # nothing was tried before anthropic


def test_a_stream_that_fails_after_its_first_piece_is_raised_not_mixed(bench: ChainBench) -> None:
    frames = [*anthropic_wire.answer_frames("claude-sonnet-4-5", anthropic_wire.Answer(pieces=["SCORE: ", "7"]), complete=False)]
    frames.append(anthropic_wire.error_event("overloaded_error", "Overloaded"))
    bench.anthropic.queue(Sse(frames))
    llm = bench.chain(bench.config("anthropic"), bench.config("ollama"))
    pieces: list[str] = []

    with pytest.raises(LLMResponseException, match="Overloaded"):
        pieces.extend(llm.generate_stream("Rate this change"))

    assert pieces == ["SCORE: ", "7"]  # the first member's text only, never the second's after it
    assert bench.chat_requests()["ollama"] == 0
    assert (llm.metrics["calls"], llm.metrics["errors"]) == (1, 1)
    assert llm.get_model_info()["details"]["states"]["anthropic"] == "cooling"  # overloaded: skipped next time


def test_a_stream_abandoned_by_its_reader_counts_as_a_call_and_closes_the_member(bench: ChainBench) -> None:
    llm = bench.chain(bench.config("anthropic"), bench.config("ollama"))
    stream = llm.generate_stream("Rate this change")

    assert next(stream) == "SCORE: 8"
    stream.close()

    metrics = llm.metrics
    assert (metrics["calls"], metrics["errors"]) == (1, 0)
    assert metrics["members"][0]["metrics"]["calls"] == 1
