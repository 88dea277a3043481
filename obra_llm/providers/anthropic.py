"""Anthropic's Messages API (``POST /v1/messages``).

Wire facts this module relies on (``docs/providers/anthropic.md`` has the sources):
``x-api-key`` and ``anthropic-version`` headers; ``max_tokens`` is required; ``system`` is
a top-level field; temperature runs 0-1; there is no seed; whitespace-only stop sequences
are refused with a 400. Text is the concatenation of the ``text`` content blocks; input
tokens are ``input_tokens`` plus the two cache counts. Streams are named SSE events:
``message_start`` carries the input usage, ``message_delta.usage`` counts are cumulative
(the last one wins), ``message_stop`` is terminal, ``ping`` and unknown events are ignored,
and an ``error`` event may arrive after HTTP 200. Error bodies are
``{"type": "error", "error": {"type", "message"}, "request_id"}``; 529 means overloaded.
Claude's tokenizer is not public: ``estimate_tokens`` uses tiktoken's ``o200k_base`` (within
about 10-20 % on English and code; the exact count, ``/v1/messages/count_tokens``, costs a request).
A ``json_schema`` goes as structured outputs, ``output_config.format`` ``{"type": "json_schema",
"schema"}`` (https://platform.claude.com/docs/en/build-with-claude/structured-outputs): objects
must be closed, so the schema is adapted as for OpenAI's strict mode, or refused naming the
feature; the answer is the JSON text of the ``text`` block. ``stop_reason: "refusal"`` (a
streaming classifier declined, with ``stop_details.explanation`` where given, on the final
message or the ``message_delta`` event: https://platform.claude.com/docs/en/test-and-evaluate/strengthen-guardrails/handle-streaming-refusals)
raises ``RefusalError``, whatever text came before it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from obra_llm.calls import Completion, StreamEnd, StreamItems, token_count
from obra_llm.config.constraints import between
from obra_llm.errors import (
    AuthenticationError,
    LLMException,
    LLMResponseException,
    ModelNotFoundError,
    RateLimitError,
    RefusalError,
)
from obra_llm.options import ALL_OPTIONS, Call
from obra_llm.protocol import GenerateOptions
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import HttpSettings, HttpWire, Identity, ModelFacts, ModelListing, answer_object
from obra_llm.structured import native, strict_schema
from obra_llm.transports.endpoint import WireRequest, path_segment
from obra_llm.transports.framing import SSEEvent, iter_sse, json_object
from obra_llm.transports.http import ErrorReply, error_for_status, safe_url

__all__ = ["ANTHROPIC", "API_VERSION", "DEFAULT_MAX_TOKENS", "AnthropicLLM", "AnthropicSettings", "AnthropicWire", "input_tokens"]

ANTHROPIC = Identity(
    name="anthropic", label="Anthropic", base_url="https://api.anthropic.com", default_model="claude-sonnet-4-5",
    key_variables=("ANTHROPIC_API_KEY",), key_header="x-api-key", key_scheme="",
    docs="https://docs.anthropic.com/en/api/messages"
)
_PROVIDER = ANTHROPIC.name
#: The ``anthropic-version`` header every request carries.
API_VERSION = "2023-06-01"
#: ``max_tokens`` is required by the API; this is sent when neither the call nor the config sets it.
DEFAULT_MAX_TOKENS = 4096
#: Context windows by model family, for when ``GET /v1/models/{id}`` does not say
#: (platform.claude.com/docs/en/about-claude/models/overview; the 1M-token window of some
#: Sonnet models needs a beta header, which obra_llm does not send).
_CONTEXT_WINDOWS: Mapping[str, int] = {
    "claude-opus-4": 200_000,
    "claude-sonnet-4": 200_000,
    "claude-haiku-4": 200_000,
    "claude-3-7-sonnet": 200_000,
    "claude-3-5-sonnet": 200_000,
    "claude-3-5-haiku": 200_000,
    "claude-3-opus": 200_000,
    "claude-3-sonnet": 200_000,
    "claude-3-haiku": 200_000,
    "claude-2.1": 200_000,
    "claude-2.0": 100_000,
    "claude-instant-1": 100_000,
}
#: What an ``error`` event after HTTP 200 becomes: (class, retryable), by ``error.type``.
_STREAM_ERRORS: Mapping[str, tuple[type[LLMException], bool]] = {
    "overloaded_error": (LLMResponseException, True),
    "api_error": (LLMResponseException, True),
    "timeout_error": (LLMResponseException, True),
    "rate_limit_error": (RateLimitError, True),
    "authentication_error": (AuthenticationError, False),
    "permission_error": (AuthenticationError, False),
    "billing_error": (RateLimitError, False),
    "not_found_error": (ModelNotFoundError, False),
}


@attrs.frozen(kw_only=True)
class AnthropicSettings(HttpSettings):
    """Keys of the ``anthropic`` provider; ``temperature`` is narrowed to the API's 0-1.

    ``base_url`` is the API root, without ``/v1``.
    """

    model: str = ANTHROPIC.default_model
    temperature: float | None = attrs.field(default=None, metadata=between(0, 1))


class AnthropicWire(HttpWire[AnthropicSettings]):
    """Translation for Anthropic's Messages API (see the module docstring)."""

    identity = ANTHROPIC
    settings_type = AnthropicSettings
    model_listing = ModelListing(path="/v1/models", key="data", page_size_param="limit")
    structured_mode = native("output_config.format")
    #: Every generate() option but ``seed``: the Messages API has none.
    supported_options = ALL_OPTIONS - {"seed"}
    temperature_range = (0.0, 1.0)
    context_lengths = _CONTEXT_WINDOWS

    def extra_headers(self, settings: AnthropicSettings) -> Mapping[str, str]:
        return {"anthropic-version": API_VERSION}

    def option_problems(self, options: GenerateOptions) -> list[str]:
        blank = [stop for stop in options.get("stop", ()) if not stop.strip()]
        if not blank:
            return []
        return [f"stop={blank!r}: Anthropic refuses stop sequences made only of whitespace; use visible text such as '\\n\\nEND'"]

    def chat(self, settings: AnthropicSettings, prompt: str, call: Call, *, stream: bool) -> WireRequest:
        return WireRequest("/v1/messages", _map_request(settings, prompt, call, stream=stream))

    def process_response(self, body: Any) -> Completion:
        body = answer_object(body, label="Anthropic", provider=_PROVIDER)
        content = body.get("content")
        if not isinstance(content, list):
            msg = f"Anthropic's answer has no content list (type {body.get('type')!r})"
            raise LLMResponseException(msg, provider=_PROVIDER)
        text = "".join(
            block["text"]
            for block in content
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
        )
        if body.get("stop_reason") == "refusal":
            raise _refusal(body.get("stop_details"))
        usage = body.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return Completion(
            text=text,
            prompt_tokens=input_tokens(usage),
            completion_tokens=token_count(usage, "output_tokens"),
            stop_reason=body.get("stop_reason"),
        )

    def process_stream(self, chunks: Iterator[bytes]) -> StreamItems:
        events = iter_sse(chunks)
        prompt_tokens = completion_tokens = 0
        stop_reason: str | None = None
        for event in events:
            kind = event.event
            if kind == "content_block_delta":
                delta = _event_data(event).get("delta")
                if isinstance(delta, dict) and delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                    yield delta["text"]
            elif kind == "message_start":
                message = _event_data(event).get("message")
                usage = message.get("usage") if isinstance(message, dict) else None
                if isinstance(usage, dict):
                    prompt_tokens = input_tokens(usage)
            elif kind == "message_delta":
                data = _event_data(event)
                usage = data.get("usage")
                if isinstance(usage, dict):
                    # Cumulative totals: the last event's counts replace the earlier ones.
                    completion_tokens = token_count(usage, "output_tokens")
                    if isinstance(usage.get("input_tokens"), int):
                        prompt_tokens = input_tokens(usage)
                delta = data.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                    stop_reason = delta["stop_reason"]
                    if stop_reason == "refusal":
                        raise _refusal(delta.get("stop_details", data.get("stop_details")))
            elif kind == "message_stop":
                yield StreamEnd(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, stop_reason=stop_reason)
                return
            elif kind == "error":
                raise _stream_error(_event_data(event))
        msg = "Anthropic's stream ended before its message_stop event (the answer is cut)"
        raise LLMResponseException(msg, provider=_PROVIDER, retryable=True)

    def error_text(self, body: Any) -> str | None:
        return _process_error_body(body)

    def map_error(self, reply: ErrorReply, settings: AnthropicSettings) -> LLMException:
        if reply.status == 404:
            model, where = settings.model, safe_url(ANTHROPIC.url(settings))
            msg = f"model {model!r} not found at {where}: {reply.detail} (GET /v1/models lists the models)"
            return error_for_status(reply, provider=_PROVIDER, detail=msg, kind=ModelNotFoundError, retryable=False)
        if reply.status == 402:
            return error_for_status(reply, provider=_PROVIDER, kind=RateLimitError, retryable=False)
        return super().map_error(reply, settings)

    def model_request(self, settings: AnthropicSettings) -> WireRequest | None:
        return WireRequest(f"/v1/models/{path_segment(settings.model)}", method="GET")

    def model_facts(self, body: Any | None, settings: AnthropicSettings) -> ModelFacts:
        """``max_input_tokens`` from the models endpoint, else the family's window from a table."""
        details = _process_model(body)
        context = details.get("max_input_tokens")
        if not isinstance(context, int):
            context = self.table_context(settings.model)
        return ModelFacts(context, details)


