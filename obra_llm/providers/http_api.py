"""The ``LLMPlugin`` methods once, for every HTTP provider; each provider supplies a wire.

An ``HttpWire`` is pure translation between obra_llm and one HTTP API: which URL and
credentials, what request body, how to read an answer, a stream, an error and the model's
facts. ``HttpLLM`` does everything else the same way for all of them: settings, the pooled
endpoint, retries and metrics, availability, model info, and closing. A provider module
then holds its wire and a three-line class binding it::

    class AnthropicLLM(HttpLLM[AnthropicSettings]):
        settings_type = AnthropicSettings
        def __init__(self, **seams: Unpack[Seams]) -> None:
            super().__init__(AnthropicWire(), **seams)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, Self, TypedDict, TypeVar, Unpack

import attrs
import httpx

from obra_llm.calls import CallRunner, Completion, StreamItems
from obra_llm.config.constraints import is_header_safe
from obra_llm.config.convert import parse_settings
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import ConfigError, LLMConnectionException, LLMException
from obra_llm.metrics import Metrics
from obra_llm.protocol import GenerateOptions, MetricsSnapshot, ModelInfo, ProviderKind
from obra_llm.retry import RetryPolicy
from obra_llm.transports.endpoint import HttpEndpoint

__all__ = ["Access", "HttpLLM", "HttpWire", "ModelFacts", "Seams", "WireRequest", "api_key", "context_from_table"]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=CommonSettings)

#: How long ``is_available`` and ``get_model_info`` may take: they must answer fast.
PROBE_TIMEOUT = 0.9


@attrs.frozen
class Access:
    """Where a provider's API is and how to authenticate: headers, and the secrets in them."""

    base_url: str
    headers: Mapping[str, str] = attrs.Factory(dict)
    secrets: tuple[str, ...] = ()


class WireRequest(NamedTuple):
    """One request to send: method, path under the base URL, JSON body, query parameters."""

    path: str
    json: Any = None
    method: str = "POST"
    params: Mapping[str, str] | None = None


@attrs.frozen
class ModelFacts:
    """What the API says about the model; ``context_length`` ``None`` when it does not say."""

    context_length: int | None
    details: Mapping[str, Any] = attrs.Factory(dict)


class HttpWire(Protocol[S]):
    """Translation between obra_llm and one HTTP API. No I/O: ``HttpLLM`` sends and receives."""

    provider: str
    settings_type: type[S]

    def access(self, settings: S, environ: Mapping[str, str]) -> Access:
        """Base URL and auth headers; raise ``ConfigError`` naming the variable when a key is missing."""
        ...

    def check_options(self, options: Mapping[str, Any], settings: S) -> GenerateOptions:
        """Validate per-call options; reject (never drop) what the API cannot honour."""
        ...

    def chat(self, settings: S, prompt: str, options: GenerateOptions, *, stream: bool) -> WireRequest:
        """The generation request (streamed or not)."""
        ...

    def process_response(self, body: Any) -> Completion:
        """The answer, usage and stop reason from a non-streamed response body."""
        ...

    def process_stream(self, chunks: Iterator[bytes]) -> StreamItems:
        """Text pieces, then a ``StreamEnd``, from the raw body chunks of a streamed response."""
        ...

    def error_text(self, body: Any) -> str | None:
        """The human message inside an error body (parsed JSON), if there is one."""
        ...

    def map_error(self, response: httpx.Response, detail: str, settings: S) -> LLMException:
        """The exception for a non-2xx response (``detail`` is the redacted error text)."""
        ...

    def probe(self, settings: S) -> WireRequest:
        """The cheapest authenticated request, for ``is_available``."""
        ...

    def probe_problem(self, body: Any, settings: S) -> str | None:
        """What the probe's answer says is wrong (e.g. the model is missing), or ``None``."""
        ...

    def model_request(self, settings: S) -> WireRequest | None:
        """The request that describes the model, or ``None`` when the API has none."""
        ...

    def model_facts(self, body: Any | None, settings: S) -> ModelFacts:
        """Context length and details from ``model_request``'s answer (``None``: not asked or failed)."""
        ...

    def estimate_tokens(self, text: str, settings: S | None) -> int:
        """Offline token estimate for the configured model."""
        ...


