"""The one retry loop: exponential backoff with jitter, server hints, and a total deadline.

The policy follows the OpenAI and Anthropic SDKs (0.5 s doubling to 8 s, delay shortened by
up to 25 % jitter, ``retry-after`` honoured) and adds what they lack: a deadline across all
attempts, a fail-fast when the server asks for a wait longer than ``retry_after_max``, and a
decision made from each attempt's own error. Clock, sleep and randomness are injectable so
that tests are exact and instant.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from obra_llm.config.convert import parse_settings
from obra_llm.config.settings import RetrySettings
from obra_llm.errors import LLMException, LLMTimeoutException

__all__ = ["RetryManager", "RetryPolicy", "create_retry_manager_from_config"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a whole call may take, retries included, unless configured or a timeout is longer.
DEFAULT_DEADLINE = 60.0


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how long to retry. ``attempts`` counts the first attempt too."""

    attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    backoff_base: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    backoff_max: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    deadline: float = attrs.field(default=DEFAULT_DEADLINE, validator=attrs.validators.gt(0))
    retry_after_max: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    jitter: float = attrs.field(default=0.25, validator=attrs.validators.and_(attrs.validators.ge(0), attrs.validators.le(1)))

    @classmethod
    def from_settings(cls, settings: RetrySettings, *, timeout: float = 0.0) -> RetryPolicy:
        """The policy described by validated configuration keys.

        An unset ``retry_deadline`` becomes ``max(60 s, timeout)``: never shorter than one attempt.
        """
        return cls(
            attempts=settings.retry_attempts,
            backoff_base=settings.retry_backoff_base,
            backoff_max=settings.retry_backoff_max,
            deadline=settings.retry_deadline or max(DEFAULT_DEADLINE, timeout),
            retry_after_max=settings.retry_after_max,
        )

    def backoff(self, retries_done: int, draw: float) -> float:
        """Delay before retry number ``retries_done + 1``; ``draw`` is uniform in [0, 1)."""
        delay = min(self.backoff_base * 2.0**retries_done, self.backoff_max)
        return delay * (1.0 - self.jitter * draw)


class RetryManager:
    """Runs a callable until it succeeds, fails for good, or the deadline would be crossed.

    The callable receives the seconds left before the deadline, so that each attempt can
    bound its own timeout by it. Only ``LLMException``s with ``retryable`` set are retried;
    anything else propagates at once.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
        on_retry: Callable[[LLMException, int, float], None] | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._draw = draw
        self._on_retry = on_retry

    def execute(self, attempt: Callable[[float], T], *, deadline: float | None = None) -> T:
        """Call ``attempt(seconds_left)`` until it returns; raise its last error otherwise.

        ``deadline`` replaces the policy's for this call (seconds from now).
        """
        policy = self.policy
        total = policy.deadline if deadline is None else deadline
        deadline_at = self._clock() + total
        retries = 0
        last_error: LLMException | None = None
        while True:
            left = deadline_at - self._clock()
            if left <= 0:
                msg = f"retry deadline of {total:g} s used up after {retries} attempt(s)"
                raise LLMTimeoutException(msg, retryable=False) from last_error
            try:
                return attempt(left)
            except LLMException as error:
                last_error = error
                delay = self._delay_before_retry(error, retries)
                if delay is None:
                    raise
                if self._clock() + delay >= deadline_at:
                    error.add_note(
                        f"not retried: waiting {delay:.3g} s would cross the {total:g} s retry deadline"
                    )
                    raise
                retries += 1
                logger.info(
                    "retrying %s call (attempt %d of %d) in %.3f s after: %s",
                    error.provider or "LLM",
                    retries + 1,
                    policy.attempts,
                    delay,
                    error.message,
                )
                if self._on_retry is not None:
                    self._on_retry(error, retries, delay)
                self._sleep(delay)

    def _delay_before_retry(self, error: LLMException, retries_done: int) -> float | None:
        """Seconds to wait before retrying after ``error``, or ``None`` to give up now."""
        policy = self.policy
        if not error.retryable:
            return None
        if retries_done + 1 >= policy.attempts:
            error.add_note(f"gave up after {retries_done + 1} attempt(s)")
            return None
        hint = error.retry_after
        if hint is not None and hint > policy.retry_after_max:
            error.add_note(
                f"not retried: the server asked to wait {hint:g} s, more than retry_after_max={policy.retry_after_max:g} s"
            )
            return None
        if hint is not None and hint > 0:
            return hint
        return policy.backoff(retries_done, self._draw())


def create_retry_manager_from_config(config: Mapping[str, Any]) -> RetryManager:
    """A ``RetryManager`` from a provider config's retry keys (other keys are ignored)."""
    retry_keys = {key: value for key, value in config.items() if key.startswith("retry_")}
    settings = parse_settings(RetrySettings, retry_keys, provider="retry")
    return RetryManager(RetryPolicy.from_settings(settings))
