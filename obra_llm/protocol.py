"""The interface the orchestrator calls, as a structural ``typing.Protocol``.

Any class with these methods is an ``LLMPlugin``: no import of obra_llm, no base class.
The parameter types are the loosest the orchestrator needs (``dict`` configs, ``Mapping``
results) so that its existing classes still match; obra_llm's own providers return the
precise ``ModelInfo`` and ``MetricsSnapshot`` TypedDicts, which are still plain dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, NotRequired, Protocol, TypedDict, Unpack, runtime_checkable

__all__ = ["GenerateOptions", "LLMPlugin", "MetricsSnapshot", "ModelInfo"]


class GenerateOptions(TypedDict, total=False):
    """Per-call options. Each provider maps them to its wire names or rejects them loudly."""

    temperature: float
    max_tokens: int
    system: str
    stop: Sequence[str]
    seed: int
    timeout: float


class ModelInfo(TypedDict):
    """What ``get_model_info()`` returns. Extra keys describe the provider's specifics."""

    provider: str
    model_name: str
    type: Literal["http", "cli"]
    execution_mode: Literal["http", "subprocess"]
    context_length: int | None
    endpoint: NotRequired[str]
    version: NotRequired[str]
    details: NotRequired[dict[str, Any]]


class MetricsSnapshot(TypedDict):
    """The ``metrics`` mapping: the orchestrator's five keys, then the finer split."""

    calls: int
    total_tokens: int
    total_latency_ms: float
    errors: int
    timeouts: int
    prompt_tokens: int
    completion_tokens: int
    retries: int


@runtime_checkable
class LLMPlugin(Protocol):
    """An LLM the orchestrator can validate and score with.

    Lifecycle: construct with no arguments, then ``initialize(config)`` once, then call.
    ``runtime_checkable`` only checks that the names exist; mypy checks the signatures.
    """

    def initialize(self, config: dict[str, Any], /) -> None:
        """Validate ``config`` and get ready to serve calls (no network I/O required)."""
        ...

    def generate(self, prompt: str, /, **kwargs: Unpack[GenerateOptions]) -> str:
        """Return the whole answer to ``prompt``."""
        ...

    def generate_stream(self, prompt: str, /, **kwargs: Unpack[GenerateOptions]) -> Iterator[str]:
        """Yield the answer to ``prompt`` piece by piece as it arrives."""
        ...

    def estimate_tokens(self, text: str, /) -> int:
        """Estimate how many tokens ``text`` costs this model, without any network."""
        ...

    def is_available(self) -> bool:
        """Answer quickly (within about a second) whether calls can succeed now."""
        ...

    def get_model_info(self) -> Mapping[str, Any]:
        """Describe the model: name, provider, transport, context length."""
        ...

    @property
    def metrics(self) -> Mapping[str, Any]:
        """Counters since initialize: calls, total_tokens, total_latency_ms, errors, timeouts."""
        ...
