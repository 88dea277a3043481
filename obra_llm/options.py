"""Checks on per-call options (``generate(prompt, **options)``), shared by every provider.

An option a provider cannot honour is rejected with a message naming it, never dropped:
a validator that silently ignored ``stop`` would score different text than it was asked to.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from obra_llm.config.constraints import MAX_COUNT, MAX_SECONDS
from obra_llm.config.convert import shown_value
from obra_llm.errors import ConfigError
from obra_llm.protocol import GenerateOptions

if TYPE_CHECKING:
    from obra_llm.config.settings import CommonSettings

__all__ = ["ALL_OPTIONS", "Call", "options_refused", "resolve_call", "validate_options"]

ALL_OPTIONS: frozenset[str] = frozenset(GenerateOptions.__annotations__)


def validate_options(
    options: Mapping[str, Any],
    *,
    provider: str,
    supported: Collection[str] = ALL_OPTIONS,
    temperature_range: tuple[float, float] = (0.0, 2.0),
    max_stop: int | None = None,
) -> GenerateOptions:
    """Return ``options`` unchanged when valid; raise one ``ConfigError`` listing every problem."""
    if not options:
        return cast("GenerateOptions", options)
    problems: list[str] = []
    for name, value in options.items():
        if name not in ALL_OPTIONS:
            problems.append(f"unknown option {shown_value(name)}; generate() accepts {sorted(ALL_OPTIONS)}")
        elif name not in supported:
            problems.append(f"option {name!r} is not supported by {provider}; it accepts {sorted(supported)}")
        else:
            problem = _check(name, value, temperature_range, max_stop)
            if problem:
                problems.append(problem)
    if problems:
        raise options_refused(provider, problems)
    return cast("GenerateOptions", options)


def options_refused(provider: str, problems: list[str]) -> ConfigError:
    """The one error for a call's invalid options, so that every check words it alike: each problem, joined and listed."""
    return ConfigError(f"invalid options for {provider}.generate(): " + "; ".join(problems), problems=problems)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(name: str, value: Any, temperature_range: tuple[float, float], max_stop: int | None) -> str | None:
    low, high = temperature_range
    if name == "temperature" and not (_is_number(value) and low <= value <= high):
        return f"temperature={shown_value(value)} must be a number from {low:g} to {high:g}"
    if name == "max_tokens" and not (_is_whole(value) and 1 <= value <= MAX_COUNT):
        return f"max_tokens={shown_value(value)} must be a whole number from 1 to {MAX_COUNT}"
    if name == "timeout" and not (_is_number(value) and 0 < value <= MAX_SECONDS):
        return f"timeout={shown_value(value)} must be a number of seconds > 0 and <= {MAX_SECONDS:g} (a day)"
    if name == "seed" and not (_is_whole(value) and -(2**63) <= value < 2**63):
        return f"seed={shown_value(value)} must be a whole number that fits in 64 bits"
    if name == "system" and not isinstance(value, str):
        return f"system must be a string, not {type(value).__name__}"
    if name == "json_schema":
        from obra_llm.structured import schema_problem  # jsonschema_rs loads only for structured calls

        return schema_problem(value)
    if name == "stop":
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
            return f"stop={shown_value(value)} must be a list of non-empty strings"
        if max_stop is not None and len(value) > max_stop:
            return f"stop has {len(value)} sequences; at most {max_stop} are allowed"
    return None


class Call(NamedTuple):
    """One call's effective options: the settings, with the per-call options laid over them.

    Built once per call by ``resolve_call``, before any translation, so a provider only maps
    these names to its wire (a ``NamedTuple``: one is built for every call).
    """

    system: str | None
    temperature: float | None
    max_tokens: int | None
    stop: tuple[str, ...] | None
    seed: int | None
    timeout: float
    #: The JSON Schema the answer must conform to (``None``: a plain text answer).
    json_schema: Mapping[str, Any] | None = None

    def messages(self, prompt: str) -> list[dict[str, str]]:
        """The chat as role messages: the system prompt when there is one, then the user's prompt."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, {"role": "user", "content": prompt}]

    def sampling(self, *, temperature: str, max_tokens: str | None, stop: str, seed: str | None) -> dict[str, Any]:
        """The sampling options this call sets, under the API's names (``None``: the API has no such field)."""
        fields: dict[str, Any] = {}
        if self.temperature is not None:
            fields[temperature] = self.temperature
        if self.max_tokens is not None and max_tokens:
            fields[max_tokens] = self.max_tokens
        if self.stop is not None:
            fields[stop] = list(self.stop)
        if self.seed is not None and seed:
            fields[seed] = self.seed
        return fields


def resolve_call(settings: CommonSettings, options: GenerateOptions) -> Call:
    """The ``Call`` for ``options`` (already validated) over ``settings``: a call's value wins."""
    if not options:
        return Call(settings.system, settings.temperature, settings.max_tokens, None, None, settings.timeout)
    stop = options.get("stop")
    return Call(
        system=options.get("system", settings.system),
        temperature=options.get("temperature", settings.temperature),
        max_tokens=options.get("max_tokens", settings.max_tokens),
        stop=tuple(stop) if stop is not None else None,
        seed=options.get("seed"),
        timeout=options.get("timeout", settings.timeout),
        json_schema=options.get("json_schema"),
    )
