"""RetryManager and RetryPolicy with a fake clock: exact backoff, hints, deadline, config."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obra_llm import (
    AuthenticationError,
    ConfigError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    RateLimitError,
    RetryManager,
    RetryPolicy,
    create_retry_manager_from_config,
)
from obra_llm.config import CommonSettings, RetrySettings, parse_settings
from tests.support.fakes import FakeClock


class Script:
    """An attempt function: raises the scripted errors in turn (each after ``duration``), then answers."""

    def __init__(self, clock: FakeClock, errors: list[BaseException], *, duration: float = 0.0) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.duration = duration
        self.lefts: list[float] = []

    @property
    def calls(self) -> int:
        return len(self.lefts)

    def __call__(self, left: float) -> str:
        self.lefts.append(left)
        self.clock.advance(self.duration)
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


def _manager(policy: RetryPolicy, clock: FakeClock, draw: float = 0.0) -> RetryManager:
    return RetryManager(policy, clock=clock, sleep=clock.sleep, draw=lambda: draw)


def _retryable(count: int) -> list[BaseException]:
    return [LLMConnectionException(f"refused {index}", provider="ollama") for index in range(count)]


# -- policy ------------------------------------------------------------------------------


def test_policy_defaults() -> None:
    assert attrs.asdict(RetryPolicy()) == {
        "attempts": 3,
        "backoff_base": 0.5,
        "backoff_max": 8.0,
        "deadline": 60.0,
        "retry_after_max": 60.0,
        "jitter": 0.25,
    }


def test_backoff_doubles_from_half_a_second_and_caps_at_eight() -> None:
    policy = RetryPolicy()
    assert [policy.backoff(done, 0.0) for done in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_jitter_shortens_by_a_quarter_of_the_draw() -> None:
    policy = RetryPolicy()
    assert [policy.backoff(done, 0.5) for done in range(6)] == [0.4375, 0.875, 1.75, 3.5, 7.0, 7.0]
    assert policy.backoff(4, 1.0) == 6.0


@pytest.mark.parametrize(
    "bad",
    [{"attempts": 0}, {"backoff_base": -1.0}, {"deadline": 0.0}, {"jitter": 1.5}, {"jitter": -0.1}],
)
def test_policy_rejects_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


# -- the loop ----------------------------------------------------------------------------


def test_success_first_time_does_not_sleep() -> None:
    clock = FakeClock()
    script = Script(clock, [])
    assert _manager(RetryPolicy(), clock).execute(script) == "answer"
    assert (script.calls, clock.sleeps, script.lefts) == (1, [], [60.0])


def test_backoff_sequence_with_cap() -> None:
    clock = FakeClock()
    script = Script(clock, _retryable(6))
    manager = _manager(RetryPolicy(attempts=7, deadline=1000.0), clock)
    assert manager.execute(script) == "answer"
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert script.calls == 7


def test_backoff_sequence_with_jitter() -> None:
    clock = FakeClock()
    script = Script(clock, _retryable(6))
    assert _manager(RetryPolicy(attempts=7, deadline=1000.0), clock, draw=0.5).execute(script) == "answer"
    assert clock.sleeps == [0.4375, 0.875, 1.75, 3.5, 7.0, 7.0]


def test_seconds_left_are_passed_to_each_attempt() -> None:
    clock = FakeClock()
    script = Script(clock, _retryable(2), duration=1.0)
    _manager(RetryPolicy(deadline=10.0), clock).execute(script)
    assert script.lefts == [10.0, 8.5, 6.5]


def test_attempts_are_counted_and_the_last_error_raised() -> None:
    clock = FakeClock()
    errors = _retryable(5)
    script = Script(clock, errors)
    with pytest.raises(LLMConnectionException) as caught:
        _manager(RetryPolicy(attempts=3), clock).execute(script)
    assert caught.value is errors[2]
    assert script.calls == 3
    assert clock.sleeps == [0.5, 1.0]
    assert caught.value.__notes__ == ["gave up after 3 attempt(s)"]


def test_one_attempt_means_never_retry() -> None:
    clock = FakeClock()
    script = Script(clock, _retryable(1))
    with pytest.raises(LLMConnectionException):
        _manager(RetryPolicy(attempts=1), clock).execute(script)
    assert (script.calls, clock.sleeps) == (1, [])


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("bad key", provider="ollama", status_code=401),
        LLMResponseException("bad request", status_code=400),
        RateLimitError("insufficient_quota", retryable=False, status_code=429),
        LLMConnectionException("bad url", retryable=False),
    ],
)
def test_non_retryable_errors_are_not_retried(error: LLMException) -> None:
    clock = FakeClock()
    script = Script(clock, [error])
    with pytest.raises(type(error)) as caught:
        _manager(RetryPolicy(attempts=5), clock).execute(script)
    assert caught.value is error
    assert (script.calls, clock.sleeps) == (1, [])
    assert getattr(error, "__notes__", []) == []


def test_decision_is_made_on_each_attempts_own_error() -> None:
    clock = FakeClock()
    script = Script(clock, [LLMTimeoutException("slow"), AuthenticationError("bad key")])
    with pytest.raises(AuthenticationError):
        _manager(RetryPolicy(attempts=5), clock).execute(script)
    assert (script.calls, clock.sleeps) == (2, [0.5])


def test_non_llm_exception_propagates_at_once() -> None:
    clock = FakeClock()
    script = Script(clock, [KeyError("bug")])
    with pytest.raises(KeyError):
        _manager(RetryPolicy(attempts=5), clock).execute(script)
    assert (script.calls, clock.sleeps) == (1, [])


def test_retry_after_is_honoured_without_jitter() -> None:
    clock = FakeClock()
    script = Script(clock, [RateLimitError("slow down", retry_after=3.0)])
    assert _manager(RetryPolicy(), clock, draw=0.9).execute(script) == "answer"
    assert clock.sleeps == [3.0]


def test_retry_after_may_exceed_backoff_max() -> None:
    clock = FakeClock()
    script = Script(clock, [RateLimitError("slow down", retry_after=20.0)])
    _manager(RetryPolicy(backoff_max=8.0), clock).execute(script)
    assert clock.sleeps == [20.0]


def test_zero_retry_after_falls_back_to_backoff() -> None:
    clock = FakeClock()
    script = Script(clock, [RateLimitError("slow down", retry_after=0.0)])
    _manager(RetryPolicy(), clock).execute(script)
    assert clock.sleeps == [0.5]


def test_retry_after_beyond_the_cap_fails_fast_without_sleeping() -> None:
    clock = FakeClock()
    error = RateLimitError("slow down", retry_after=120.0)
    script = Script(clock, [error])
    with pytest.raises(RateLimitError) as caught:
        _manager(RetryPolicy(retry_after_max=60.0, deadline=1000.0), clock).execute(script)
    assert caught.value is error
    assert (script.calls, clock.sleeps) == (1, [])
    assert caught.value.__notes__ == ["not retried: the server asked to wait 120 s, more than retry_after_max=60 s"]


def test_deadline_is_never_crossed_by_a_sleep() -> None:
    clock = FakeClock()
    script = Script(clock, _retryable(10))
    with pytest.raises(LLMConnectionException) as caught:
        _manager(RetryPolicy(attempts=10, deadline=10.0), clock).execute(script)
    # 0.5 + 1 + 2 + 4 = 7.5 slept; the next 8 s would end at 15.5 > 10
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert script.calls == 5
    assert caught.value.__notes__ == ["not retried: waiting 8 s would cross the 10 s retry deadline"]


def test_deadline_counts_attempt_durations_too() -> None:
    clock = FakeClock(start=0.0)
    script = Script(clock, _retryable(10), duration=1.0)
    with pytest.raises(LLMConnectionException):
        _manager(RetryPolicy(attempts=10, deadline=10.0), clock).execute(script)
    # attempts end at 1, 2.5, 4.5, 7.5; the next 4 s sleep would end at 11.5
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert script.calls == 4
    assert clock.now == 7.5


def test_retry_after_that_crosses_the_deadline_is_not_slept() -> None:
    clock = FakeClock()
    script = Script(clock, [RateLimitError("slow down", retry_after=30.0)])
    with pytest.raises(RateLimitError):
        _manager(RetryPolicy(deadline=20.0), clock).execute(script)
    assert clock.sleeps == []


def test_deadline_used_up_by_an_oversleep_raises_a_timeout() -> None:
    clock = FakeClock()

    def oversleep(seconds: float) -> None:
        clock.sleep(seconds + 100.0)

    script = Script(clock, _retryable(1))
    manager = RetryManager(RetryPolicy(deadline=10.0), clock=clock, sleep=oversleep, draw=lambda: 0.0)
    with pytest.raises(LLMTimeoutException) as caught:
        manager.execute(script)
    assert str(caught.value) == "retry deadline of 10 s used up after 1 attempt(s)"
    assert caught.value.retryable is False
    assert script.calls == 1


def test_on_retry_is_told_error_count_and_delay() -> None:
    clock = FakeClock()
    errors = _retryable(2)
    seen: list[tuple[LLMException, int, float]] = []
    manager = RetryManager(
        RetryPolicy(),
        clock=clock,
        sleep=clock.sleep,
        draw=lambda: 0.0,
        on_retry=lambda error, retries, delay: seen.append((error, retries, delay)),
    )
    manager.execute(Script(clock, list(errors)))
    assert seen == [(errors[0], 1, 0.5), (errors[1], 2, 1.0)]


def test_real_draws_stay_within_the_jitter_band() -> None:
    clock = FakeClock()
    manager = RetryManager(RetryPolicy(attempts=7, deadline=1000.0), clock=clock, sleep=clock.sleep)
    manager.execute(Script(clock, _retryable(6)))
    for delay, full in zip(clock.sleeps, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0], strict=True):
        assert 0.75 * full < delay <= full


# -- from config -------------------------------------------------------------------------


def test_manager_from_config_honours_the_retry_keys() -> None:
    manager = create_retry_manager_from_config(
        {"retry_attempts": 5, "retry_backoff_base": 1, "retry_backoff_max": 4, "model": "m", "timeout": 3}
    )
    assert manager.policy == RetryPolicy(attempts=5, backoff_base=1.0, backoff_max=4.0)


def test_manager_from_config_defaults() -> None:
    assert create_retry_manager_from_config({}).policy == RetryPolicy()


def test_manager_from_config_deadline_and_cap() -> None:
    manager = create_retry_manager_from_config({"retry_deadline": 5, "retry_after_max": 2.5})
    assert (manager.policy.deadline, manager.policy.retry_after_max) == (5.0, 2.5)


def test_manager_from_config_sleeps_the_configured_backoff() -> None:
    policy = create_retry_manager_from_config({"retry_attempts": 4, "retry_backoff_base": 1, "retry_backoff_max": 3}).policy
    clock = FakeClock()
    _manager(policy, clock).execute(Script(clock, _retryable(3)))
    assert clock.sleeps == [1.0, 2.0, 3.0]


def test_manager_from_config_rejects_zero_attempts() -> None:
    with pytest.raises(ConfigError) as caught:
        create_retry_manager_from_config({"retry_attempts": 0})
    assert caught.value.problems == ("0 is out of range: expected a number from 1 to 100 @ $.retry_attempts",)


def test_manager_from_config_rejects_a_misspelt_retry_key() -> None:
    with pytest.raises(ConfigError) as caught:
        create_retry_manager_from_config({"retry_attempt": 2})
    assert caught.value.problems == (
        "unknown key 'retry_attempt' (did you mean 'retry_attempts'?) @ $.retry_attempt",
    )


# -- property ----------------------------------------------------------------------------

policies = st.builds(
    RetryPolicy,
    attempts=st.integers(1, 8),
    backoff_base=st.floats(0.0, 5.0),
    backoff_max=st.floats(0.0, 20.0),
    deadline=st.floats(0.01, 100.0),
    retry_after_max=st.floats(0.0, 50.0),
    jitter=st.floats(0.0, 1.0),
)
failures = st.tuples(
    st.booleans(),  # retryable
    st.one_of(st.none(), st.floats(0.0, 80.0)),  # retry_after
    st.floats(0.0, 30.0),  # how long the attempt takes before failing (bounded by seconds left)
)


@settings(max_examples=300, deadline=None)
@given(
    policy=policies,
    script=st.lists(failures, max_size=10),
    draws=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=5),
    start=st.floats(0.0, 1e6),
)
def test_property_deadline_holds_and_non_retryable_is_final(
    policy: RetryPolicy,
    script: list[tuple[bool, float | None, float]],
    draws: list[float],
    start: float,
) -> None:
    clock = FakeClock(start=start)
    attempts: list[int] = []
    draw_cycle: Iterator[float] = itertools.cycle(draws)

    def next_draw() -> float:
        return next(draw_cycle)

    def attempt(left: float) -> str:
        index = len(attempts)
        attempts.append(index)
        assert left > 0
        if index >= len(script):
            return "answer"
        retryable, retry_after, duration = script[index]
        clock.advance(min(duration, left))
        raise LLMConnectionException(f"failure {index}", retryable=retryable, retry_after=retry_after)

    manager = RetryManager(policy, clock=clock, sleep=clock.sleep, draw=next_draw)
    try:
        manager.execute(attempt)
    except LLMException as error:
        assert error.message == f"failure {attempts[-1]}"
    assert clock.now - start <= policy.deadline + 1e-6 * max(1.0, start)
    assert len(attempts) <= policy.attempts
    assert len(clock.sleeps) == len(attempts) - 1
    for index in attempts[:-1]:
        retryable, retry_after, _ = script[index]
        assert retryable, "a non-retryable error was retried"
        assert retry_after is None or retry_after <= policy.retry_after_max
    for index, slept in enumerate(clock.sleeps):
        hint = script[index][1]
        if hint is not None and hint > 0:
            assert slept == hint
        else:
            assert 0.0 <= slept <= min(policy.backoff_base * 2.0**index, policy.backoff_max)
            assert not math.isnan(slept)


def test_unset_deadline_is_never_shorter_than_the_timeout() -> None:
    assert RetryPolicy.from_settings(RetrySettings(), timeout=120.0).deadline == 120.0
    assert RetryPolicy.from_settings(RetrySettings(), timeout=5.0).deadline == 60.0
    assert RetryPolicy.from_settings(RetrySettings(retry_deadline=30.0), timeout=5.0).deadline == 30.0


def test_deadline_shorter_than_timeout_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(CommonSettings, {"model": "m", "timeout": 120, "retry_deadline": 30}, provider="test")
    assert caught.value.problems == (
        "retry_deadline=30 is shorter than timeout=120, so no attempt could use its whole timeout: "
        "raise retry_deadline or lower timeout @ $.retry_deadline",
    )


def test_per_call_deadline_replaces_the_policys() -> None:
    clock = FakeClock()
    manager = RetryManager(RetryPolicy(attempts=1, deadline=10.0), clock=clock, sleep=clock.sleep)
    seen: list[float] = []
    manager.execute(lambda left: seen.append(left), deadline=300.0)
    assert seen == [300.0]
