"""The interface the orchestrator calls, as a structural ``typing.Protocol``.

Any class with these methods is an ``LLMPlugin``: no import of obra_llm, no base class.
The parameter types are the loosest the orchestrator needs (``dict`` configs, ``Mapping``
results) so that its existing classes still match; obra_llm's own providers return the
precise ``ModelInfo`` and ``MetricsSnapshot`` TypedDicts, which are still plain dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NotRequired, Protocol, TypedDict, Unpack, runtime_checkable

if TYPE_CHECKING:
    from obra_llm.config.settings import CommonSettings

__all__ = [
    "GenerateOptions",
    "LLMPlugin",
    "MetricsSnapshot",
    "ModelInfo",
    "OfflineCounter",
    "ProviderClass",
    "ProviderKind",
    "SupportsClose",
    "SupportsDiagnosis",
    "SupportsMembers",
    "SupportsModelList",
    "SupportsStructured",
    "offline_counter",
    "provider_class",
]

#: How a provider reaches its model: over HTTP, by running a CLI, or through other providers (a chain).
ProviderKind = Literal["http", "cli", "chain"]


class GenerateOptions(TypedDict, total=False):
    """Per-call options. Each provider maps them to its wire names or rejects them loudly."""

    temperature: float
    max_tokens: int
    system: str
    stop: Sequence[str]
    seed: int
    timeout: float
    #: Answer with JSON conforming to this JSON Schema (``generate`` returns the validated JSON text).
    json_schema: Mapping[str, Any]


class ModelInfo(TypedDict):
    """What ``get_model_info()`` returns. Extra keys describe the provider's specifics."""

    provider: str
    model_name: str
    type: ProviderKind
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
    structured_repairs: int


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


# -- the optional surface: what obra_llm's own providers add, declared so callers need no getattr --


@runtime_checkable
class ProviderClass(Protocol):
    """A provider *class* that declares its settings and kind (every obra_llm provider does).

    ``isinstance(cls, ProviderClass)`` tells the registry and the CLI whether a class
    validates its own config (``settings_type``) and how it runs (``kind``); a foreign
    ``LLMPlugin`` without them is still welcome, it just gets no up-front validation.
    """

    @property
    def settings_type(self) -> type[CommonSettings]:
        """The attrs settings class its ``initialize`` validates the config into."""
        ...

    @property
    def kind(self) -> ProviderKind:
        """``http``, ``cli`` or ``chain``; ``get_model_info()["type"]`` says the same."""
        ...


def provider_class(cls: object) -> ProviderClass | None:
    """``cls`` as a ``ProviderClass`` when it declares settings and kind, else ``None`` (a foreign plugin).

    A function rather than a bare ``isinstance`` at each caller: mypy cannot narrow a
    ``type[LLMPlugin]`` to a class-level protocol, but it can narrow an ``object``.
    """
    return cls if isinstance(cls, ProviderClass) else None


@runtime_checkable
class SupportsDiagnosis(Protocol):
    """A provider that can say *why* it is not available, with the fix."""

    def availability_problem(self) -> str | None:
        """What stops calls from succeeding now, or ``None`` when they can."""
        ...


@runtime_checkable
class SupportsClose(Protocol):
    """A provider holding resources (a connection pool) that ``close()`` releases."""

    def close(self) -> None:
        """Release what the provider holds; ``initialize`` makes it usable again."""
        ...


@runtime_checkable
class OfflineCounter(Protocol):
    """A provider *class* that counts tokens from a configuration alone (``obra-llm tokens``).

    ``estimate_tokens`` needs an initialized provider, and initializing wants an API key or
    a CLI binary; counting needs neither, so the class offers it directly.
    """

    def count_tokens(self, text: str, config: Mapping[str, Any], /) -> int:
        """What ``estimate_tokens(text)`` would return after ``initialize(config)``, with no key, binary or I/O."""
        ...


def offline_counter(cls: object) -> OfflineCounter | None:
    """``cls`` as an ``OfflineCounter`` when it counts without initializing, else ``None``."""
    return cls if isinstance(cls, OfflineCounter) else None


@runtime_checkable
class SupportsMembers(Protocol):
    """A provider made of other providers (a fallback chain), whose members can be checked one by one."""

    def member_problems(self) -> list[tuple[str, str | None]]:
        """Each member's name and what stops it serving now (``None``: it can), in the order they are tried."""
        ...


@runtime_checkable
class SupportsModelList(Protocol):
    """A provider that can ask its server which models it offers (``obra-llm models``)."""

    def list_models(self) -> list[str] | None:
        """The model ids the server offers, in its order; ``None`` when its API lists none."""
        ...


@runtime_checkable
class SupportsStructured(Protocol):
    """A provider that answers with JSON conforming to a JSON Schema (every obra_llm provider does).

    The provider constrains the answer with the API's own mode where there is one
    (``get_model_info()["details"]["structured"]`` says which), validates it, and repairs it
    at most ``structured_repairs`` times; ``obra_llm.structured.generate_as`` builds on it.
    """

    def generate_structured(self, prompt: str, schema: Mapping[str, Any], /, **options: Unpack[GenerateOptions]) -> Any:
        """The parsed JSON value of an answer that conforms to ``schema``."""
        ...
