"""``Cooldowns``: which members of a chain may be tried now, shared by every call (one lock).

Per member, a small circuit breaker: *trusted*; *cooling* until a time after a failure the
chain moves on for; then *half-open*: the first call to come takes the one trial (others
keep skipping the member), and its outcome trusts the member again or cools it once more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal, NamedTuple

__all__ = ["Admission", "Cooldowns", "MemberState"]

#: How a call was let in: the member is trusted, or this call is its half-open trial.
Admission = Literal["trusted", "trial"]


class MemberState(NamedTuple):
    """A member's circuit now: ``trusted``, ``cooling`` (with seconds left), ``half-open`` or ``trial``."""

    name: Literal["trusted", "cooling", "half-open", "trial"]
    seconds_left: float = 0.0


class Cooldowns:
    """Cooling deadlines and half-open trials for ``size`` members, on an injectable clock."""

    def __init__(self, size: int, *, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._until: list[float | None] = [None] * size
        self._trial = [False] * size

    def trusted(self, index: int) -> bool:
        """Whether member ``index`` is trusted now (read without the lock, as ``admit`` does first)."""
        return self._until[index] is None

    def admit(self, index: int) -> Admission | None:
        """Let a call try member ``index`` now, or ``None``: skip it (cooling, or another call holds the trial)."""
        if self._until[index] is None:
            return "trusted"  # the common case, without the lock: a failure recorded meanwhile counts from the next call
        with self._lock:
            until = self._until[index]
            if until is None:
                return "trusted"
            if self._trial[index] or self._clock() < until:
                return None
            self._trial[index] = True
            return "trial"

    def passed(self, index: int, admission: Admission) -> None:
        """The member answered (or failed in a way that is not its health): a trial trusts it again."""
        if admission == "trial":
            with self._lock:
                self._trial[index] = False
                self._until[index] = None

    def failed(self, index: int, admission: Admission | None, seconds: float) -> None:
        """The member failed in a way the chain moves on for: skip it for ``seconds`` (0: do not)."""
        with self._lock:
            if admission == "trial":
                self._trial[index] = False
            if seconds > 0:
                until = self._clock() + seconds
                current = self._until[index]
                self._until[index] = until if current is None else max(current, until)

    def released(self, index: int, admission: Admission) -> None:
        """The call ended without a verdict (abandoned, interrupted): the trial goes to the next call."""
        if admission == "trial":
            with self._lock:
                self._trial[index] = False

    def state(self, index: int) -> MemberState:
        """Member ``index``'s circuit now."""
        with self._lock:
            until = self._until[index]
            if until is None:
                return MemberState("trusted")
            if self._trial[index]:
                return MemberState("trial")
            left = until - self._clock()
            return MemberState("cooling", left) if left > 0 else MemberState("half-open")
