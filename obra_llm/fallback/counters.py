"""``ChainCounters``: who served, failed and was skipped, and each fallback step, per chain (one lock)."""

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
    """Per-member counters, fallback steps, and the member that answered last."""

    def __init__(self, names: Sequence[str]) -> None:
        self._lock = threading.Lock()
        self._names = tuple(names)
        self._served = [0] * len(names)
        self._failed = [0] * len(names)
        self._skipped = [0] * len(names)
        self._steps: Counter[str] = Counter()
        self._last: int | None = None

    def served(self, index: int) -> None:
        with self._lock:
            self._served[index] += 1
            self._last = index

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

    def snapshot(self, chain: MetricsSnapshot, members: Sequence[Mapping[str, Any]]) -> FallbackMetrics:
        """``chain``'s call counters with the members' tokens and retries added, then the split."""
        with self._lock:
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
            "calls": chain["calls"],
            "total_tokens": summed["total_tokens"],
            "total_latency_ms": chain["total_latency_ms"],
            "errors": chain["errors"],
            "timeouts": chain["timeouts"],
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