class AnthropicLLM(HttpLLM[AnthropicSettings]):
    """The ``anthropic`` provider: Claude models over Anthropic's Messages API."""

    wire = AnthropicWire()


# -- request mapping (ours -> wire) ------------------------------------------------------------


def _map_request(settings: AnthropicSettings, prompt: str, call: Call, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": settings.model, "max_tokens": call.max_tokens or DEFAULT_MAX_TOKENS}
    if call.system:
        body["system"] = call.system
    body["messages"] = [{"role": "user", "content": prompt}]
    body.update(call.sampling(temperature="temperature", max_tokens=None, stop="stop_sequences", seed=None))
    body["stream"] = stream
    if call.json_schema is not None:
        schema = strict_schema(call.json_schema, provider=_PROVIDER, feature="structured outputs")
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    return body


# -- response processing (wire -> ours) ----------------------------------------------------------


def input_tokens(usage: Mapping[str, Any]) -> int:
    """All input tokens: uncached, written to the cache, and read from it."""
    return token_count(usage, "input_tokens") + token_count(usage, "cache_creation_input_tokens") + token_count(usage, "cache_read_input_tokens")


def _event_data(event: SSEEvent) -> dict[str, Any]:
    return json_object(event.data, what=f"Anthropic streamed a {event.event} event whose data", provider=_PROVIDER)


def _stream_error(data: Mapping[str, Any]) -> LLMException:
    """The exception for an ``error`` event that arrived after HTTP 200."""
    error = data.get("error")
    error_type = error.get("type") if isinstance(error, dict) else None
    kind, retryable = _STREAM_ERRORS.get(str(error_type), (LLMResponseException, False))
    detail = _process_error_body(data) or "(no message)"
    return kind(f"Anthropic reported an error mid-stream: {detail}", provider=_PROVIDER, retryable=retryable)


def _refusal(details: Any) -> RefusalError:
    """The error for ``stop_reason: "refusal"``, with the category and explanation where the API gives them."""
    details = details if isinstance(details, dict) else {}
    said = [str(details[key]) for key in ("category", "explanation") if isinstance(details.get(key), str) and details[key]]
    why = f": {'; '.join(said)}" if said else ""
    return RefusalError(f"Anthropic: the model refused (stop_reason 'refusal'){why}", provider=_PROVIDER)


def _process_error_body(body: Any) -> str | None:
    """``"<error.type>: <error.message>"`` from an error body; a bare string error is taken as is."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error or None
    if not isinstance(error, dict):
        return None
    kind, message = error.get("type"), error.get("message")
    parts = [part for part in (kind, message) if isinstance(part, str) and part]
    return ": ".join(parts) or None


def _process_model(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    facts: dict[str, Any] = {}
    for key in ("id", "display_name", "created_at"):
        if isinstance(body.get(key), str):
            facts[key] = body[key]
    for key in ("max_input_tokens", "max_tokens"):
        if isinstance(body.get(key), int):
            facts[key] = body[key]
    return facts
