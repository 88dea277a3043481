"""Settings shared by every provider; each provider module extends ``CommonSettings``."""

from __future__ import annotations

import attrs

from obra_llm.config.constraints import MAX_COUNT, at_least, between, seconds

__all__ = ["CommonSettings", "RetrySettings"]


@attrs.frozen(kw_only=True)
class RetrySettings:
    """The retry keys (seed names kept): attempts in all, backoff, and the total deadline.

    ``retry_attempts`` counts every attempt, the first included: 1 means never retry.
    ``retry_deadline`` bounds a whole call, every attempt and wait included; unset, it is
    ``max(60 s, timeout)``. ``retry_after_max`` is the longest wait a server may ask for;
    asking for more fails fast. Every duration is at most a day (``MAX_SECONDS``), every
    count at most 100 attempts: larger values would overflow the clocks the deadline uses.
    """

    retry_attempts: int = attrs.field(default=3, metadata=at_least(1, 100))
    retry_backoff_base: float = attrs.field(default=0.5, metadata=seconds(inclusive=True))
    retry_backoff_max: float = attrs.field(default=8.0, metadata=seconds(inclusive=True))
    retry_deadline: float | None = attrs.field(default=None, metadata=seconds())
    retry_after_max: float = attrs.field(default=60.0, metadata=seconds(inclusive=True))


@attrs.frozen(kw_only=True)
class CommonSettings(RetrySettings):
    """Keys every provider accepts. ``temperature``'s range is narrowed where a provider needs it."""

    type: str = ""
    model: str
    timeout: float = attrs.field(default=120.0, metadata=seconds())
    temperature: float | None = attrs.field(default=None, metadata=between(0, 2))
    max_tokens: int | None = attrs.field(default=None, metadata=at_least(1, MAX_COUNT))
    system: str | None = None
    #: Further attempts a structured answer gets after failing its schema (``json_schema=``).
    structured_repairs: int = attrs.field(default=1, metadata=at_least(0, 100))

    def problems(self) -> list[str]:
        """Contradictions between keys, which no single key's check can see."""
        problems = []
        if self.retry_deadline is not None and self.retry_deadline < self.timeout:
            problems.append(
                f"retry_deadline={self.retry_deadline:g} is shorter than timeout={self.timeout:g}, so no attempt "
                "could use its whole timeout: raise retry_deadline or lower timeout @ $.retry_deadline"
            )
        if self.model in (".", ".."):
            problems.append(f"{self.model!r} is a URL dot segment, not a model name @ $.model")
        return problems
