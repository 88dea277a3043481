"""The ecosystem's own variables (``OLLAMA_HOST``, ``OPENAI_BASE_URL``...), as the command line honours them.

A user who already exported ``OLLAMA_HOST`` for the ``ollama`` CLI expects ``obra-llm`` to
reach the same server. A variable fills its key only when the configuration leaves it out:
the file, and the command-line flags, always win.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["ECOSYSTEM_VARIABLES", "EcosystemVariable", "ecosystem_defaults", "ollama_host_url"]

logger = logging.getLogger(__name__)


def ollama_host_url(value: str) -> str:
    """``OLLAMA_HOST`` as the ollama CLI reads it: ``host``, ``host:port`` or a URL (http and 11434 by default)."""
    text = value.strip().rstrip("/")
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "http", text
    host, _, path = rest.partition("/")
    if ":" not in host.rsplit("]", 1)[-1]:
        host = f"{host}:{443 if scheme == 'https' else 11434}"
    return f"{scheme}://{host}" + (f"/{path}" if path else "")


def _as_written(value: str) -> str:
    return value.strip()


@attrs.frozen
class EcosystemVariable:
    """``variable`` fills the provider's ``key`` when the configuration has none."""

    variable: str
    key: str
    normalize: Callable[[str], str] = _as_written


_OPENAI_BASE_URL = EcosystemVariable("OPENAI_BASE_URL", "base_url")

#: Per provider type: the variables its vendor's own tools read for the server address.
#: API keys need no entry: every provider already falls back to its vendor's key variable.
ECOSYSTEM_VARIABLES: Mapping[str, tuple[EcosystemVariable, ...]] = {
    "ollama": (EcosystemVariable("OLLAMA_HOST", "base_url", ollama_host_url),),
    "openai": (_OPENAI_BASE_URL,),
    "openai-api": (_OPENAI_BASE_URL,),
    "anthropic": (EcosystemVariable("ANTHROPIC_BASE_URL", "base_url"),),
    "cohere": (EcosystemVariable("CO_API_URL", "base_url"),),
}
#: Old names a file may still use for a key (``endpoint`` and ``api_url`` are ``base_url``).
_SAME_KEY = {"base_url": ("endpoint", "api_url")}


def ecosystem_defaults(llm_type: str, config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The keys the ecosystem's variables supply for ``llm_type``: only those ``config`` leaves out."""
    env = os.environ if environ is None else environ
    supplied = {}
    for entry in ECOSYSTEM_VARIABLES.get(llm_type, ()):
        value = env.get(entry.variable, "").strip()
        names = (entry.key, *_SAME_KEY.get(entry.key, ()))
        if value and not any(name in config for name in names):
            supplied[entry.key] = entry.normalize(value)
            logger.info("%s from $%s (the configuration leaves it unset)", entry.key, entry.variable)
    return supplied
