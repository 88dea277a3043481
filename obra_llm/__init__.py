"""obra_llm: the orchestrator's LLM, chosen by one config line, behind one typed Protocol.

    >>> import obra_llm
    >>> llm = obra_llm.create_llm({"type": "ollama", "model": "qwen2.5-coder:32b"})
    >>> llm.generate("Rate this diff from 0 to 10: ...")  # doctest: +SKIP

This module only re-exports. The exceptions and the Protocol load with it; everything
else loads on first use (``obra_llm.create_llm`` imports the registry, which builds
``REGISTRY`` from its literal mapping), so ``import obra_llm`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from obra_llm._version import __version__ as __version__
from obra_llm.errors import (
    AuthenticationError,
    ConfigError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    PluginNotFoundError,
    RateLimitError,
)
from obra_llm.protocol import GenerateOptions, LLMPlugin, MetricsSnapshot, ModelInfo

if TYPE_CHECKING:
    from obra_llm.config.secret import Secret
    from obra_llm.registry import REGISTRY, create_llm, load_config
    from obra_llm.retry import RetryManager, RetryPolicy, create_retry_manager_from_config


__all__ = [
    "REGISTRY",
    "AuthenticationError",
    "ConfigError",
    "GenerateOptions",
    "LLMConnectionException",
    "LLMException",
    "LLMPlugin",
    "LLMResponseException",
    "LLMTimeoutException",
    "MetricsSnapshot",
    "ModelInfo",
    "ModelNotFoundError",
    "PluginNotFoundError",
    "RateLimitError",
    "RetryManager",
    "RetryPolicy",
    "Secret",
    "create_llm",
    "create_retry_manager_from_config",
    "load_config",
]

#: Public names that load on first use, and the module each lives in.
_LAZY = {
    "REGISTRY": "obra_llm.registry",
    "create_llm": "obra_llm.registry",
    "load_config": "obra_llm.registry",
    "Secret": "obra_llm.config.secret",
    "RetryManager": "obra_llm.retry",
    "RetryPolicy": "obra_llm.retry",
    "create_retry_manager_from_config": "obra_llm.retry",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'obra_llm' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
