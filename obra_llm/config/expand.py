"""``${VAR}`` and ``${VAR:-default}`` expansion over a parsed configuration tree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["expand_env"]

_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, environ: Mapping[str, str], *, path: str = "$") -> tuple[Any, list[str]]:
    """Return ``value`` with every string's references expanded, and the problems found.

    ``$$`` stands for a literal ``$``. A variable that is unset and has no default is a
    problem naming the variable and the key that used it; it expands to an empty string
    so that the other keys can still be checked in the same pass.
    """
    problems: list[str] = []
    return _expand(value, environ, path, problems), problems


def _expand(value: Any, environ: Mapping[str, str], path: str, problems: list[str]) -> Any:
    if isinstance(value, str):
        return _expand_string(value, environ, path, problems)
    if isinstance(value, Mapping):
        return {key: _expand(item, environ, f"{path}.{key}", problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, environ, f"{path}[{index}]", problems) for index, item in enumerate(value)]
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
        problems.append(f"environment variable {name} is not set (set it, or write ${{{name}:-default}}) @ {path}")
        return ""

    return _REFERENCE.sub(substitute, text)
