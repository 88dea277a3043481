"""The configuration a command runs with: the discovered file, the ecosystem's variables, then the flags on top."""

from __future__ import annotations

import argparse
import difflib
import logging
from typing import Any

import attrs

from obra_llm.config.convert import parse_settings, settings_keys
from obra_llm.config.discovery import ConfigSource, find_config
from obra_llm.config.ecosystem import ecosystem_defaults
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import ConfigError
from obra_llm.protocol import provider_class
from obra_llm.registry import REGISTRY, configured_type, load_config, lookup

__all__ = ["Resolved", "resolve", "type_suggestion"]

logger = logging.getLogger("obra_llm.cli")

#: Keys every provider honours the same way, so they survive ``--type`` naming another one
#: (``temperature`` and ``max_tokens`` do not: the CLI providers refuse them).
_PORTABLE_KEYS = frozenset(key for key in settings_keys(CommonSettings) if key == "timeout" or key.startswith("retry_"))


@attrs.frozen
class Resolved:
    """The ``llm`` configuration to use, and where its file came from."""

    config: dict[str, Any]
    source: ConfigSource
    llm_type: str

    def model(self) -> str:
        """The model calls will use: the configured one, else the provider's default (no I/O)."""
        declared = provider_class(lookup(self.llm_type))
        if declared is None:
            return str(self.config.get("model") or "")
        return parse_settings(declared.settings_type, self.config, provider=self.llm_type).model


def resolve(args: argparse.Namespace) -> Resolved:
    """The file's ``llm`` section, with the ecosystem's variables filling gaps and the flags overlaid."""
    source = find_config(args.config)
    logger.info("configuration: %s", source.describe())
    config: dict[str, Any] = load_config(source.path) if source.path is not None else {}
    if args.llm_type:
        wanted = _registered_spelling(args.llm_type)
        if wanted != configured_type(config):
            config = {key: value for key, value in config.items() if key in _PORTABLE_KEYS}
        config["type"] = wanted
    llm_type = configured_type(config)
    if args.model:
        config["model"] = args.model
    if args.base_url:
        key = _address_key(llm_type)
        for old_name in {"endpoint", "api_url"} - {key}:
            config.pop(old_name, None)  # the flag replaces the file's address, whatever its name
        config[key] = args.base_url
    if args.api_key_env:
        _require_key(llm_type, "api_key_env", "--api-key-env")
        config.pop("api_key", None)  # the named variable replaces the file's key
        config["api_key_env"] = args.api_key_env
    return Resolved(ecosystem_defaults(llm_type, config) | config, source, llm_type)


def type_suggestion(llm_type: str) -> str | None:
    """``did you mean 'X'?`` for a mistyped provider type, or ``None``."""
    close = difflib.get_close_matches(llm_type.lower(), sorted(REGISTRY), n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else None


def _registered_spelling(llm_type: str) -> str:
    """``Ollama`` means ``ollama``: types match case-insensitively."""
    if llm_type in REGISTRY:
        return llm_type
    folded = [name for name in REGISTRY if name.casefold() == llm_type.casefold()]
    return folded[0] if len(folded) == 1 else llm_type


def _address_key(llm_type: str) -> str:
    """``base_url`` for obra_llm's providers; ``endpoint`` for a plugin that declares no keys (the orchestrator's name)."""
    keys = _keys_of(llm_type)
    if keys is None:
        return "endpoint"
    if "base_url" in keys:
        return "base_url"
    msg = f"--base-url does not apply to {llm_type}: it has no base_url key"
    raise ConfigError(msg)


def _require_key(llm_type: str, key: str, flag: str) -> None:
    keys = _keys_of(llm_type)
    if keys is not None and key not in keys:
        msg = f"{flag} does not apply to {llm_type}: it has no {key} key"
        raise ConfigError(msg)


def _keys_of(llm_type: str) -> tuple[str, ...] | None:
    """The keys ``llm_type`` accepts; ``None`` for a plugin that does not declare them."""
    declared = provider_class(lookup(llm_type))
    return None if declared is None else tuple(field.name for field in attrs.fields(declared.settings_type))
