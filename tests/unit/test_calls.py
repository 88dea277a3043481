"""CallRunner: retries, metrics and stream semantics shared by every provider."""

from __future__ import annotations

from collections.abc import Callable, Generator

import pytest

from obra_llm.calls import CallRunner, Completion, StreamEnd, StreamItems, call_budget, current_budget, token_count, within_budget
from obra_llm.errors import (
    AuthenticationError,
    ConfigError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
)
from obra_llm.retry import RetryPolicy
from tests.support.fakes import FakeClock


def _runner(clock: FakeClock, attempts: int = 3) -> CallRunner:
    return CallRunner(RetryPolicy(attempts=attempts), clock=clock, sleep=clock.sleep, draw=lambda: 0.0)


class Provider:
    """Opens scripted streams: each open takes the next script; records opens and closes."""

    def __init__(self, clock: FakeClock, scripts: list[list[str | StreamEnd | BaseException]], *, open_error: Exception | None = None) -> None:
        self.clock = clock
        self.scripts = list(scripts)
        self.open_error = open_error
        self.opened = 0
        self.closed = 0
        self.lefts: list[float] = []

    def open(self, left: float) -> StreamItems:
        self.lefts.append(left)
        self.opened += 1
        if self.open_error is not None:
            error, self.open_error = self.open_error, None
            raise error
        return self._items(self.scripts.pop(0))

    def _items(self, script: list[str | StreamEnd | BaseException]) -> StreamItems:
        try:
            for item in script:
                self.clock.advance(0.125)
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.closed += 1


# -- complete ----------------------------------------------------------------------------


def test_complete_records_a_success() -> None:
    clock = FakeClock()
    runner = _runner(clock)

    def attempt(left: float) -> Completion:
        clock.advance(0.25)
        return Completion("hi", prompt_tokens=7, completion_tokens=3, stop_reason="stop")

    assert runner.complete(attempt) == Completion("hi", 7, 3, "stop")
    assert runner.metrics.snapshot() == {
        "calls": 1,
        "total_tokens": 10,
        "total_latency_ms": 250.0,
        "errors": 0,
        "timeouts": 0,
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "retries": 0,
        "structured_repairs": 0,
    }


def test_complete_records_a_failure_once_after_retries() -> None:
    clock = FakeClock()
    runner = _runner(clock, attempts=3)
    calls: list[float] = []

    def attempt(left: float) -> Completion:
        calls.append(left)
        raise LLMConnectionException("refused")

    with pytest.raises(LLMConnectionException):
        runner.complete(attempt)
    snapshot = runner.metrics.snapshot()
    assert (len(calls), snapshot["calls"], snapshot["errors"], snapshot["timeouts"], snapshot["retries"]) == (3, 1, 1, 0, 2)
    assert snapshot["total_latency_ms"] == 1500.0  # slept 0.5 + 1.0


def test_complete_counts_a_timeout_as_error_and_timeout() -> None:
    clock = FakeClock()
    runner = _runner(clock, attempts=1)

    def attempt(left: float) -> Completion:
        raise LLMTimeoutException("slow")

    with pytest.raises(LLMTimeoutException):
        runner.complete(attempt)
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["timeouts"]) == (1, 1, 1)


def test_complete_retry_then_success_counts_one_call_and_one_retry() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    errors: list[Exception] = [LLMConnectionException("refused")]

    def attempt(left: float) -> Completion:
        if errors:
            raise errors.pop()
        return Completion("ok", prompt_tokens=1, completion_tokens=1)

    assert runner.complete(attempt).text == "ok"
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["retries"], snapshot["total_tokens"]) == (1, 0, 1, 2)


def test_complete_non_llm_error_is_recorded_and_raised_as_an_llm_exception() -> None:
    clock = FakeClock()
    runner = _runner(clock)

    def attempt(left: float) -> Completion:
        raise OverflowError("timestamp out of range for platform time_t")

    with pytest.raises(LLMException) as caught:
        runner.complete(attempt)
    assert str(caught.value) == "unexpected OverflowError during the call: timestamp out of range for platform time_t"
    assert isinstance(caught.value.__cause__, OverflowError)
    assert caught.value.retryable is False
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["retries"]) == (1, 1, 0)


def test_complete_config_error_passes_unwrapped() -> None:
    runner = _runner(FakeClock())

    def attempt(left: float) -> Completion:
        raise ConfigError("bad option")

    with pytest.raises(ConfigError, match="bad option"):
        runner.complete(attempt)


