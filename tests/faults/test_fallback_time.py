"""Fallback chains in time: one deadline across the chain, and cooldowns, on one injected clock.

The members are real providers against local wire servers; the only time that passes is
what their retries sleep (``retry-after`` hints, backoff) on the shared fake clock, so every
figure here is exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Unpack

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obra_llm.errors import LLMConnectionException, LLMException, LLMTimeoutException, RateLimitError
from obra_llm.fallback import FallbackLLM
from obra_llm.protocol import GenerateOptions, LLMPlugin
from tests.support import anthropic_wire, openai_wire
from tests.support.chains import ChainBench, chain_bench
from tests.support.fakes import FakeClock
from tests.support.ollama_wire import Status

OLLAMA_ANSWER = "Hello from Ollama."
ANTHROPIC_ANSWER = "".join(anthropic_wire.QUALITY_ANSWER.pieces)


def _rate_limited(seconds: str) -> Any:
    return anthropic_wire.error_reply(429, "rate_limit_error", "rate limited", {"retry-after": seconds})


@pytest.fixture
def bench() -> Iterator[ChainBench]:
    with chain_bench() as made:
        yield made


# -- one deadline --------------------------------------------------------------------------


def test_the_chain_deadline_cuts_a_members_own_retries(bench: ChainBench) -> None:
    bench.anthropic.queue(*[_rate_limited("2")] * 9)
    llm = bench.chain(bench.config("anthropic", retry_attempts=9, retry_deadline=600, timeout=30), bench.config("ollama"), deadline=5, min_member_time=1)
    started = bench.clock.now

    assert llm.generate("Rate this change") == OLLAMA_ANSWER

    # Attempts at 0, 2 and 4 s; a fourth would start at 6 s, past the chain's 5 s (the member alone allows 600 s).
    assert bench.chat_requests()["anthropic"] == 3
    assert bench.clock.sleeps == [2.0, 2.0]
    assert bench.clock.now - started == 4.0
    assert bench.chat_requests()["ollama"] == 1  # 1 s was left: exactly min_member_time


def test_a_member_is_not_started_with_less_than_min_member_time_left(bench: ChainBench) -> None:
    bench.anthropic.queue(*[_rate_limited("2")] * 9)
    llm = bench.chain(bench.config("anthropic", retry_attempts=9), bench.config("ollama"), deadline=5, min_member_time=1.5)

    with pytest.raises(LLMTimeoutException, match=r"deadline of 5 s has 1 s left, less than min_member_time=1.5 s, so ollama") as caught:
        llm.generate("Rate this change")

    assert isinstance(caught.value.__cause__, RateLimitError)
    assert any("anthropic failed (rate_limit)" in note for note in caught.value.__notes__)
    assert bench.chat_requests()["ollama"] == 0
    metrics = llm.metrics
    assert (metrics["calls"], metrics["errors"], metrics["timeouts"]) == (1, 1, 1)
    assert metrics["total_latency_ms"] == 4000.0


def test_an_outer_budget_bounds_a_nested_chain(bench: ChainBench) -> None:
    bench.anthropic.queue(*[_rate_limited("2")] * 9)
    inner = {"type": "fallback", "members": [bench.config("anthropic", retry_attempts=9)], "deadline": 100}
    llm = bench.chain(inner, bench.config("ollama"), deadline=3, min_member_time=0.5)
    started = bench.clock.now

    assert llm.generate("Rate this change") == OLLAMA_ANSWER
    assert bench.clock.now - started == 2.0  # the inner chain had 3 s, not its own 100 s
    assert bench.chat_requests()["anthropic"] == 2


class ForeignLLM:
    """A plugin of the orchestrator's own (no obra_llm base, no settings): it sees only ``timeout``."""

    seen: list[GenerateOptions] = []

    def initialize(self, config: dict[str, Any], /) -> None:
        self.config = config

    def generate(self, prompt: str, /, **kwargs: Unpack[GenerateOptions]) -> str:
        ForeignLLM.seen.append(kwargs)
        return "foreign answer"

    def generate_stream(self, prompt: str, /, **kwargs: Unpack[GenerateOptions]) -> Iterator[str]:
        yield self.generate(prompt, **kwargs)

    def estimate_tokens(self, text: str, /) -> int:
        return len(text)

    def is_available(self) -> bool:
        return True

    def get_model_info(self) -> Mapping[str, Any]:
        return {"provider": "foreign", "model_name": "f"}

    @property
    def metrics(self) -> Mapping[str, Any]:
        return {"calls": len(ForeignLLM.seen)}


