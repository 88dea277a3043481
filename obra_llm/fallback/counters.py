"""``ChainCounters``: a chain's calls, who served, failed and was skipped, and each fallback step (one lock)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from obra_llm.protocol import MetricsSnapshot

__all__ = ["ChainCounters", "FallbackMetrics", "MemberMetrics"]

#: The counters of a member's own ``metrics`` that add up to the chain's.
_SUMMED = ("total_tokens", "prompt_tokens", "completion_tokens", "retries", "structured_repairs")


class MemberMetrics(TypedDict):
    """One member's part: chain calls it answered, failed or was skipped in, and its own metrics."""

    member: str
    served: int
    failed: int
    skipped: int
    metrics: dict[str, Any]


class FallbackMetrics(MetricsSnapshot):
    """The chain's ``metrics``: the five orchestrator keys for the chain as a whole, then the split.

    ``calls``, ``errors``, ``timeouts`` and ``total_latency_ms`` count chain calls (one per
    ``generate``, however many members it took); tokens, retries and structured repairs add up the members'.
    ``fallbacks`` counts each step ``"from -> to"`` from a member that failed to the next one tried.
    """

    members: list[MemberMetrics]
    fallbacks: dict[str, int]


class ChainCounters:
    """The chain's own call counters, who served, failed and was skipped, each fallback step, and the last to answer.

    One lock for all of them, so that a whole answer is counted by one ``answered``: the
    chain's cost over its first member is mostly these few updates.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self._lock = threading.Lock()
        self._names = tuple(names)
        self._calls = 0
        self._latency_ms = 0.0
        self._errors = 0
        self._timeouts = 0
        self._served = [0] * len(names)
        self._failed = [0] * len(names)
        self._skipped = [0] * len(names)
        self._steps: Counter[str] = Counter()
        self._last: int | None = None

    def answered(self, index: int, latency_ms: float) -> None:
        """A whole-answer chain call ended with member ``index``'s answer."""
        with self._lock:
            self._calls += 1
            self._latency_ms += latency_ms
            self._served[index] += 1
            self._last = index

    def serving(self, index: int) -> None:
        """A stream's first piece came from member ``index`` (the call ends later, with ``ended``)."""
        with self._lock:
            self._served[index] += 1
            self._last = index

    def ended(self, latency_ms: float, *, failed: bool = False, timed_out: bool = False) -> None:
        """A chain call ended otherwise: a stream that finished or was abandoned, or a failure."""
        with self._lock:
            self._calls += 1
            self._latency_ms += latency_ms
            if failed or timed_out:
                self._errors += 1
            if timed_out:
                self._timeouts += 1

    def failed(self, index: int) -> None:
        with self._lock:
            self._failed[index] += 1

    def skipped(self, index: int) -> None:
        with self._lock:
            self._skipped[index] += 1

    def step(self, source: int, target: int) -> None:
        with self._lock:
            self._steps[f"{self._names[source]} -> {self._names[target]}"] += 1

    @property
    def last_served(self) -> int | None:
        """The member that answered the call that finished last, if any has."""
        with self._lock:
            return self._last

    def snapshot(self, members: Sequence[Mapping[str, Any]]) -> FallbackMetrics:
        """The chain's call counters with the members' tokens and retries added, then the split."""
        with self._lock:
            calls, latency_ms, errors, timeouts = self._calls, self._latency_ms, self._errors, self._timeouts
            split: list[MemberMetrics] = [
                {
                    "member": name,
                    "served": self._served[index],
                    "failed": self._failed[index],
                    "skipped": self._skipped[index],
                    "metrics": dict(members[index]),
                }
                for index, name in enumerate(self._names)
            ]
            steps = dict(self._steps)
        summed = {key: sum(_count(member, key) for member in members) for key in _SUMMED}
        return {
            "calls": calls,
            "total_tokens": summed["total_tokens"],
            "total_latency_ms": latency_ms,
            "errors": errors,
            "timeouts": timeouts,
            "prompt_tokens": summed["prompt_tokens"],
            "completion_tokens": summed["completion_tokens"],
            "retries": summed["retries"],
            "structured_repairs": summed["structured_repairs"],
            "members": split,
            "fallbacks": steps,
        }


def _count(metrics: Mapping[str, Any], key: str) -> int:
    value = metrics.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