def test_a_call_waiting_to_retry_is_already_counted() -> None:
    """Seen on 19bf5c7: during the retry sleep the metrics said calls=0 with retries=1."""
    clock = FakeClock()
    seen: list[tuple[int, int]] = []

    def sleep(seconds: float) -> None:
        snapshot = runner.metrics.snapshot()
        seen.append((snapshot["calls"], snapshot["retries"]))
        clock.sleep(seconds)

    runner = CallRunner(RetryPolicy(attempts=2), clock=clock, sleep=sleep, draw=lambda: 0.0)
    outcomes: list[Completion | Exception] = [LLMConnectionException("refused"), Completion("ok")]

    def attempt(left: float) -> Completion:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert runner.complete(attempt).text == "ok"
    assert seen == [(1, 1)]
    assert runner.metrics.snapshot()["calls"] == 1


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_complete_interrupted_counts_one_call_not_an_error(interrupt: type[BaseException]) -> None:
    clock = FakeClock()
    runner = _runner(clock)

    def attempt(left: float) -> Completion:
        clock.advance(0.5)
        raise interrupt

    with pytest.raises(interrupt):
        runner.complete(attempt)
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["total_latency_ms"]) == (1, 0, 500.0)


# -- stream ------------------------------------------------------------------------------


def test_stream_interrupted_mid_stream_counts_one_call_and_closes_the_source() -> None:
    """Seen on 19bf5c7: a KeyboardInterrupt mid-stream left calls at 0."""
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [["a", KeyboardInterrupt(), "never"]])
    pieces: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        pieces.extend(runner.stream(provider.open))
    assert pieces == ["a"]
    assert provider.closed == 1
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["retries"]) == (1, 0, 0)



def test_stream_yields_pieces_and_records_usage() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [["Hel", "", "lo", StreamEnd(prompt_tokens=5, completion_tokens=2, stop_reason="stop")]])
    assert list(runner.stream(provider.open)) == ["Hel", "lo"]
    assert runner.metrics.snapshot() == {
        "calls": 1,
        "total_tokens": 7,
        "total_latency_ms": 500.0,
        "errors": 0,
        "timeouts": 0,
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "retries": 0,
        "structured_repairs": 0,
    }
    assert (provider.opened, provider.closed) == (1, 1)


def test_stream_without_stream_end_records_zero_tokens() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    assert list(runner.stream(Provider(clock, [["a", "b"]]).open)) == ["a", "b"]
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["total_tokens"]) == (1, 0)


def test_stream_does_nothing_until_iterated() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [["a"]])
    stream = runner.stream(provider.open)
    assert isinstance(stream, Generator)
    assert provider.opened == 0
    stream.close()
    assert (provider.opened, runner.metrics.snapshot()["calls"]) == (0, 0)


def test_stream_retries_a_failure_to_open() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [["ok"]], open_error=LLMConnectionException("refused"))
    assert list(runner.stream(provider.open)) == ["ok"]
    assert provider.opened == 2
    assert clock.sleeps == [0.5]
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["retries"]) == (1, 0, 1)


def test_stream_retries_a_failure_before_the_first_piece() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [[LLMResponseException("cut", retryable=True)], ["fresh", StreamEnd(1, 1)]])
    assert list(runner.stream(provider.open)) == ["fresh"]
    assert (provider.opened, provider.closed) == (2, 2)
    assert runner.metrics.snapshot()["retries"] == 1


def test_stream_does_not_retry_non_retryable_before_the_first_piece() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [[AuthenticationError("bad key")], ["never"]])
    with pytest.raises(AuthenticationError):
        list(runner.stream(provider.open))
    assert provider.opened == 1


def test_stream_raises_after_the_first_piece_without_retrying() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    cut = LLMResponseException("cut mid-stream", retryable=True)
    provider = Provider(clock, [["first", cut], ["second attempt"]])
    received: list[str] = []
    with pytest.raises(LLMResponseException) as caught:
        for piece in runner.stream(provider.open):
            received.append(piece)
    assert caught.value is cut
    assert received == ["first"]
    assert (provider.opened, provider.closed, clock.sleeps) == (1, 1, [])
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["retries"]) == (1, 1, 0)


def test_stream_timeout_after_first_piece_counts_a_timeout() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [["first", LLMTimeoutException("slow")]])
    with pytest.raises(LLMTimeoutException):
        list(runner.stream(provider.open))
    snapshot = runner.metrics.snapshot()
    assert (snapshot["errors"], snapshot["timeouts"]) == (1, 1)


def _abandon_with_break(runner: CallRunner, open_stream: Callable[[float], StreamItems]) -> list[str]:
    received: list[str] = []
    for piece in runner.stream(open_stream):
        received.append(piece)
        break
    return received


