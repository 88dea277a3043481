"""What every provider does around a call: retries, timing, metrics, and stream semantics.

Providers only translate. They hand ``CallRunner`` one function that makes a single
attempt (given the seconds left before the retry deadline) and get back the answer, with
the retry loop and the counters applied the same way for every provider and transport.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Generator, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple, ParamSpec, TypeVar

from obra_llm.errors import ConfigError, LLMException, LLMTimeoutException
from obra_llm.metrics import Metrics
from obra_llm.retry import RetryManager, RetryPolicy
from obra_llm.scoped import ScopedValue

__all__ = ["CallRunner", "Completion", "StreamEnd", "call_budget", "current_budget", "token_count", "untranslated", "within_budget"]

P = ParamSpec("P")
T = TypeVar("T")

#: Seconds the calls started in this context may take in all (``None``: no outer bound).
_BUDGET: ContextVar[float | None] = ContextVar("obra_llm_call_budget", default=None)


def call_budget(seconds: float) -> ScopedValue[float | None]:
    """Bound every call started inside to ``seconds`` in all, retries included.

    A fallback chain gives each member what is left of its one deadline this way: the
    member's own retry deadline still applies, but can no longer outlast the chain's. The
    budget is read when a call starts, so open it right around the call.
    """
    return ScopedValue(_BUDGET, seconds)


def within_budget(seconds: float, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``call(*args, **kwargs)`` inside ``call_budget(seconds)``: one frame, where a ``with`` block takes three.

    A fallback chain starts every member call this way.
    """
    token = _BUDGET.set(seconds)
    try:
        return call(*args, **kwargs)
    finally:
        _BUDGET.reset(token)


def current_budget() -> float | None:
    """The seconds a call started now may take in all, when a ``call_budget`` is open (chains nest by it)."""
    return _BUDGET.get()


class Completion(NamedTuple):
    """One whole answer and what it cost (a ``NamedTuple``: one is built for every call)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stop_reason: str | None = None


class StreamEnd(NamedTuple):
    """The last item of a provider's stream: usage and why generation stopped."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    stop_reason: str | None = None


def token_count(usage: Mapping[str, Any], key: str) -> int:
    """A token count from a usage object: absent, ``null``, negative or not a number means 0.

    APIs omit zero counts (Ollama, Gemini), send ``null`` (Anthropic cache counts) or floats
    (Cohere's billed units); ``true`` is not a count.
    """
    value = usage.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return int(value)
    return 0


#: A provider's stream: text pieces, then at most one ``StreamEnd``.
StreamItems = Generator["str | StreamEnd", None, None]


