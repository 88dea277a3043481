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
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal, Self, Unpack

import attrs
import httpx

from obra_llm.calls import CallRunner, Completion, StreamEnd, StreamItems
from obra_llm.config.constraints import at_least
from obra_llm.config.convert import parse_settings
from obra_llm.config.secret import Secret
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import LLMException, LLMResponseException, ModelNotFoundError
from obra_llm.metrics import Metrics
from obra_llm.options import validate_options
from obra_llm.protocol import GenerateOptions, MetricsSnapshot, ModelInfo
from obra_llm.retry import RetryPolicy
from obra_llm.tokens import estimate_tokens
from obra_llm.transports.framing import iter_ndjson
from obra_llm.transports.http import (
    build_client,
    error_for_status,
    read_error_detail,
    redactor,
    translate_transport_errors,
)

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
        self._settings: OllamaSettings | None = None
        self._client: httpx.Client | None = None
        self._runner: CallRunner | None = None
        self._redact: Callable[[str], str] = redactor()
        self._info: ModelInfo | None = None

    def __repr__(self) -> str:
        if self._settings is None:
            return "OllamaLLM(uninitialized)"
        return f"OllamaLLM(model={self._settings.model!r}, endpoint={self._settings.endpoint!r})"

    # -- the LLMPlugin interface -------------------------------------------------------

    def initialize(self, config: Mapping[str, Any], /) -> None:
        """Validate ``config`` and build the HTTP client; no request is sent."""
        settings = parse_settings(OllamaSettings, config, provider=_PROVIDER)
        headers = {"authorization": f"Bearer {settings.api_key.reveal()}"} if settings.api_key else {}
        if self._client is not None:
            self._client.close()
        self._settings = settings
        self._client = build_client(
            base_url=settings.endpoint,
            timeout=settings.timeout,
            headers=headers,
            transport=self._transport,
        )
        self._runner = CallRunner(RetryPolicy.from_settings(settings), clock=self._clock, sleep=self._sleep)
        self._redact = redactor(settings.api_key.reveal() if settings.api_key else None)
        self._info = None
        logger.debug("ollama provider ready: model %s at %s", settings.model, settings.endpoint)

    def generate(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> str:
        """The whole answer to ``prompt`` (one non-streamed ``/api/chat`` call, retried per policy)."""
        settings, client, runner = self._ready()
        checked = validate_options(options, provider=_PROVIDER)
        body = _map_request(settings, prompt, checked, stream=False)
        timeout = checked.get("timeout", settings.timeout)

        def attempt(left: float) -> Completion:
            budget = min(timeout, left)
            with translate_transport_errors(_PROVIDER, target=self._target(), timeout=budget):
                response = client.post("/api/chat", json=body, timeout=_timeout(budget))
                if response.is_error:
                    raise self._error(response, settings)
                return _process_response(_json_body(response))

        return runner.complete(attempt).text

    def generate_stream(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> Iterator[str]:
        """Yield the answer as Ollama streams it (NDJSON); options are checked before any I/O."""
        settings, client, runner = self._ready()
        checked = validate_options(options, provider=_PROVIDER)
        body = _map_request(settings, prompt, checked, stream=True)
        timeout = checked.get("timeout", settings.timeout)

        def open_stream(left: float) -> StreamItems:
            budget = min(timeout, left)
            with translate_transport_errors(_PROVIDER, target=self._target(), timeout=budget):
                with client.stream("POST", "/api/chat", json=body, timeout=_timeout(budget)) as response:
                    if response.is_error:
                        raise self._error(response, settings)
                    yield from _process_stream(iter_ndjson(response.iter_bytes()))

        return runner.stream(open_stream)

    def is_available(self) -> bool:
        """Whether the server answers within a second and has the model pulled."""
        problem = self.availability_problem()
        if problem:
            logger.info("ollama is not available: %s", problem)
        return problem is None

    def availability_problem(self) -> str | None:
        """Why calls cannot succeed now (with the fix), or ``None`` when they can."""
        settings, client, _ = self._ready()
        try:
            with translate_transport_errors(_PROVIDER, target=self._target(), timeout=_PROBE_TIMEOUT):
                response = client.get("/api/tags", timeout=_timeout(_PROBE_TIMEOUT))
        except LLMException as error:
            return f"{error.message} (start it with `ollama serve`, or set endpoint)"
        if response.is_error:
            return f"{settings.endpoint}/api/tags answered HTTP {response.status_code}"
        try:
            names = {entry.get("name") for entry in _json_body(response).get("models", [])}
        except (LLMResponseException, AttributeError):
            return f"{settings.endpoint}/api/tags did not answer with Ollama's model list"
        if not names & _model_names(settings.model):
            return f"model {settings.model!r} is not pulled on {settings.endpoint} (run `ollama pull {settings.model}`)"
        return None

    def get_model_info(self) -> ModelInfo:
        """Model name, endpoint and context length (``num_ctx`` if configured, else from ``/api/show``)."""
        settings, client, _ = self._ready()
        if self._info is None:
            details = self._show(client, settings)
            trained = details.get("trained_context_length")
            info: ModelInfo = {
                "provider": _PROVIDER,
                "model_name": settings.model,
                "type": "http",
                "execution_mode": "http",
                "context_length": settings.context_length or (trained if isinstance(trained, int) else None),
                "endpoint": settings.endpoint,
                "details": details,
            }
            if "error" in details:
                return info
            self._info = info
        return self._info

    @property
    def metrics(self) -> MetricsSnapshot:
        """Counters since ``initialize``: calls, tokens, latency, errors, timeouts, retries."""
        return (self._runner.metrics if self._runner else Metrics()).snapshot()

    def estimate_tokens(self, text: str, /) -> int:
        """Offline tiktoken estimate; Qwen/Llama tokenizers are approximated with ``o200k_base``."""
        settings = self._settings
        return estimate_tokens(text, settings.model if settings else _DEFAULT_MODEL)

    def close(self) -> None:
        """Close the HTTP connection pool; the provider can be initialized again afterwards."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------

    def _ready(self) -> tuple[OllamaSettings, httpx.Client, CallRunner]:
        if self._settings is None or self._client is None or self._runner is None:
            state = "closed" if self._settings is not None else "not initialized"
            msg = f"OllamaLLM is {state}: call initialize(config) first"
            raise RuntimeError(msg)
        return self._settings, self._client, self._runner

    def _target(self) -> str:
        return self._settings.endpoint if self._settings else "(uninitialized)"

    def _error(self, response: httpx.Response, settings: OllamaSettings) -> LLMException:
        detail = read_error_detail(response, _error_text, self._redact)
        if response.status_code == 404:
            msg = f"model {settings.model!r} not found on {settings.endpoint}: {detail} (run `ollama pull {settings.model}`)"
            return error_for_status(response, provider=_PROVIDER, detail=msg, kind=ModelNotFoundError, retryable=False)
        return error_for_status(response, provider=_PROVIDER, detail=detail)

    def _show(self, client: httpx.Client, settings: OllamaSettings) -> dict[str, Any]:
        """Facts from ``/api/show``; on failure, ``{"error": ...}`` so callers fall back to config."""
        try:
            with translate_transport_errors(_PROVIDER, target=self._target(), timeout=_PROBE_TIMEOUT):
                response = client.post("/api/show", json={"model": settings.model}, timeout=_timeout(_PROBE_TIMEOUT))
                if response.is_error:
                    raise self._error(response, settings)
                shown = _json_body(response)
        except LLMException as error:
            logger.debug("ollama /api/show failed, using configured values: %s", error)
            return {"error": error.message}
        return _process_show(shown)


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


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


def _model_names(model: str) -> set[str]:
    """The names ``/api/tags`` may list ``model`` under (``x`` is ``x:latest``)."""
    return {model, f"{model}:latest"} if ":" not in model else {model}


# -- response processing (wire -> ours) ----------------------------------------------------------


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as error:
        msg = f"Ollama answered HTTP {response.status_code} with a body that is not JSON"
        raise LLMResponseException(msg, provider=_PROVIDER, status_code=response.status_code) from error


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
