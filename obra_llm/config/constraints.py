"""Declarative value checks kept in attrs field metadata, so every problem is reported at once."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import attrs

__all__ = [
    "Check",
    "at_least",
    "between",
    "check_of",
    "env_variable",
    "greater_than",
    "header_value",
    "http_url",
    "is_header_safe",
    "one_of",
]

_KEY = "obra_llm.check"


@attrs.frozen
class Check:
    """A range or choice; ``allowed`` is the human text used in error messages."""

    allowed: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    choices: tuple[Any, ...] | None = None
    predicate: Callable[[Any], bool] | None = None

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed (``None`` always is: it means "not set")."""
        if value is None:
            return True
        if self.predicate is not None:
            return self.predicate(value)
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


def http_url() -> dict[str, Check]:
    """An ``http://`` or ``https://`` URL with a host, that httpx can parse."""
    return Check("an http:// or https:// URL with a host, e.g. http://localhost:11434", predicate=_is_http_url).metadata()


def header_value() -> dict[str, Check]:
    """Text that can travel in an HTTP header: printable ASCII (API keys, organization ids)."""
    return Check("printable ASCII characters (it is sent in an HTTP header)", predicate=is_header_safe).metadata()


def env_variable() -> dict[str, Check]:
    """The name of an environment variable: letters, digits and underscores, not starting with a digit."""
    return Check("an environment variable name such as GROQ_API_KEY", predicate=_is_variable_name).metadata()


def _is_variable_name(value: Any) -> bool:
    return isinstance(value, str) and value.isascii() and value.replace("_", "a").isalnum() and not value[:1].isdigit()


def is_header_safe(value: Any) -> bool:
    """Whether ``value`` (a string or a ``Secret``) is printable ASCII."""
    text = value.reveal() if hasattr(value, "reveal") else value
    return isinstance(text, str) and text.isascii() and text.isprintable()


def _is_http_url(value: Any) -> bool:
    import httpx  # deferred: the config layer stays importable on its own

    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def check_of(field: attrs.Attribute[Any]) -> Check | None:
    """The check attached to ``field``, if any."""
    found = field.metadata.get(_KEY)
    return found if isinstance(found, Check) else None