class SlowLLM(ForeignLLM):
    """A foreign plugin that uses every second of the timeout it is given, then times out."""

    clock: FakeClock | None = None

    def generate(self, prompt: str, /, **kwargs: Unpack[GenerateOptions]) -> str:
        ForeignLLM.seen.append(kwargs)
        assert SlowLLM.clock is not None
        SlowLLM.clock.advance(kwargs.get("timeout", 1.0))
        raise LLMTimeoutException("no answer in time", provider="slow")


def test_a_member_failing_because_the_chain_ran_out_is_not_cooled(bench: ChainBench) -> None:
    ForeignLLM.seen, SlowLLM.clock = [], bench.clock
    llm = FallbackLLM.over({**bench.registry(), "slow": SlowLLM})(clock=bench.clock)
    llm.initialize({"type": "fallback", "members": [{"type": "slow"}, bench.config("ollama")], "deadline": 4, "min_member_time": 0})

    with pytest.raises(LLMTimeoutException, match="has 0 s left"):
        llm.generate("Rate this change")

    assert ForeignLLM.seen == [{"timeout": 4.0}]
    assert bench.chat_requests()["ollama"] == 0  # nothing left: not started, even with min_member_time 0
    assert llm.get_model_info()["details"]["states"]["slow"] == "trusted"  # the chain ran out, not the member
    llm.close()


def test_a_member_that_cannot_see_the_budget_gets_it_as_its_timeout(bench: ChainBench) -> None:
    ForeignLLM.seen = []
    bench.anthropic.queue(*[_rate_limited("2")] * 2)
    registry: dict[str, type[LLMPlugin]] = {**bench.registry(), "foreign": ForeignLLM}
    llm = FallbackLLM.over(registry)(clock=bench.clock)
    llm.initialize({"type": "fallback", "members": [bench.config("anthropic", retry_attempts=2), {"type": "foreign"}], "deadline": 10})

    assert llm.generate("Rate this change", system="You review code.") == "foreign answer"
    assert ForeignLLM.seen == [{"system": "You review code.", "timeout": 8.0}]
    assert llm.generate("Rate this change", timeout=3.0) == "foreign answer"  # anthropic cools down now
    assert ForeignLLM.seen[-1] == {"timeout": 3.0}
    llm.close()


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hints=st.lists(st.sampled_from(["0", "1", "2.5", "4", "30"]), min_size=0, max_size=6),
    attempts=st.integers(1, 6),
    deadline=st.floats(0.5, 12),
    min_member_time=st.floats(0, 3),
    overloaded=st.integers(0, 4),
)
def test_no_call_ever_outlasts_the_chains_deadline(
    hints: list[str], attempts: int, deadline: float, min_member_time: float, overloaded: int
) -> None:
    with chain_bench() as bench:
        bench.anthropic.queue(*[_rate_limited(hint) for hint in hints])
        bench.openai.queue(*[openai_wire.server_overloaded()] * overloaded)
        bench.ollama.queue(*[Status(503, "busy")] * overloaded)
        llm = bench.chain(
            bench.config("anthropic", retry_attempts=attempts),
            bench.config("openai", retry_attempts=attempts),
            bench.config("ollama", retry_attempts=attempts),
            deadline=deadline,
            min_member_time=min_member_time,
        )
        started = bench.clock.now
        try:
            llm.generate("Rate this change")
        except LLMException:
            assert llm.metrics["errors"] == 1
        assert bench.clock.now - started <= deadline
        assert llm.metrics["total_latency_ms"] <= deadline * 1000.0


# -- cooldown ------------------------------------------------------------------------------


