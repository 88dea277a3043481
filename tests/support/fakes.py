"""A fake clock whose sleep advances it: retry timings become exact and instant."""

from __future__ import annotations


class FakeClock:
    """``clock()`` reads the time; ``sleep(s)`` and ``advance(s)`` move it; sleeps are recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
