"""Declarative value checks kept in attrs field metadata, so every problem is reported at once."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import attrs

__all__ = ["Check", "at_least", "between", "check_of", "greater_than", "one_of"]

_KEY = "obra_llm.check"


@attrs.frozen
class Check:
    """A range or choice; ``allowed`` is the human text used in error messages."""

    allowed: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    choices: tuple[Any, ...] | None = None

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed (``None`` always is: it means "not set")."""
        if value is None:
            return True
        if self.choices is not None:
            return value in self.choices
        if self.low is not None and (value < self.low or (not self.low_inclusive and value == self.low)):
            return False
        return self.high is None or value <= self.high

    def metadata(self) -> dict[str, Check]:
        """The field metadata that attaches this check (``attrs.field(metadata=...)``)."""
        return {_KEY: self}


def between(low: float, high: float) -> dict[str, Check]:
    """A number from ``low`` to ``high``, both included."""
    return Check(f"a number from {low:g} to {high:g}", low=low, high=high).metadata()


def at_least(low: float) -> dict[str, Check]:
    """A number ``>= low``."""
    return Check(f"a number >= {low:g}", low=low).metadata()


def greater_than(low: float) -> dict[str, Check]:
    """A number ``> low``."""
    return Check(f"a number > {low:g}", low=low, low_inclusive=False).metadata()


def one_of(choices: Collection[Any]) -> dict[str, Check]:
    """One of ``choices``."""
    listed = sorted(choices, key=str)
    return Check(f"one of {listed}", choices=tuple(listed)).metadata()


def check_of(field: attrs.Attribute[Any]) -> Check | None:
    """The check attached to ``field``, if any."""
    found = field.metadata.get(_KEY)
    return found if isinstance(found, Check) else None