def test_a_member_that_moved_the_chain_on_is_skipped_while_it_cools_then_tried_once(bench: ChainBench) -> None:
    bench.anthropic.queue(*[_rate_limited("1")] * 3)
    llm = bench.chain(bench.config("anthropic"), bench.config("ollama"), cooldown=60)

    assert llm.generate("one") == OLLAMA_ANSWER
    assert bench.chat_requests()["anthropic"] == 3
    cooled_at = bench.clock.now

    bench.clock.advance(59.5)
    assert llm.generate("two") == OLLAMA_ANSWER
    assert bench.chat_requests()["anthropic"] == 3  # skipped: still cooling
    assert llm.metrics["members"][0]["skipped"] == 1
    assert llm.get_model_info()["details"]["states"]["anthropic"] == "cooling"

    bench.clock.now = cooled_at + 60.0
    assert llm.get_model_info()["details"]["states"]["anthropic"] == "half-open"
    assert llm.generate("three") == ANTHROPIC_ANSWER  # the trial call, and it answered
    assert llm.get_model_info()["details"]["states"]["anthropic"] == "trusted"
    assert bench.chat_requests() == {"anthropic": 4, "openai": 0, "ollama": 2, "openai-codex": 0}
    assert llm.get_model_info()["details"]["answered_last"] == "anthropic"


def test_a_failed_trial_cools_the_member_again(bench: ChainBench) -> None:
    bench.anthropic.queue(*[anthropic_wire.error_reply(529, "overloaded_error", "Overloaded")] * 6)
    llm = bench.chain(bench.config("anthropic", retry_attempts=3), bench.config("ollama"), cooldown=10)

    llm.generate("one")
    bench.clock.advance(10.0)
    llm.generate("trial")
    assert bench.chat_requests()["anthropic"] == 6
    assert llm.get_model_info()["details"]["states"]["anthropic"] == "cooling"
    bench.clock.advance(9.0)
    llm.generate("still cooling")
    assert bench.chat_requests()["anthropic"] == 6


def test_a_longer_retry_after_is_honoured_and_capped_by_cooldown_max(bench: ChainBench) -> None:
    bench.anthropic.queue(_rate_limited("120"), _rate_limited("7200"))
    llm = bench.chain(bench.config("anthropic"), bench.config("ollama"), cooldown=30, cooldown_max=600)

    llm.generate("asks for 120 s")  # more than retry_after_max (60 s): the member fails at once
    assert bench.chat_requests()["anthropic"] == 1
    bench.clock.advance(119.0)
    llm.generate("skipped")
    assert bench.chat_requests()["anthropic"] == 1
    bench.clock.advance(1.0)
    llm.generate("trial, asks for 7200 s")
    assert bench.chat_requests()["anthropic"] == 2
    bench.clock.advance(599.0)
    llm.generate("skipped")
    assert bench.chat_requests()["anthropic"] == 2
    bench.clock.advance(1.0)
    assert llm.generate("trial") == ANTHROPIC_ANSWER
    assert bench.chat_requests()["anthropic"] == 3


def test_cooldown_zero_never_skips(bench: ChainBench) -> None:
    bench.anthropic.queue(*[anthropic_wire.error_reply(529, "overloaded_error", "Overloaded")] * 2)
    llm = bench.chain(bench.config("anthropic", retry_attempts=1), bench.config("ollama"), cooldown=0)

    llm.generate("one")
    llm.generate("two")
    assert llm.generate("three") == ANTHROPIC_ANSWER
    assert bench.chat_requests()["anthropic"] == 3


def test_when_every_member_cools_the_chain_fails_fast_saying_when_to_come_back(bench: ChainBench) -> None:
    bench.anthropic.queue(_rate_limited("45"))
    bench.ollama.queue(Status(404, "model 'x' not found"))
    llm = bench.chain(bench.config("anthropic", retry_attempts=1), bench.config("ollama"), cooldown=20)

    with pytest.raises(LLMException):
        llm.generate("one")
    bench.clock.advance(5.0)
    with pytest.raises(LLMConnectionException, match="no member of the fallback chain could be tried") as caught:
        llm.generate("two")

    assert caught.value.retry_after == 15.0  # ollama comes back first (20 s), anthropic asked for 45 s
    assert caught.value.retryable
    assert bench.chat_requests() == {"anthropic": 1, "openai": 0, "ollama": 1, "openai-codex": 0}
    assert not llm.is_available()
    assert llm.metrics["errors"] == 2
