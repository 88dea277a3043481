"""``REGISTRY``: the explicit, frozen map of provider types, and ``create_llm``.

Built once at import from a literal mapping: no decorators, no import-time side effects,
no global mutation. To add a provider without editing obra_llm, pass your own mapping:
``create_llm(config, registry=REGISTRY | {"mine": MyLLM})``.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from typing import Any

from obra_llm.config.convert import parse_settings
from obra_llm.config.expand import expand_env
from obra_llm.config.load import read_llm_section
from obra_llm.errors import ConfigError, PluginNotFoundError
from obra_llm.fallback.chain import FallbackLLM
from obra_llm.protocol import LLMPlugin, provider_class
from obra_llm.providers.anthropic import AnthropicLLM
from obra_llm.providers.claude_code import ClaudeCodeCLI
from obra_llm.providers.codex import CodexCLI
from obra_llm.providers.cohere import CohereLLM
from obra_llm.providers.deepseek import DeepSeekLLM
from obra_llm.providers.gemini import GeminiLLM
from obra_llm.providers.gemini_cli import GeminiCLI
from obra_llm.providers.groq import GroqLLM
from obra_llm.providers.llamacpp import LlamaCppLLM
from obra_llm.providers.lmstudio import LmStudioLLM
from obra_llm.providers.mistral import MistralLLM
from obra_llm.providers.ollama import OllamaLLM
from obra_llm.providers.openai import OpenAILLM
from obra_llm.providers.openrouter import OpenRouterLLM
from obra_llm.providers.together import TogetherLLM
from obra_llm.providers.vllm import VllmLLM
from obra_llm.providers.xai import XaiLLM

__all__ = ["DEFAULT_TYPE", "REGISTRY", "configured_type", "create_llm", "load_config", "lookup", "validate_config"]

#: The type used when a config names none: the orchestrator's original local Ollama/Qwen.
DEFAULT_TYPE = "ollama"

REGISTRY: types.MappingProxyType[str, type[LLMPlugin]] = types.MappingProxyType(
    {
        "ollama": OllamaLLM,
        "anthropic": AnthropicLLM,
        "claude-code": ClaudeCodeCLI,
        "cohere": CohereLLM,
        "gemini": GeminiLLM,
        "mistral": MistralLLM,
        "openai": OpenAILLM,
        "openai-api": OpenAILLM,
        "openai-codex": CodexCLI,
        "deepseek": DeepSeekLLM,
        "groq": GroqLLM,
        "openrouter": OpenRouterLLM,
        "together": TogetherLLM,
        "xai": XaiLLM,
        "llamacpp": LlamaCppLLM,
        "lmstudio": LmStudioLLM,
        "vllm": VllmLLM,
        "gemini-cli": GeminiCLI,
        "fallback": FallbackLLM,
    }
)


def lookup(llm_type: str, registry: Mapping[str, type[LLMPlugin]] = REGISTRY) -> type[LLMPlugin]:
    """The provider class registered as ``llm_type``, or ``PluginNotFoundError`` listing the choices."""
    try:
        return registry[llm_type]
    except (KeyError, TypeError):
        raise PluginNotFoundError(str(llm_type), sorted(registry)) from None


def create_llm(config: Mapping[str, Any], *, registry: Mapping[str, type[LLMPlugin]] = REGISTRY) -> LLMPlugin:
    """Construct and initialize the provider ``config["type"]`` names (default ``ollama``).

    This is the orchestrator's ``_initialize_llm`` in one call. The legacy ``api_url`` key
    means ``endpoint`` when ``endpoint`` is absent, as the orchestrator always did: obra_llm's
    providers map it in their settings (only those that have an endpoint), and a plugin
    of your own (no ``settings_type``) receives the copy the orchestrator used to make.
    """
    settings = _as_dict(config)
    provider = lookup(configured_type(settings), registry)
    if provider_class(provider) is None and "api_url" in settings:
        settings.setdefault("endpoint", settings["api_url"])
    llm = provider()
    llm.initialize(settings)
    return llm


def validate_config(
    config: Mapping[str, Any],
    *,
    source: str | None = None,
    root: str = "$",
    environ: Mapping[str, str] | None = None,
    registry: Mapping[str, type[LLMPlugin]] = REGISTRY,
) -> None:
    """Check ``config`` against its provider's settings without constructing anything."""
    llm_type = configured_type(config, environ=environ)
    declared = provider_class(lookup(llm_type, registry))
    if declared is not None:
        parse_settings(declared.settings_type, config, provider=llm_type, environ=environ, source=source, root=root)


def load_config(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    registry: Mapping[str, type[LLMPlugin]] = REGISTRY,
) -> dict[str, Any]:
    """Return the ``llm`` section of the YAML file at ``path``, validated.

    A file without an ``llm`` key is taken to be the section itself. Validation uses the
    settings class of the provider named by ``type`` (default ``ollama``) and reports every
    problem at once, naming the file: unknown keys, wrong types, values out of range and
    unset ``${VAR}`` references. The section is returned as written: references are
    expanded once, when the provider is initialized, so secrets are not copied into it.
    """
    loaded = read_llm_section(path)
    validate_config(loaded.section, source=loaded.source, root=loaded.root, environ=environ, registry=registry)
    return loaded.section


def configured_type(config: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> str:
    """The provider type ``config`` names (``${VAR}`` expanded), or ``DEFAULT_TYPE``."""
    raw = config.get("type") or DEFAULT_TYPE
    expanded, problems = expand_env(raw, os.environ if environ is None else environ, path="$.type")
    if problems:
        raise ConfigError(problems[0], problems=problems)
    return str(expanded or DEFAULT_TYPE)


def _as_dict(config: object) -> dict[str, Any]:
    """A copy of ``config``, which untyped callers may pass as anything."""
    if not isinstance(config, Mapping):
        msg = f"the llm configuration must be a mapping of keys to values, not {type(config).__name__}"
        raise ConfigError(msg)
    return dict(config)
