"""``${VAR}`` and ``${VAR:-default}`` expansion over a parsed configuration tree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["expand_env"]

_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


#: The most values (scalars and containers) one key's value may expand to, and the deepest
#: nesting: a configuration is small, and a value shared many times (YAML aliases, or one
#: Python list put in itself) would otherwise be copied until memory or the stack runs out.
MAX_VALUES = 10_000
MAX_DEPTH = 32


class _TooBig(Exception):
    """Raised inside the walk to stop it; reported as a problem of the key."""


def expand_env(value: Any, environ: Mapping[str, str], *, path: str = "$") -> tuple[Any, list[str]]:
    """Return ``value`` with every string's references expanded, and the problems found.

    ``$$`` stands for a literal ``$``. A variable that is unset and has no default is a
    problem naming the variable and the key that used it; it expands to an empty string
    so that the other keys can still be checked in the same pass. A value of more than
    ``MAX_VALUES`` values or ``MAX_DEPTH`` levels is a problem too (expanded to ``None``).
    """
    problems: list[str] = []
    budget = [MAX_VALUES]
    try:
        return _expand(value, environ, path, problems, budget, 0), problems
    except _TooBig as too_big:
        return None, [f"{too_big} @ {path}"]


def _expand(value: Any, environ: Mapping[str, str], path: str, problems: list[str], budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        msg = f"the value holds more than {MAX_VALUES} values (shared YAML anchors count once per use)"
        raise _TooBig(msg)
    if isinstance(value, str):
        return _expand_string(value, environ, path, problems)
    if isinstance(value, Mapping | list) and depth >= MAX_DEPTH:
        msg = f"the value is nested more than {MAX_DEPTH} levels deep"
        raise _TooBig(msg)
    if isinstance(value, Mapping):
        return {key: _expand(item, environ, f"{path}.{key}", problems, budget, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, environ, f"{path}[{index}]", problems, budget, depth + 1) for index, item in enumerate(value)]
    return value


def _expand_string(text: str, environ: Mapping[str, str], path: str, problems: list[str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:
            return "$"
        found = environ.get(name)
        if found is not None and (found or default is None):
            return found
        if default is not None:
            return default
        where = path if len(path) <= 200 else path[:200] + "..."
        problems.append(f"environment variable {name} is not set (set it, or write ${{{name}:-default}}) @ {where}")
        return ""

    return _REFERENCE.sub(substitute, text)
