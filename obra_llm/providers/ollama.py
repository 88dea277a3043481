"""Ollama's native API (``/api/chat``), on local hardware or behind a base path.

Wire facts this module relies on (``docs/providers/ollama.md`` has the sources):
streaming is on unless ``"stream": false``; tokens are ``prompt_eval_count`` +
``eval_count`` and absent counts mean 0; errors are ``{"error": "..."}``; once a stream
has started, an error arrives as a last ``{"error": ...}`` line with status 200 and no
``done: true``; 404 means the model is not pulled; 503 means the queue is full; a JSON
Schema in ``format`` constrains the answer to it (https://ollama.com/blog/structured-outputs,
``docs/api.md`` "Structured outputs", Ollama 0.5+).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

import attrs

from obra_llm.calls import Completion, StreamEnd, StreamItems, token_count
from obra_llm.config.constraints import Check, at_least
from obra_llm.errors import LLMException, LLMResponseException, ModelNotFoundError
from obra_llm.options import Call
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import HttpSettings, HttpWire, Identity, ModelFacts, ModelListing, answer_object
from obra_llm.structured import native
from obra_llm.transports.endpoint import WireRequest
from obra_llm.transports.framing import iter_ndjson
from obra_llm.transports.http import ErrorReply, error_for_status, safe_url

__all__ = ["OLLAMA", "OllamaLLM", "OllamaSettings", "OllamaWire"]

OLLAMA = Identity(
    name="ollama", label="Ollama", base_url="http://localhost:11434", default_model="qwen2.5-coder:32b",
    key_required=False, docs="https://github.com/ollama/ollama/blob/main/docs/api.md",
    unreachable_hint="start it with `ollama serve`, or set base_url to where it runs"
)
_PROVIDER = OLLAMA.name


#: What Ollama's ``keep_alive`` parses: a Go duration (``10m``, ``1h30m``, ``-1m``) or seconds.
_DURATION = re.compile(r"-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+|-?\d+(\.\d+)?")
_KEEP_ALIVE = Check(
    'a duration such as "10m" or "1h30m", or seconds (negative: keep loaded forever, 0: unload at once)',
    predicate=lambda value: isinstance(value, int | float) or (isinstance(value, str) and bool(_DURATION.fullmatch(value.strip()))),
)


@attrs.frozen(kw_only=True)
class OllamaSettings(HttpSettings):
    """Keys of the ``ollama`` provider (``endpoint`` and ``api_url`` are old names of ``base_url``).

    ``context_length`` becomes ``num_ctx`` (the window Ollama allocates); ``keep_alive`` is
    a duration (``"10m"``) or seconds; ``api_key`` is only for ollama.com's hosted API.
    """

    model: str = OLLAMA.default_model
    context_length: int | None = attrs.field(default=None, metadata=at_least(1))
    keep_alive: str | float | None = attrs.field(default=None, metadata=_KEEP_ALIVE.metadata())


class OllamaWire(HttpWire[OllamaSettings]):
    """Translation for Ollama's native API (see the module docstring)."""

    identity = OLLAMA
    settings_type = OllamaSettings
    model_listing = ModelListing(path="/api/tags", key="models", id_field="name")
    structured_mode = native("format")

    def chat(self, settings: OllamaSettings, prompt: str, call: Call, *, stream: bool) -> WireRequest:
        return WireRequest("/api/chat", _map_request(settings, prompt, call, stream=stream))

    def process_response(self, body: Any) -> Completion:
        body = answer_object(body, label="Ollama", provider=_PROVIDER)
        if "error" in body:
            raise LLMResponseException(f"Ollama reported an error: {body['error']}", provider=_PROVIDER)
        message = body.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str):
            msg = "Ollama's answer has no message.content text"
            raise LLMResponseException(msg, provider=_PROVIDER)
        return Completion(
            text=text,
            prompt_tokens=token_count(body, "prompt_eval_count"),
            completion_tokens=token_count(body, "eval_count"),
            stop_reason=body.get("done_reason"),
        )

    def process_stream(self, chunks: Iterator[bytes]) -> StreamItems:
        for line in iter_ndjson(chunks):
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
                    prompt_tokens=token_count(line, "prompt_eval_count"),
                    completion_tokens=token_count(line, "eval_count"),
                    stop_reason=line.get("done_reason"),
                )
                return
        msg = "Ollama's stream ended before its done:true line (the answer is cut)"
        raise LLMResponseException(msg, provider=_PROVIDER, retryable=True)

    def error_text(self, body: Any) -> str | None:
        error = body.get("error") if isinstance(body, dict) else None
        return error if isinstance(error, str) else None

    def map_error(self, reply: ErrorReply, settings: OllamaSettings) -> LLMException:
        if reply.status == 404:
            model = settings.model
            msg = f"model {model!r} not found on {safe_url(OLLAMA.url(settings))}: {reply.detail} (run `ollama pull {model}`)"
            return error_for_status(reply, provider=_PROVIDER, detail=msg, kind=ModelNotFoundError, retryable=False)
        return super().map_error(reply, settings)

    def probe_problem(self, body: Any, settings: OllamaSettings) -> str | None:
        target, model = safe_url(OLLAMA.url(settings)), settings.model
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list):
            return f"{target}/api/tags did not answer with Ollama's model list"
        names = self.model_names(body)
        if set(names) & _model_names(model):
            return None
        pulled = [name for name in names if name.split(":", 1)[0] == model.split(":", 1)[0]]
        pulled = pulled or difflib.get_close_matches(model, names, n=1, cutoff=0.6)
        if pulled:
            return f"model {model!r} is not pulled on {target}, but {pulled[0]!r} is: set model: {pulled[0]} (or run `ollama pull {model}`)"
        return f"model {model!r} is not pulled on {target} (run `ollama pull {model}`)"

    def model_request(self, settings: OllamaSettings) -> WireRequest | None:
        return WireRequest("/api/show", {"model": settings.model})

    def model_facts(self, body: Any | None, settings: OllamaSettings) -> ModelFacts:
        """``num_ctx`` when configured (the window Ollama allocates), else the trained maximum."""
        details = _process_show(body) if body is not None else {}
        trained = details.get("trained_context_length")
        return ModelFacts(settings.context_length or (trained if isinstance(trained, int) else None), details)


class OllamaLLM(HttpLLM[OllamaSettings]):
    """The ``ollama`` provider: a local (or hosted) Ollama server over its native API."""

    wire = OllamaWire()


# -- request mapping (ours -> wire) ------------------------------------------------------------


def _map_request(settings: OllamaSettings, prompt: str, call: Call, *, stream: bool) -> dict[str, Any]:
    messages = call.messages(prompt)
    wire_options = call.sampling(temperature="temperature", max_tokens="num_predict", stop="stop", seed="seed")
    if settings.context_length is not None:
        wire_options["num_ctx"] = settings.context_length
    body: dict[str, Any] = {"model": settings.model, "messages": messages, "stream": stream}
    if wire_options:
        body["options"] = wire_options
    if settings.keep_alive is not None:
        body["keep_alive"] = settings.keep_alive
    if call.json_schema is not None:
        body["format"] = call.json_schema
    return body


def _model_names(model: str) -> set[str]:
    """The names ``/api/tags`` may list ``model`` under (``x`` is ``x:latest``)."""
    return {model, f"{model}:latest"} if ":" not in model else {model}


# -- response processing (wire -> ours) ----------------------------------------------------------


def _process_show(shown: Any) -> dict[str, Any]:
    if not isinstance(shown, dict):
        return {}
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
