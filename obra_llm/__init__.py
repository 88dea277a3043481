"""obra_llm: the orchestrator's LLM, chosen by one config line, behind one typed Protocol.

    >>> import obra_llm
    >>> llm = obra_llm.create_llm({"type": "ollama", "model": "qwen2.5-coder:32b"})
    >>> llm.generate("Rate this diff from 0 to 10: ...")  # doctest: +SKIP

This module only re-exports; every name lives in a small module of its own.
"""

from obra_llm.config import Secret, load_config
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
from obra_llm.registry import REGISTRY, create_llm
from obra_llm.retry import RetryManager, RetryPolicy, create_retry_manager_from_config

__version__ = "0.1.0"

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
