"""Ollama's native API (``/api/chat``), on local hardware or behind a base path.

Wire facts this module relies on (``docs/providers/ollama.md`` has the sources):
streaming is on unless ``"stream": false``; tokens are ``prompt_eval_count`` +
``eval_count`` and absent counts mean 0; errors are ``{"error": "..."}``; once a stream
has started, an error arrives as a last ``{"error": ...}`` line with status 200 and no
``done: true``; 404 means the model is not pulled; 503 means the queue is full.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any, ClassVar, Literal, Self, Unpack

import attrs
import httpx

from obra_llm.calls import CallRunner, Completion, StreamEnd, StreamItems
from obra_llm.config.constraints import at_least
from obra_llm.config.convert import parse_settings
from obra_llm.config.secret import Secret
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import LLMConnectionException, LLMException, LLMResponseException, ModelNotFoundError
from obra_llm.metrics import Metrics
from obra_llm.options import validate_options
from obra_llm.protocol import GenerateOptions, MetricsSnapshot, ModelInfo
from obra_llm.retry import RetryPolicy
from obra_llm.tokens import estimate_tokens
from obra_llm.transports.endpoint import HttpEndpoint
from obra_llm.transports.framing import iter_ndjson
from obra_llm.transports.http import error_for_status, safe_url

__all__ = ["OllamaLLM", "OllamaSettings"]

logger = logging.getLogger(__name__)

_PROVIDER = "ollama"
_DEFAULT_MODEL = "qwen2.5-coder:32b"
#: How long ``is_available`` and ``get_model_info`` may take: they must answer fast.
_PROBE_TIMEOUT = 0.9


@attrs.frozen(kw_only=True)
class OllamaSettings(CommonSettings):
    """Keys of the ``ollama`` provider. ``api_url`` (legacy) is accepted for ``endpoint``.

    ``context_length`` becomes ``num_ctx`` (the window Ollama allocates); ``keep_alive`` is
    a duration (``"10m"``) or seconds; ``api_key`` is only for ollama.com's hosted API.
    """

    model: str = _DEFAULT_MODEL
    endpoint: str = "http://localhost:11434"
    context_length: int | None = attrs.field(default=None, metadata=at_least(1))
    keep_alive: str | float | None = None
    api_key: Secret | None = None


class OllamaLLM:
    """The ``ollama`` provider: a local (or hosted) Ollama server over its native API."""

    settings_type: ClassVar[type[OllamaSettings]] = OllamaSettings
    transport_kind: ClassVar[Literal["http", "cli"]] = "http"

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._state: _Ready | None = None
        self._closed = False
        self._info: ModelInfo | None = None

    def __repr__(self) -> str:
        if self._state is None:
            return "OllamaLLM(uninitialized)"
        return f"OllamaLLM(model={self._state.settings.model!r}, endpoint={self._state.endpoint.target!r})"

    # -- the LLMPlugin interface -------------------------------------------------------

    def initialize(self, config: Mapping[str, Any], /) -> None:
        """Validate ``config`` and build the HTTP client; no request is sent."""
        settings = parse_settings(OllamaSettings, config, provider=_PROVIDER)
        secret = settings.api_key.reveal() if settings.api_key else None
        target = safe_url(settings.endpoint)
        self.close()
        endpoint = HttpEndpoint(
            provider=_PROVIDER,
            base_url=settings.endpoint,
            timeout=settings.timeout,
            headers={"authorization": f"Bearer {secret}"} if secret else None,
            secrets=[secret] if secret else [],
            error_text=_error_text,
            map_error=lambda response, detail: _map_error(response, detail, settings, target),
            transport=self._transport,
        )
        policy = RetryPolicy.from_settings(settings, timeout=settings.timeout)
        self._state = _Ready(settings, endpoint, CallRunner(policy, clock=self._clock, sleep=self._sleep))
        self._closed = False
        self._info = None
        logger.debug("ollama provider ready: model %s at %s", settings.model, endpoint.target)

    def generate(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> str:
        """The whole answer to ``prompt`` (one non-streamed ``/api/chat`` call, retried per policy)."""
        state = self._ready()
        checked = validate_options(options, provider=_PROVIDER)
        body = _map_request(state.settings, prompt, checked, stream=False)
        timeout = checked.get("timeout", state.settings.timeout)

        def attempt(left: float) -> Completion:
            answer = state.endpoint.request_json("POST", "/api/chat", json=body, timeout=min(timeout, left))
            return _process_response(answer)

        return state.calls.complete(attempt, timeout=timeout).text

    def generate_stream(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> Generator[str, None, None]:
        """Yield the answer as Ollama streams it (NDJSON); options are checked before any I/O."""
        state = self._ready()
        checked = validate_options(options, provider=_PROVIDER)
        body = _map_request(state.settings, prompt, checked, stream=True)
        timeout = checked.get("timeout", state.settings.timeout)

        def open_stream(left: float) -> StreamItems:
            return state.endpoint.stream("/api/chat", json=body, timeout=min(timeout, left), process=_process_chunks)

        return state.calls.stream(open_stream, timeout=timeout)

    def is_available(self) -> bool:
        """Whether the server answers within a second and has the model pulled."""
        problem = self.availability_problem()
        if problem:
            logger.info("ollama is not available: %s", problem)
        return problem is None

    def availability_problem(self) -> str | None:
        """Why calls cannot succeed now (with the fix), or ``None`` when they can."""
        state = self._ready()
        model, target = state.settings.model, state.endpoint.target
        try:
            tags = state.endpoint.request_json("GET", "/api/tags", timeout=_PROBE_TIMEOUT)
        except LLMConnectionException as error:
            return f"{error.message} (start it with `ollama serve`, or set endpoint)"
        except LLMException as error:
            return f"{target}/api/tags failed: {error.message}"
        models = tags.get("models") if isinstance(tags, dict) else None
        if not isinstance(models, list):
            return f"{target}/api/tags did not answer with Ollama's model list"
        names = {entry.get("name") for entry in models if isinstance(entry, dict)}
        if not names & _model_names(model):
            return f"model {model!r} is not pulled on {target} (run `ollama pull {model}`)"
        return None

    def get_model_info(self) -> ModelInfo:
        """Model name, endpoint and context length (``num_ctx`` if configured, else from ``/api/show``)."""
        state = self._ready()
        if self._info is not None:
            return self._info
        try:
            shown = state.endpoint.request_json("POST", "/api/show", json={"model": state.settings.model}, timeout=_PROBE_TIMEOUT)
        except LLMException as error:
            logger.debug("ollama /api/show failed, using configured values: %s", error)
            details: dict[str, Any] = {"error": error.message}
        else:
            details = _process_show(shown)
        trained = details.get("trained_context_length")
        info: ModelInfo = {
            "provider": _PROVIDER,
            "model_name": state.settings.model,
            "type": "http",
            "execution_mode": "http",
            "context_length": state.settings.context_length or (trained if isinstance(trained, int) else None),
            "endpoint": state.endpoint.target,
            "details": details,
        }
        if "error" not in details:
            self._info = info
        return info

    @property
    def metrics(self) -> MetricsSnapshot:
        """Counters since ``initialize``: calls, tokens, latency, errors, timeouts, retries."""
        return (self._state.calls.metrics if self._state else Metrics()).snapshot()

    def estimate_tokens(self, text: str, /) -> int:
        """Offline tiktoken estimate; Qwen/Llama tokenizers are approximated with ``o200k_base``."""
        return estimate_tokens(text, self._state.settings.model if self._state else _DEFAULT_MODEL)

    def close(self) -> None:
        """Close the HTTP connection pool; ``initialize`` makes the provider usable again."""
        if self._state is not None and not self._closed:
            self._state.endpoint.close()
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _ready(self) -> _Ready:
        if self._state is None or self._closed:
            state = "closed" if self._state is not None else "not initialized"
            msg = f"OllamaLLM is {state}: call initialize(config) first"
            raise RuntimeError(msg)
        return self._state


@attrs.frozen
class _Ready:
    """What ``initialize`` builds once: validated settings, the endpoint, the call runner."""

    settings: OllamaSettings
    endpoint: HttpEndpoint
    calls: CallRunner


def _map_error(response: httpx.Response, detail: str, settings: OllamaSettings, target: str) -> LLMException:
    if response.status_code == 404:
        model = settings.model
        msg = f"model {model!r} not found on {target}: {detail} (run `ollama pull {model}`)"
        return error_for_status(response, provider=_PROVIDER, detail=msg, kind=ModelNotFoundError, retryable=False)
    return error_for_status(response, provider=_PROVIDER, detail=detail)


# -- request mapping (ours -> wire) ------------------------------------------------------------


def _map_request(settings: OllamaSettings, prompt: str, options: GenerateOptions, *, stream: bool) -> dict[str, Any]:
    system = options.get("system", settings.system)
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    wire_options: dict[str, Any] = {}
    temperature = options.get("temperature", settings.temperature)
    if temperature is not None:
        wire_options["temperature"] = temperature
    max_tokens = options.get("max_tokens", settings.max_tokens)
    if max_tokens is not None:
        wire_options["num_predict"] = max_tokens
    if "stop" in options:
        wire_options["stop"] = list(options["stop"])
    if "seed" in options:
        wire_options["seed"] = options["seed"]
    if settings.context_length is not None:
        wire_options["num_ctx"] = settings.context_length
    body: dict[str, Any] = {"model": settings.model, "messages": messages, "stream": stream}
    if wire_options:
        body["options"] = wire_options
    if settings.keep_alive is not None:
        body["keep_alive"] = settings.keep_alive
    return body


def _model_names(model: str) -> set[str]:
    """The names ``/api/tags`` may list ``model`` under (``x`` is ``x:latest``)."""
    return {model, f"{model}:latest"} if ":" not in model else {model}


# -- response processing (wire -> ours) ----------------------------------------------------------


def _error_text(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def _count(body: Mapping[str, Any], key: str) -> int:
    """A token count; Ollama omits zero counts (``omitempty``), so absent means 0."""
    value = body.get(key, 0)
    return value if isinstance(value, int) else 0


def _process_response(body: Any) -> Completion:
    if not isinstance(body, dict):
        msg = f"Ollama answered with JSON that is not an object: {type(body).__name__}"
        raise LLMResponseException(msg, provider=_PROVIDER)
    if "error" in body:
        raise LLMResponseException(f"Ollama reported an error: {body['error']}", provider=_PROVIDER)
    message = body.get("message")
    text = message.get("content") if isinstance(message, dict) else None
    if not isinstance(text, str):
        msg = "Ollama's answer has no message.content text"
        raise LLMResponseException(msg, provider=_PROVIDER)
    return Completion(
        text=text,
        prompt_tokens=_count(body, "prompt_eval_count"),
        completion_tokens=_count(body, "eval_count"),
        stop_reason=body.get("done_reason"),
    )


def _process_chunks(chunks: Iterator[bytes]) -> StreamItems:
    return _process_stream(iter_ndjson(chunks))


def _process_stream(lines: Iterator[Any]) -> StreamItems:
    for line in lines:
        if not isinstance(line, dict):
            msg = f"Ollama streamed a line that is not a JSON object: {type(line).__name__}"
            raise LLMResponseException(msg, provider=_PROVIDER)
        if "error" in line:
            msg = f"Ollama reported an error mid-stream: {line['error']}"
            raise LLMResponseException(msg, provider=_PROVIDER)
        message = line.get("message")
        piece = message.get("content") if isinstance(message, dict) else None
        if isinstance(piece, str) and piece:
            yield piece
        if line.get("done") is True:
            yield StreamEnd(
                prompt_tokens=_count(line, "prompt_eval_count"),
                completion_tokens=_count(line, "eval_count"),
                stop_reason=line.get("done_reason"),
            )
            return
    msg = "Ollama's stream ended before its done:true line (the answer is cut)"
    raise LLMResponseException(msg, provider=_PROVIDER, retryable=True)


def _process_show(shown: Any) -> dict[str, Any]:
    if not isinstance(shown, dict):
        return {"error": "/api/show did not answer with an object"}
    facts: dict[str, Any] = {}
    model_info = shown.get("model_info")
    if isinstance(model_info, dict):
        architecture = model_info.get("general.architecture")
        trained = model_info.get(f"{architecture}.context_length")
        if isinstance(trained, int):
            facts["trained_context_length"] = trained
        if isinstance(architecture, str):
            facts["architecture"] = architecture
    details = shown.get("details")
    if isinstance(details, dict):
        for key in ("family", "parameter_size", "quantization_level", "format"):
            if isinstance(details.get(key), str):
                facts[key] = details[key]
    capabilities = shown.get("capabilities")
    if isinstance(capabilities, list):
        facts["capabilities"] = [item for item in capabilities if isinstance(item, str)]
    return facts