class CallRunner:
    """Applies the retry policy and records metrics for one provider instance (thread-safe)."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.metrics = Metrics()
        self.retry = RetryManager(policy, clock=clock, sleep=sleep, draw=draw, on_retry=self._count_retry)
        self._clock = clock

    def complete(
        self,
        attempt: Callable[[float], Completion],
        *,
        timeout: float | None = None,
        review: Callable[[Completion], Completion | Callable[[float], Completion]] | None = None,
    ) -> Completion:
        """Run ``attempt(seconds_left)`` under the retry policy; count the call once.

        ``timeout`` is this call's attempt timeout: the deadline is never shorter than it.
        ``review`` (structured calls) accepts an answer, or returns the attempt that repairs
        it: repairs run inside the same deadline, are counted, and their tokens add up.
        """
        started = self._start()
        total = self._deadline(timeout)
        try:
            result = self.retry.execute(attempt, deadline=total)
            if review is not None:
                result = self._reviewed(result, review, started, self.retry.policy.deadline if total is None else total)
        except BaseException as error:
            self._record_failure(started, error)
            if untranslated(error):
                raise _foreign(error) from error
            raise
        self.metrics.record_end(
            latency_ms=self._elapsed_ms(started),
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
        )
        return result

    def stream(
        self, open_stream: Callable[[float], StreamItems], *, timeout: float | None = None
    ) -> Generator[str, None, None]:
        """Yield text pieces from ``open_stream(seconds_left)``.

        Opening the stream and reading its first item are retried as one attempt; once a
        piece has reached the caller, a failure is raised, never retried (the caller has
        already seen part of an answer). A stream the caller abandons (or interrupts, e.g.
        with ``KeyboardInterrupt``) counts as a call, not an error; its underlying response
        is closed either way.
        """
        started = self._start()
        items: StreamItems | None = None
        end = StreamEnd()
        try:
            items, first = self.retry.execute(
                lambda left: _open_and_peek(open_stream, left), deadline=self._deadline(timeout)
            )
            for item in itertools.chain((first,), items) if first is not None else ():
                if type(item) is str:
                    if item:
                        yield item
                elif isinstance(item, StreamEnd):
                    end = item
        except BaseException as error:
            self._record_failure(started, error)
            if untranslated(error):
                raise _foreign(error) from error
            raise
        finally:
            if items is not None:
                items.close()
        self.metrics.record_end(
            latency_ms=self._elapsed_ms(started),
            prompt_tokens=end.prompt_tokens,
            completion_tokens=end.completion_tokens,
        )

    def _start(self) -> float:
        started = self._clock()
        self.metrics.record_start()
        return started

    def _reviewed(
        self,
        result: Completion,
        review: Callable[[Completion], Completion | Callable[[float], Completion]],
        started: float,
        total: float,
    ) -> Completion:
        verdict = review(result)
        if isinstance(verdict, Completion):
            return verdict
        prompt_tokens, completion_tokens = result.prompt_tokens, result.completion_tokens
        while not isinstance(verdict, Completion):
            self.metrics.record_repair()
            left = total - (self._clock() - started)
            if left <= 0:
                msg = f"retry deadline of {total:g} s used up before the structured answer's repair"
                raise LLMTimeoutException(msg, retryable=False)
            result = self.retry.execute(verdict, deadline=left)
            prompt_tokens += result.prompt_tokens
            completion_tokens += result.completion_tokens
            verdict = review(result)
        return verdict._replace(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    def _deadline(self, timeout: float | None) -> float | None:
        deadline = None if timeout is None else max(self.retry.policy.deadline, timeout)
        budget = _BUDGET.get()
        if budget is None:
            return deadline
        return min(self.retry.policy.deadline if deadline is None else deadline, budget)

    def _record_failure(self, started: float, error: BaseException) -> None:
        """Finish a call that raised: an error unless the caller ended it (abandoned, interrupted)."""
        self.metrics.record_end(
            latency_ms=self._elapsed_ms(started),
            failed=isinstance(error, Exception),
            timed_out=isinstance(error, LLMTimeoutException),
        )

    def _elapsed_ms(self, started: float) -> float:
        return (self._clock() - started) * 1000.0

    def _count_retry(self, error: LLMException, retries: int, delay: float) -> None:
        self.metrics.record_retry()


#: Modules whose exceptions surface as themselves: a replay miss is a test-setup problem, not a call failure.
_REPLAY_MODULES = ("obra_llm.recording", "vcr")


def untranslated(error: BaseException) -> bool:
    """An ``Exception`` no layer translated: a bug or an unforeseen input, never to reach the caller raw."""
    if not isinstance(error, Exception) or isinstance(error, LLMException | ConfigError):
        return False
    return not type(error).__module__.startswith(_REPLAY_MODULES)


def _foreign(error: BaseException) -> LLMException:
    return LLMException(f"unexpected {type(error).__name__} during the call: {error}", retryable=False)


def _open_and_peek(open_stream: Callable[[float], StreamItems], left: float) -> tuple[StreamItems, str | StreamEnd | None]:
    items = open_stream(left)
    try:
        return items, next(items, None)
    except BaseException:
        items.close()
        raise