class Seams(TypedDict, total=False):
    """What tests (and unusual deployments) may inject into an HTTP provider."""

    transport: httpx.BaseTransport
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    environ: Mapping[str, str]


def api_key(
    settings_key: Any, environ: Mapping[str, str], variables: tuple[str, ...], *, provider: str
) -> str:
    """The API key from config (a ``Secret``) or the first set environment variable.

    A missing key raises ``ConfigError`` naming both ways to provide one.
    """
    if settings_key is not None and settings_key.reveal():
        return str(settings_key.reveal())
    for variable in variables:
        value = environ.get(variable)
        if value and not is_header_safe(value):
            msg = f"the API key in {variable} is not printable ASCII, so it cannot be sent in an HTTP header (value hidden)"
            raise ConfigError(msg, problems=[f"{msg} @ ${variable}"])
        if value:
            return value
    names = " or ".join(variables)
    msg = f"no API key for {provider}: set {names}, or api_key: ${{{variables[0]}}} in the llm config"
    raise ConfigError(msg, problems=[f"{msg} @ $.api_key"])


def context_from_table(model: str, table: Mapping[str, int]) -> int | None:
    """The context length of the longest ``table`` key that ``model`` starts with.

    Each provider keeps such a table for models its API does not describe; a dated model
    id (``gpt-4o-2024-08-06``) finds its family (``gpt-4o``).
    """
    matches = [prefix for prefix in table if model.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


class HttpLLM(Generic[S]):
    """An HTTP API provider: the ``LLMPlugin`` methods over one ``HttpWire``.

    The constructor does no I/O; ``initialize`` validates the config, resolves credentials
    and builds the pooled client; calls are retried per policy and counted in ``metrics``.
    """

    #: The settings class, for the registry and docs; the same as the wire's ``settings_type``.
    settings_type: ClassVar[type[CommonSettings]]
    kind: ClassVar[ProviderKind] = "http"

    def __init__(self, wire: HttpWire[S], **seams: Unpack[Seams]) -> None:
        self._wire = wire
        self._transport = seams.get("transport")
        self._clock = seams.get("clock", time.monotonic)
        self._sleep = seams.get("sleep", time.sleep)
        self._environ = seams.get("environ")
        self._state: _Ready[S] | None = None
        self._closed = False
        self._info: ModelInfo | None = None

    def __repr__(self) -> str:
        name = type(self).__name__
        if self._state is None:
            return f"{name}(uninitialized)"
        return f"{name}(model={self._state.settings.model!r}, endpoint={self._state.endpoint.target!r})"

    # -- the LLMPlugin interface -------------------------------------------------------

    def initialize(self, config: Mapping[str, Any], /) -> None:
        """Validate ``config``, resolve credentials and build the HTTP client; nothing is sent."""
        wire = self._wire
        settings = parse_settings(wire.settings_type, config, provider=wire.provider)
        access = wire.access(settings, os.environ if self._environ is None else self._environ)
        self.close()
        endpoint = HttpEndpoint(
            provider=wire.provider,
            base_url=access.base_url,
            timeout=settings.timeout,
            headers=access.headers,
            secrets=access.secrets,
            error_text=wire.error_text,
            map_error=lambda response, detail: wire.map_error(response, detail, settings),
            transport=self._transport,
        )
        policy = RetryPolicy.from_settings(settings, timeout=settings.timeout)
        self._state = _Ready(settings, endpoint, CallRunner(policy, clock=self._clock, sleep=self._sleep))
        self._closed = False
        self._info = None
        logger.debug("%s provider ready: model %s at %s", wire.provider, settings.model, endpoint.target)

    def generate(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> str:
        """The whole answer to ``prompt`` (one non-streamed request, retried per policy)."""
        state, request, timeout = self._chat(prompt, options, stream=False)
        wire = self._wire

        def attempt(left: float) -> Completion:
            body = state.endpoint.request_json(
                request.method, request.path, json=request.json, params=request.params, timeout=min(timeout, left)
            )
            return wire.process_response(body)

        return state.calls.complete(attempt, timeout=timeout).text

    def generate_stream(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> Generator[str, None, None]:
        """Yield the answer as the API streams it; options are checked before any I/O."""
        state, request, timeout = self._chat(prompt, options, stream=True)
        wire = self._wire

        def open_stream(left: float) -> StreamItems:
            return state.endpoint.stream(
                request.path,
                json=request.json,
                params=request.params,
                timeout=min(timeout, left),
                process=wire.process_stream,
            )

        return state.calls.stream(open_stream, timeout=timeout)

    def is_available(self) -> bool:
        """Whether a cheap authenticated request succeeds within about a second."""
        problem = self.availability_problem()
        if problem:
            logger.info("%s is not available: %s", self._wire.provider, problem)
        return problem is None

    def availability_problem(self) -> str | None:
        """Why calls cannot succeed now (with the fix), or ``None`` when they can."""
        state = self._ready()
        probe = self._wire.probe(state.settings)
        try:
            body = state.endpoint.request_json(probe.method, probe.path, params=probe.params, json=probe.json, timeout=PROBE_TIMEOUT)
        except LLMConnectionException as error:
            hint = getattr(self._wire, "unreachable_hint", "check base_url and the network")
            return f"{error.message} ({hint})"
        except LLMException as error:
            return f"{state.endpoint.target}{probe.path} failed: {error.message}"
        return self._wire.probe_problem(body, state.settings)

    def get_model_info(self) -> ModelInfo:
        """Model name, endpoint and context length (from the API where it says, else a table)."""
        state = self._ready()
        if self._info is not None:
            return self._info
        request = self._wire.model_request(state.settings)
        body: Any | None = None
        failed = False
        if request is not None:
            try:
                body = state.endpoint.request_json(
                    request.method, request.path, params=request.params, json=request.json, timeout=PROBE_TIMEOUT
                )
            except LLMException as error:
                logger.debug("%s model info request failed, using fallbacks: %s", self._wire.provider, error)
                failed = True
        facts = self._wire.model_facts(body, state.settings)
        info: ModelInfo = {
            "provider": self._wire.provider,
            "model_name": state.settings.model,
            "type": self.kind,
            "execution_mode": "http",
            "context_length": facts.context_length,
            "endpoint": state.endpoint.target,
            "details": dict(facts.details),
        }
        if not failed:
            self._info = info
        return info

    @property
    def metrics(self) -> MetricsSnapshot:
        """Counters since ``initialize``: calls, tokens, latency, errors, timeouts, retries."""
        return (self._state.calls.metrics if self._state else Metrics()).snapshot()

    def estimate_tokens(self, text: str, /) -> int:
        """Offline estimate; see the provider module for what it approximates."""
        return self._wire.estimate_tokens(text, self._state.settings if self._state else None)

    def close(self) -> None:
        """Close the HTTP connection pool; ``initialize`` makes the provider usable again."""
        if self._state is not None and not self._closed:
            self._state.endpoint.close()
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _chat(self, prompt: str, options: GenerateOptions, *, stream: bool) -> tuple[_Ready[S], WireRequest, float]:
        """The ready state, the checked generation request, and this call's attempt timeout."""
        state = self._ready()
        checked = self._wire.check_options(options, state.settings)
        request = self._wire.chat(state.settings, prompt, checked, stream=stream)
        return state, request, checked.get("timeout", state.settings.timeout)

    def _ready(self) -> _Ready[S]:
        if self._state is None or self._closed:
            state = "closed" if self._state is not None else "not initialized"
            msg = f"{type(self).__name__} is {state}: call initialize(config) first"
            raise RuntimeError(msg)
        return self._state


@attrs.frozen
class _Ready(Generic[S]):
    """What ``initialize`` builds once: validated settings, the endpoint, the call runner."""

    settings: S
    endpoint: HttpEndpoint
    calls: CallRunner
