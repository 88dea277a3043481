"""One cattrs converter with strict scalar hooks, and ``parse_settings`` built on it.

Strict on purpose: ``timeout: 1.9`` must not become ``1`` for an int field, ``true`` is not
a number, and a string from ``${VAR}`` expansion is accepted only where it parses cleanly.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import reprlib
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs
import cattrs

from obra_llm.config.constraints import check_of
from obra_llm.config.expand import expand_env
from obra_llm.config.secret import Secret
from obra_llm.errors import ConfigError

__all__ = ["CrossChecked", "converter", "parse_settings", "settings_keys", "shown_value"]

SettingsT = TypeVar("SettingsT", bound=attrs.AttrsInstance)

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_STR_OR_NUMBER_OR_NONE = str | float | None
_STR_OR_NUMBER = (str | float, _STR_OR_NUMBER_OR_NONE)
#: A value or key longer than this is cut in messages: a 15 MB config must not give a 15 MB error.
_SHOWN_CHARS = 120
#: How many problems one ``ConfigError`` lists (all of them stay in its ``problems``).
_LISTED_PROBLEMS = 20
_USERINFO = re.compile(r"(?<=://)[^/?#@\s]*@")
#: Old names of a key, and the key they mean (when the settings class has no key of the old name).
_LEGACY_KEYS = {"endpoint": "base_url", "api_url": "base_url"}


@runtime_checkable
class CrossChecked(Protocol):
    """Settings whose keys can contradict each other: ``parse_settings`` adds what ``problems()`` finds."""

    def problems(self) -> list[str]: ...


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    msg = "expected a whole number"
    raise ValueError(msg)


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            msg = "expected a number"
            raise ValueError(msg) from None
    else:
        msg = "expected a number"
        raise ValueError(msg)
    if not math.isfinite(number):
        msg = "expected a finite number"
        raise ValueError(msg)
    return number


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    msg = "expected true or false"
    raise ValueError(msg)


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    msg = "expected a string"
    raise ValueError(msg)


def _structure_secret(value: Any, _: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    msg = "expected a string"
    raise ValueError(msg)


def _structure_str_or_number(value: Any, kind: Any) -> str | float | None:
    if value is None and kind == _STR_OR_NUMBER_OR_NONE:
        return None
    if isinstance(value, str):
        return value
    return _structure_float(value, float)


def _make_converter() -> cattrs.Converter:
    made = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    made.register_structure_hook(int, _structure_int)
    made.register_structure_hook(float, _structure_float)
    made.register_structure_hook(bool, _structure_bool)
    made.register_structure_hook(str, _structure_str)
    made.register_structure_hook(Secret, _structure_secret)
    made.register_structure_hook_func(lambda kind: kind in _STR_OR_NUMBER, _structure_str_or_number)
    made.register_unstructure_hook(Secret, str)
    return made


#: The converter every settings class goes through. Private to obra_llm: never the global one.
converter = _make_converter()


@functools.cache
def settings_keys(cls: type[attrs.AttrsInstance]) -> tuple[str, ...]:
    """The configuration keys ``cls`` accepts, in declaration order (types resolved once)."""
    attrs.resolve_types(cls)
    return tuple(field.name for field in attrs.fields(cls))


def parse_settings(
    cls: type[SettingsT],
    config: object,
    *,
    provider: str,
    environ: Mapping[str, str] | None = None,
    source: str | None = None,
    root: str = "$",
) -> SettingsT:
    """Validate ``config`` into ``cls``, reporting every problem at once in one ``ConfigError``.

    Expands ``${VAR}`` references, maps legacy keys, rejects unknown keys (suggesting a
    close match), checks types with the strict converter, ranges from field metadata, and
    contradictions between keys through the settings' own ``problems()`` method.
    Problems name their key as a path from ``root`` (``$.llm`` for a file's section).
    """
    where = f" (from {source})" if source else ""
    if not isinstance(config, Mapping):
        msg = f"the {provider} configuration{where} must be a mapping of keys to values, not {type(config).__name__}"
        raise ConfigError(msg)
    env = os.environ if environ is None else environ
    expanded: dict[str, Any] = {}
    problems: list[str] = []
    unexpanded: set[str] = set()
    for key, raw in config.items():
        expanded[key], key_problems = expand_env(raw, env, path=f"{root}.{key}")
        if key_problems:
            problems += key_problems
            unexpanded.add(key)
    known = settings_keys(cls)
    values = _apply_legacy_keys(expanded, known)
    problems += _unknown_key_problems(values, known, root)
    fields = {field.name: field for field in attrs.fields(cls)}
    structured: dict[str, Any] = {}
    for name, field in fields.items():
        if name in unexpanded:
            continue  # already reported: its ${VAR} is unset
        if name not in values:
            if field.default is attrs.NOTHING:
                problems.append(f"missing required key {name!r} @ {root}.{name}")
            continue
        problem, value = _structure_field(field, values[name], f"{root}.{name}")
        if problem:
            problems.append(problem)
        else:
            structured[name] = value
    settings = cls(**structured) if not problems else None
    checked: object = settings  # a TypeVar and a Protocol do not intersect for mypy: check the object
    if isinstance(checked, CrossChecked):
        problems += [problem.replace("@ $.", f"@ {root}.") for problem in checked.problems()]
    if problems or settings is None:
        listed = [*problems[:_LISTED_PROBLEMS], *([f"... and {len(problems) - _LISTED_PROBLEMS} more"] if len(problems) > _LISTED_PROBLEMS else [])]
        lines = "\n".join(f"  - {problem}" for problem in listed)
        msg = f"invalid {provider} configuration{where}:\n{lines}"
        raise ConfigError(msg, problems=problems)
    return settings


def _apply_legacy_keys(values: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    for legacy, current in _LEGACY_KEYS.items():
        if legacy in values and legacy not in known and current in known:
            legacy_value = values.pop(legacy)
            values.setdefault(current, legacy_value)
    return values


def _unknown_key_problems(values: Mapping[str, Any], known: tuple[str, ...], root: str) -> list[str]:
    problems = []
    for key in values:
        if key in known:
            continue
        name = str(key)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6) if len(name) <= _SHOWN_CHARS else []
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(sorted(known))}"
        problems.append(f"unknown key {shown_value(key)} ({hint}) @ {root}.{_bounded(name)}")
    return problems


def _structure_field(field: attrs.Attribute[Any], raw: Any, path: str) -> tuple[str | None, Any]:
    secret = field.type in (Secret, Secret | None)
    shown = "<hidden>" if secret else shown_value(raw)
    if field.type is None:
        msg = f"settings field {field.name!r} has no type annotation"
        raise TypeError(msg)
    try:
        value = converter.structure(raw, field.type)
    except Exception as error:
        reason = _reason(error)
        return f"{shown} is not valid: {reason} @ {path}", None
    check = check_of(field)
    if check is not None and not check.accepts(value):
        verdict = "not valid" if check.predicate is not None else "out of range"
        detail = check.explain(value) if check.explain is not None else None
        because = f"{detail}; " if detail else ""
        return f"{shown} is {verdict}: {because}expected {check.allowed} @ {path}", None
    return None, value


def shown_value(value: Any) -> str:
    """``repr(value)`` for a message: URL credentials masked, bounded work and length (``reprlib``)."""
    if isinstance(value, str):
        value = _USERINFO.sub("***@", value)
    return _bounded(_USERINFO.sub("***@", _SHOWN.repr(value)))


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 3, _SHOWN_CHARS, _SHOWN_CHARS
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 6


def _bounded(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def _reason(error: BaseException) -> str:
    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(_reason(inner) for inner in error.exceptions)
    if isinstance(error, ValueError | TypeError) and str(error):
        return _bounded(str(error).splitlines()[0])
    return f"expected another type ({type(error).__name__})"
