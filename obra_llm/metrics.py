"""Thread-safe call counters behind every provider's ``metrics`` property."""

from __future__ import annotations

import threading

from obra_llm.protocol import MetricsSnapshot

__all__ = ["Metrics"]


class Metrics:
    """Counts calls, tokens, latency and failures; one lock, so totals stay exact under threads.

    A call is counted once, in ``calls``, when it starts (so a call waiting between its
    attempts is already there when ``retries`` moves), and finished once, whatever ends it:
    ``total_latency_ms`` and the tokens then, ``errors`` on failure, ``timeouts`` on a
    timeout failure (a timeout is also an error). ``retries`` counts attempts after the first;
    ``structured_repairs`` the further attempts at answers that failed their schema.
    """

    __slots__ = (
        "_calls",
        "_completion_tokens",
        "_errors",
        "_latency_ms",
        "_lock",
        "_prompt_tokens",
        "_repairs",
        "_retries",
        "_timeouts",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._latency_ms = 0.0
        self._errors = 0
        self._timeouts = 0
        self._retries = 0
        self._repairs = 0

    def record_start(self) -> None:
        """Count one call that has started."""
        with self._lock:
            self._calls += 1

    def record_end(
        self,
        *,
        latency_ms: float,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        failed: bool = False,
        timed_out: bool = False,
    ) -> None:
        """Finish one started call: its time, tokens and outcome."""
        with self._lock:
            self._latency_ms += latency_ms
            self._prompt_tokens += prompt_tokens
            self._completion_tokens += completion_tokens
            if failed or timed_out:
                self._errors += 1
            if timed_out:
                self._timeouts += 1

    def record_retry(self) -> None:
        """Count one attempt beyond a call's first."""
        with self._lock:
            self._retries += 1

    def record_repair(self) -> None:
        """Count one further attempt at a structured answer that failed its schema."""
        with self._lock:
            self._repairs += 1

    def snapshot(self) -> MetricsSnapshot:
        """A consistent copy of every counter, taken under the lock."""
        with self._lock:
            return {
                "calls": self._calls,
                "total_tokens": self._prompt_tokens + self._completion_tokens,
                "total_latency_ms": self._latency_ms,
                "errors": self._errors,
                "timeouts": self._timeouts,
                "prompt_tokens": self._prompt_tokens,
                "completion_tokens": self._completion_tokens,
                "retries": self._retries,
                "structured_repairs": self._repairs,
            }
