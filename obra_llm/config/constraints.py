"""Declarative value checks kept in attrs field metadata, so every problem is reported at once."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import attrs

__all__ = [
    "MAX_COUNT",
    "MAX_SECONDS",
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
    "seconds",
    "url_problem",
]

_KEY = "obra_llm.check"

#: The longest duration any key accepts (a day): beyond it, deadlines overflow the platform's clocks.
MAX_SECONDS = 86_400.0
#: The largest count a key accepts (attempts, tokens): what every API's int32 fields hold.
MAX_COUNT = 2**31 - 1


@attrs.frozen
class Check:
    """A range or choice; ``allowed`` is the human text used in error messages."""

    allowed: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    choices: tuple[Any, ...] | None = None
    predicate: Callable[[Any], bool] | None = None
    #: What exactly is wrong with a refused value, when there is more to say than ``allowed``.
    explain: Callable[[Any], str | None] | None = None

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


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) <= MAX_COUNT else f"{value:g}"


def between(low: float, high: float) -> dict[str, Check]:
    """A number from ``low`` to ``high``, both included."""
    return Check(f"a number from {_number(low)} to {_number(high)}", low=low, high=high).metadata()


def at_least(low: float, high: float = MAX_COUNT) -> dict[str, Check]:
    """A number from ``low`` (included) to ``high`` (every count has a ceiling)."""
    return between(low, high)


def greater_than(low: float, high: float = MAX_COUNT) -> dict[str, Check]:
    """A number ``> low`` and ``<= high``."""
    return Check(f"a number > {_number(low)} and <= {_number(high)}", low=low, high=high, low_inclusive=False).metadata()


def seconds(*, low: float = 0.0, inclusive: bool = False) -> dict[str, Check]:
    """A duration in seconds, above ``low`` (or from it, ``inclusive``) and at most ``MAX_SECONDS``."""
    above = ">=" if inclusive else ">"
    allowed = f"a number of seconds {above} {_number(low)} and <= {_number(MAX_SECONDS)} (a day)"
    return Check(allowed, low=low, high=MAX_SECONDS, low_inclusive=inclusive).metadata()


def one_of(choices: Collection[Any]) -> dict[str, Check]:
    """One of ``choices``."""
    listed = sorted(choices, key=str)
    return Check(f"one of {listed}", choices=tuple(listed)).metadata()


def http_url() -> dict[str, Check]:
    """An ``http://`` or ``https://`` URL with a host and a valid port, and nothing obra_llm would drop."""
    return Check(
        "an http:// or https:// URL with a host, e.g. http://localhost:11434",
        predicate=lambda value: url_problem(value) is None,
        explain=url_problem,
    ).metadata()


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


def url_problem(value: Any) -> str | None:
    """What makes ``value`` unusable as a base URL, or ``None``.

    Refused rather than half-honoured: a query or fragment would be dropped from every
    request, credentials (``user:pw@``) would not be sent (and must not be echoed), and a
    port past 65535 would wrap onto another one.
    """
    import httpx  # deferred: the config layer stays importable on its own

    if not isinstance(value, str):
        return "it is not a string"
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "it does not parse as a URL"
    if url.scheme not in ("http", "https"):
        return f"its scheme {url.scheme!r} is not http or https" if url.scheme else "it has no scheme (http:// or https://)"
    if not url.host:
        return "it has no host"
    if url.port is not None and not 1 <= url.port <= 65_535:
        return f"its port {url.port} is outside 1-65535"
    if url.userinfo:
        return "it holds credentials (user:password@), which are never sent: give the key as api_key"
    if url.query:
        return "it has a query (?...), which requests would not carry: remove it"
    if url.fragment or value.rstrip().endswith("#"):
        return "it has a fragment (#...), which requests would not carry: remove it"
    return None


def check_of(field: attrs.Attribute[Any]) -> Check | None:
    """The check attached to ``field``, if any."""
    found = field.metadata.get(_KEY)
    return found if isinstance(found, Check) else None