def test_stream_abandoned_with_break_is_a_call_not_an_error_and_closes_the_source() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [["a", "b", "c", StreamEnd(9, 9)]])
    assert _abandon_with_break(runner, provider.open) == ["a"]
    assert provider.closed == 1
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["total_tokens"]) == (1, 0, 0)
    assert snapshot["total_latency_ms"] == 125.0


def test_stream_abandoned_with_close_is_a_call_not_an_error_and_closes_the_source() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [["a", "b", "c"]])
    stream = runner.stream(provider.open)
    assert isinstance(stream, Generator)
    assert next(stream) == "a"
    assert provider.closed == 0
    stream.close()
    assert provider.closed == 1
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["errors"], snapshot["timeouts"]) == (1, 0, 0)
    with pytest.raises(StopIteration):
        next(stream)


def test_stream_non_llm_error_mid_stream_is_recorded_and_closes_the_source() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [["a", ValueError("parser bug")]])
    with pytest.raises(LLMException, match="unexpected ValueError during the call: parser bug"):
        list(runner.stream(provider.open))
    assert provider.closed == 1
    assert runner.metrics.snapshot()["errors"] == 1


def test_stream_that_keeps_failing_before_any_piece_counts_one_failed_call() -> None:
    clock = FakeClock()
    runner = _runner(clock, attempts=3)
    provider = Provider(clock, [[LLMConnectionException(f"reset {index}")] for index in range(3)])
    with pytest.raises(LLMConnectionException, match="reset 2"):
        list(runner.stream(provider.open))
    snapshot = runner.metrics.snapshot()
    assert (provider.opened, snapshot["calls"], snapshot["errors"], snapshot["retries"]) == (3, 1, 1, 2)


def test_stream_passes_seconds_left_to_open() -> None:
    clock = FakeClock()
    runner = _runner(clock)
    provider = Provider(clock, [[LLMConnectionException("reset")], ["ok"]])
    list(runner.stream(provider.open))
    assert provider.lefts == [60.0, 60.0 - 0.125 - 0.5]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"n": 7}, 7),
        ({"n": 5.0}, 5),
        ({}, 0),
        ({"n": None}, 0),
        ({"n": True}, 0),
        ({"n": -3}, 0),
        ({"n": float("nan")}, 0),
        ({"n": "12"}, 0),
    ],
    ids=["int", "float", "absent", "null", "bool", "negative", "nan", "string"],
)
def test_token_count_reads_only_real_counts(usage: dict[str, object], expected: int) -> None:
    assert token_count(usage, "n") == expected


# -- call_budget -------------------------------------------------------------------------


def _in_a_block(seconds: float, call: Callable[[Callable[[float], Completion]], Completion], attempt: Callable[[float], Completion]) -> Completion:
    with call_budget(seconds):
        return call(attempt)


@pytest.mark.parametrize("opened", [_in_a_block, within_budget], ids=["call_budget", "within_budget"])
def test_a_call_budget_shortens_the_retry_deadline(opened: Callable[..., Completion]) -> None:
    """Either way of opening it (``within_budget`` is the one-frame form the fallback chain uses); closed when the call raises."""
    clock = FakeClock()
    runner = _runner(clock, attempts=10)
    lefts: list[float] = []

    def attempt(left: float) -> Completion:
        lefts.append(left)
        clock.advance(1.0)
        raise LLMConnectionException("refused")

    with pytest.raises(LLMConnectionException):
        opened(2.5, runner.complete, attempt)

    assert lefts[0] == 2.5  # the policy's own deadline (60 s) was cut to the budget
    assert clock.now - 1000.0 <= 2.5
    assert current_budget() is None  # the budget ends with its block


def test_a_call_budget_never_lengthens_a_deadline() -> None:
    clock = FakeClock()
    runner = CallRunner(RetryPolicy(attempts=1, deadline=3.0), clock=clock, sleep=clock.sleep)
    lefts: list[float] = []

    def attempt(left: float) -> Completion:
        lefts.append(left)
        return Completion("ok")

    with call_budget(100.0):
        assert current_budget() == 100.0
        runner.complete(attempt)
        runner.complete(attempt, timeout=5.0)

    assert lefts == [3.0, 5.0]


def test_a_stream_reads_the_budget_when_it_opens() -> None:
    clock = FakeClock()
    provider = Provider(clock, [["a", "b", StreamEnd()]])
    stream = _runner(clock).stream(provider.open)

    with call_budget(1.5):
        first = next(stream)
    assert (first, list(stream)) == ("a", ["b"])
    assert provider.lefts == [1.5]
