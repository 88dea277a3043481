"""The OpenAI chat-completions dialect, once, as a wire parametrized by the vendor's identity and quirks.

Every server that speaks it takes ``{"model", "messages", ...}`` at ``.../chat/completions``,
answers with ``choices[0].message.content`` and ``usage.prompt_tokens``/``completion_tokens``,
streams data-only SSE chunks that end with ``data: [DONE]``, and describes errors with a
``message``/``type``/``code`` body. What differs between vendors is data given to
``ChatCompletionsWire``: the identity (name, base URL, key), the output-cap and seed field
names, whether streamed usage must be asked for, stop and temperature limits, and where the
model list is. ``openai`` and ``mistral`` subclass it for their genuine differences; the
other presets (``groq``, ``vllm``...) are declarations (``docs/adding-a-provider.md``).

Structured answers (``json_schema``) go where each server documents them (``structured``):
``json_schema``: ``response_format: {"type": "json_schema", "json_schema": {"name", "schema"}}``
as OpenAI defines it (https://platform.openai.com/docs/guides/structured-outputs), with
``"strict": true`` and the schema adapted to strict rules where ``strict`` is declared;
``llamacpp``: ``response_format: {"type": "json_object", "schema": ...}`` (llama.cpp's
``tools/server/README.md`` and llama-cpp-python's docs: the schema becomes a grammar; llama-server
b11434 reads a top-level ``schema`` only with type ``json_object``, and with ``json_schema`` it
constrains to any JSON, as the live tier found); ``json_object``: JSON mode only,
so the schema also goes into the prompt (DeepSeek's ``/guides/json_mode``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Generic, Literal, TypeVar

import attrs

from obra_llm.calls import Completion, StreamEnd, StreamItems, token_count
from obra_llm.config.constraints import at_least
from obra_llm.errors import LLMException, LLMResponseException, ModelNotFoundError, RefusalError
from obra_llm.options import ALL_OPTIONS, Call
from obra_llm.providers.http_wire import HttpSettings, HttpWire, Identity, ModelFacts, ModelListing, answer_object
from obra_llm.structured import StructuredMode, native, strict_schema
from obra_llm.transports.endpoint import WireRequest
from obra_llm.transports.framing import SSEEvent, iter_sse, json_object
from obra_llm.transports.http import ErrorReply, error_for_status, safe_url

__all__ = [
    "ChatCompletionsWire",
    "ChatSettings",
    "ErrorFields",
    "content_text",
    "error_fields",
    "models_problem",
]

C = TypeVar("C", bound="ChatSettings")


@attrs.frozen(kw_only=True)
class ChatSettings(HttpSettings):
    """Keys of every chat-completions provider.

    ``model`` unset means the provider's default model; ``context_length`` overrides what
    the server or a table says.
    """

    model: str = ""
    context_length: int | None = attrs.field(default=None, metadata=at_least(1))


#: The data of the event that ends a stream.
_DONE = "[DONE]"
#: A masked key as error messages echo it (``sk-proj-****MWcA``): the tail after the stars goes.
_KEY_TAIL = re.compile(r"(\*{3,})[A-Za-z0-9]+")


@attrs.frozen
class ErrorFields:
    """What an error body says, each part ``None`` when absent: readable text, type, code, param."""

    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None


# -- response processing (wire -> ours) ----------------------------------------------------------


def content_text(content: Any) -> str | None:
    """The text of a message's ``content``: a string, or a list of chunks whose ``text`` parts join.

    Chunks of other types (Mistral's ``thinking``, images) are not answer text and are skipped.
    ``None`` when ``content`` is neither (``null`` on a refusal or a tool call).
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            chunk["text"]
            for chunk in content
            if isinstance(chunk, dict) and chunk.get("type") == "text" and isinstance(chunk.get("text"), str)
        )
    return None


def _usage(usage: Any) -> tuple[int, int]:
    """(prompt, completion) tokens; an absent or ``null`` usage counts 0."""
    if not isinstance(usage, dict):
        return 0, 0
    return token_count(usage, "prompt_tokens"), token_count(usage, "completion_tokens")


def _is_error(chunk: Mapping[str, Any]) -> bool:
    """An error object where an answer was expected: OpenAI's ``error`` key, Mistral's ``object: error``."""
    return "error" in chunk or chunk.get("object") == "error"


def process_completion(body: Any, *, provider: str, label: str) -> Completion:
    """The answer, usage and ``finish_reason`` of a non-streamed ``chat.completion``."""
    body = answer_object(body, label=label, provider=provider)
    if _is_error(body):
        msg = f"{label} reported an error: {error_fields(body).message or 'no message'}"
        raise LLMResponseException(msg, provider=provider)
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    if choice is None:
        msg = f"{label}'s answer has no choices"
        raise LLMResponseException(msg, provider=provider)
    reason = choice.get("finish_reason")
    if reason == "error":
        msg = f"{label} stopped generating with finish_reason 'error'"
        raise LLMResponseException(msg, provider=provider)
    message = choice.get("message")
    text = content_text(message.get("content")) if isinstance(message, dict) else None
    if text is None:
        refusal = message.get("refusal") if isinstance(message, dict) else None
        if isinstance(refusal, str) and refusal:
            raise RefusalError(f"{label}: the model refused: {refusal} (finish_reason {reason!r})", provider=provider)
        msg = f"{label}'s answer has no message content text (finish_reason {reason!r})"
        raise LLMResponseException(msg, provider=provider)
    prompt_tokens, completion_tokens = _usage(body.get("usage"))
    return Completion(
        text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        stop_reason=reason if isinstance(reason, str) else None,
    )


def process_chunks(events: Iterator[SSEEvent], *, provider: str, label: str) -> StreamItems:
    """Text pieces, then a ``StreamEnd`` at ``data: [DONE]``, from ``chat.completion.chunk`` events.

    Usage is taken from whichever chunk carries it (OpenAI: a last chunk whose ``choices`` is
    empty; Mistral: the chunk with ``finish_reason``). Events with another name than
    ``message`` (keep-alive pings) are skipped. An error object raises; so does a stream that
    ends without ``[DONE]``, since the answer may be cut. A refusal streams as ``delta.refusal``
    pieces (https://platform.openai.com/docs/guides/structured-outputs#refusals): they are
    gathered and raised as one ``RefusalError`` when the choice finishes.
    """
    prompt_tokens = completion_tokens = 0
    stop_reason: str | None = None
    refusal: list[str] = []
    for event in events:
        if event.event not in ("message", "error"):
            continue
        if len(event.data) < 16 and event.data.strip() == _DONE:
            yield StreamEnd(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, stop_reason=stop_reason)
            return
        chunk = _parse_chunk(event.data, provider=provider, label=label)
        if event.event == "error" or _is_error(chunk):
            msg = f"{label} reported an error mid-stream: {error_fields(chunk).message or event.data[:200]}"
            raise LLMResponseException(msg, provider=provider)
        usage = _chunk_usage(chunk)
        if usage is not None:
            prompt_tokens, completion_tokens = _usage(usage)
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                piece = content_text(delta.get("content"))
                if piece:
                    yield piece
                refused = delta.get("refusal")
                if isinstance(refused, str) and refused:
                    refusal.append(refused)
            reason = choice.get("finish_reason")
            if reason == "error":
                msg = f"{label} stopped generating mid-stream with finish_reason 'error'"
                raise LLMResponseException(msg, provider=provider)
            if isinstance(reason, str):
                stop_reason = reason
                if refusal:
                    raise RefusalError(f"{label}: the model refused: {''.join(refusal)} (finish_reason {reason!r})", provider=provider)
    msg = f"{label}'s stream ended before its data: [DONE] line (the answer may be cut)"
    raise LLMResponseException(msg, provider=provider, retryable=True)


def _chunk_usage(chunk: Mapping[str, Any]) -> dict[str, Any] | None:
    """A chunk's usage: top-level ``usage``, or Groq's ``x_groq.usage`` on its final chunk."""
    usage = chunk.get("usage")
    if usage is None and "x_groq" in chunk:
        vendor = chunk["x_groq"]
        usage = vendor.get("usage") if isinstance(vendor, dict) else None
    return usage if isinstance(usage, dict) else None


def _parse_chunk(data: str, *, provider: str, label: str) -> dict[str, Any]:
    return json_object(data, what=f"{label} streamed an event", provider=provider)


# -- errors (wire -> ours) -----------------------------------------------------------------------


def error_fields(body: Any) -> ErrorFields:
    """Read an error body defensively, whatever its shape.

    OpenAI: ``{"error": {"message", "type", "param", "code"}}``. Mistral: the same keys at
    the top level, where ``message`` may be a string, an object (``{"detail": [...]}``) or
    that object as a JSON string, or only a ``detail``; ``code`` may be a string or a number.
    """
    if not isinstance(body, dict):
        return ErrorFields(message=_readable(body))
    source = body.get("error", body)
    if not isinstance(source, dict):
        return ErrorFields(message=_readable(source))
    message = _readable(source.get("message")) or _readable(source.get("detail"))
    kind = source.get("type")
    code = source.get("code")
    param = source.get("param")
    return ErrorFields(
        message=message,
        type=kind if isinstance(kind, str) else None,
        code=str(code) if isinstance(code, str | int) and not isinstance(code, bool) else None,
        param=param if isinstance(param, str) and param else None,
    )


def error_text(body: Any) -> str | None:
    """The readable message of an error body, with any echoed key tail masked."""
    message = error_fields(body).message
    return _KEY_TAIL.sub(r"\1", message) if message else None


def _readable(value: Any) -> str | None:
    """Text a person can read from a message or detail of any shape."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                return _readable(json.loads(text)) or text
            except ValueError:
                return text
        return text or None
    if isinstance(value, dict):
        for key in ("detail", "message", "msg"):
            if key in value:
                return _readable(value[key])
        return json.dumps(value, separators=(",", ":")) if value else None
    if isinstance(value, list):
        parts = [part for part in (_describe_problem(item) for item in value) if part]
        return "; ".join(parts) or None
    return None


def _describe_problem(item: Any) -> str | None:
    """One validation problem as ``msg @ body.field (type)``."""
    message = item.get("msg") if isinstance(item, dict) else None
    if not isinstance(message, str):
        return _readable(item)
    text = message
    location = item.get("loc")
    if isinstance(location, list) and location:
        text += " @ " + ".".join(str(part) for part in location)
    if isinstance(item.get("type"), str):
        text += f" ({item['type']})"
    return text


# -- models --------------------------------------------------------------------------------------


def models_problem(body: Any, *, model: str | None, where: str, label: str) -> str | None:
    """What a ``GET .../models`` list says is wrong: not a list, or ``model`` (when given) not in it.

    A model counts as listed under its ``id`` or one of its ``aliases`` (Mistral's
    ``mistral-small-latest`` is an alias of a dated id).
    """
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return f"{where} did not answer with {label}'s model list"
    if model is None:
        return None
    names: set[str] = set()
    for entry in data:
        if isinstance(entry, dict):
            aliases = entry.get("aliases")
            candidates = [entry.get("id"), *(aliases if isinstance(aliases, list) else [])]
            names.update(name for name in candidates if isinstance(name, str))
    if model not in names:
        return f"model {model!r} is not offered by {where} (check the model name and the key's access)"
    return None


def listed_context(body: Any, model: str) -> int | None:
    """The context window a ``GET .../models`` list states for ``model``, under any vendor's key.

    vLLM says ``max_model_len``, OpenRouter and Together ``context_length``, Groq
    ``context_window``, llama.cpp's server ``meta.n_ctx_train``; OpenAI says nothing. A list
    of one model describes it whatever it is called.
    """
    data = body.get("data") if isinstance(body, dict) else None
    entries = [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []
    named = [entry for entry in entries if entry.get("id") == model]
    # A single-model server (llama.cpp) serves whatever name it is asked for.
    for entry in named or (entries if len(entries) == 1 else []):
        meta = entry.get("meta")
        candidates = [entry.get(key) for key in _CONTEXT_KEYS]
        candidates.append(meta.get("n_ctx_train") if isinstance(meta, dict) else None)
        for value in candidates:
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


#: The keys vendors state a model's context window under in a models list (see ``listed_context``).
_CONTEXT_KEYS = ("max_model_len", "context_length", "context_window")


#: What ``get_model_info`` reports for each way of sending a schema (``structured``, ``strict``).
_STRUCTURED_MODES: Mapping[tuple[str, bool], StructuredMode] = {
    ("json_schema", True): native("response_format.json_schema(strict)"),
    ("json_schema", False): native("response_format.json_schema"),
    ("llamacpp", False): native("response_format.schema(grammar)"),
    ("json_object", False): native("response_format.json_object", instructions=True),
}


class ChatCompletionsWire(HttpWire[C], Generic[C]):
    """Translation for one vendor's chat-completions API: its identity and quirks are constructor data.

    ``max_tokens_field``: the output cap's name (``max_completion_tokens`` or the older
    ``max_tokens``); ``seed_field``: the seed's name, ``None`` when there is none;
    ``stream_usage``: send ``stream_options.include_usage`` (servers that reject it, or
    send usage anyway, say no); ``models_path``: the model list (probe, ``list_models`` and model info);
    ``models_state_context``: the list states context windows, so ``get_model_info`` asks it;
    ``any_model``: the server answers with the model it loaded whatever ``model`` says;
    ``structured`` and ``strict``: how a ``json_schema`` is sent (the module docstring).
    """

    def __init__(
        self,
        identity: Identity,
        settings_type: type[C],
        *,
        chat_path: str = "/chat/completions",
        models_path: str = "/models",
        max_tokens_field: str = "max_tokens",
        seed_field: str | None = "seed",
        stream_usage: bool = True,
        max_stop: int | None = None,
        temperature_range: tuple[float, float] = (0.0, 2.0),
        models_state_context: bool = False,
        any_model: bool = False,
        context_lengths: Mapping[str, int] | None = None,
        structured: Literal["json_schema", "llamacpp", "json_object"] = "json_schema",
        strict: bool = False,
    ) -> None:
        self.identity = identity
        self.settings_type = settings_type
        self.chat_path = chat_path
        self.model_listing = ModelListing(path=models_path, key="data")
        self.max_tokens_field = max_tokens_field
        self.seed_field = seed_field
        self.stream_usage = stream_usage
        self.max_stop = max_stop
        self.temperature_range = temperature_range
        self.models_state_context = models_state_context
        self.any_model = any_model
        self.context_lengths = context_lengths or {}
        self.supported_options = ALL_OPTIONS if seed_field else ALL_OPTIONS - {"seed"}
        self.structured = structured
        self.strict = strict
        self.structured_mode = _STRUCTURED_MODES[structured, strict]

    # -- the request ---------------------------------------------------------------------------

    def chat(self, settings: C, prompt: str, call: Call, *, stream: bool) -> WireRequest:
        return WireRequest(self.chat_path, self.body(settings, prompt, call, stream=stream))

    def body(self, settings: C, prompt: str, call: Call, *, stream: bool) -> dict[str, Any]:
        """The request body; a subclass adds its own keys to it."""
        messages = call.messages(prompt)
        body: dict[str, Any] = {"model": settings.model, "messages": messages}
        body.update(call.sampling(temperature="temperature", max_tokens=self.max_tokens_field, stop="stop", seed=self.seed_field))
        body["stream"] = stream
        if stream and self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        if call.json_schema is not None:
            body["response_format"] = self.response_format(call.json_schema)
        return body

    def response_format(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """``response_format`` for a structured call, in the form this server documents."""
        if self.structured == "json_object":
            return {"type": "json_object"}
        if self.structured == "llamacpp":
            return {"type": "json_object", "schema": schema}
        if self.strict:
            adapted = strict_schema(schema, provider=self.provider, feature="strict structured outputs")
            return {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": adapted}}
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}

    def model_request(self, settings: C) -> WireRequest | None:
        if self.models_state_context and settings.context_length is None:
            return self.list_request(settings)
        return None

    # -- the answer ------------------------------------------------------------------------------

    def process_response(self, body: Any) -> Completion:
        return process_completion(body, provider=self.identity.name, label=self.identity.label)

    def process_stream(self, chunks: Iterator[bytes]) -> StreamItems:
        return process_chunks(iter_sse(chunks), provider=self.identity.name, label=self.identity.label)

    def probe_problem(self, body: Any, settings: C) -> str | None:
        where = f"{safe_url(self.identity.url(settings))}{self.model_listing.path}"
        return models_problem(body, model=None if self.any_model else settings.model, where=where, label=self.identity.label)

    def model_facts(self, body: Any | None, settings: C) -> ModelFacts:
        """``context_length`` when configured, else what the model list states, else the table's."""
        if settings.context_length is not None:
            return ModelFacts(settings.context_length, {"context_length_source": "config"})
        listed = listed_context(body, settings.model)
        if listed is not None:
            return ModelFacts(listed, {"context_length_source": "server"})
        length = self.table_context(settings.model)
        return ModelFacts(length, {"context_length_source": "table"} if length else {})

    # -- errors ------------------------------------------------------------------------------------

    def error_text(self, body: Any) -> str | None:
        return error_text(body)

    def map_error(self, reply: ErrorReply, settings: C) -> LLMException:
        """An unknown model names the model (``_names_missing_model``); another 404 suggests the ``/v1`` part of base_url."""
        fields = error_fields(reply.body)
        if _names_missing_model(reply.status, fields, settings.model):
            return self.model_not_found(reply, settings)
        if reply.status == 404:
            hint = f"{reply.detail} (check base_url: OpenAI-compatible servers usually serve the API under /v1)"
            return error_for_status(reply, provider=self.provider, detail=hint)
        refused = _refused_parameter(reply.status, fields)
        if refused is not None:
            detail = f"model {settings.model!r} refuses the parameter {refused!r}: {reply.detail} (leave that option out for it)"
            return error_for_status(reply, provider=self.provider, detail=detail, retryable=False)
        return super().map_error(reply, settings)

    def model_not_found(self, reply: ErrorReply, settings: C) -> LLMException:
        """The not-retried error for a model the server does not have."""
        msg = f"model {settings.model!r} is not available at {safe_url(self.identity.url(settings))}: {reply.detail}"
        return error_for_status(reply, provider=self.provider, detail=msg, kind=ModelNotFoundError, retryable=False)


#: The 400 codes OpenAI gives a parameter a model does not take: ``o1-mini`` answers ``stop``
#: with ``unsupported_parameter`` ("Unsupported parameter: 'stop' is not supported with this
#: model.", param ``stop``) and a system message with ``unsupported_value`` (param
#: ``messages[0].role``), as recorded against the real API (issue 17). No model is refused a
#: parameter before sending: the API's own answer is the evidence, mapped here.
_REFUSED_PARAMETER_CODES = frozenset({"unsupported_parameter", "unsupported_value"})
_QUOTED_PARAMETER = re.compile(r"Unsupported (?:parameter|value): '([^']+)'")


def _refused_parameter(status: int, fields: ErrorFields) -> str | None:
    """The parameter a 400 says the model does not take, or ``None``."""
    if status != 400:
        return None
    named = _QUOTED_PARAMETER.match(fields.message or "")
    if fields.code in _REFUSED_PARAMETER_CODES or named:
        return fields.param or (named.group(1) if named else "unknown")
    return None


def _names_missing_model(status: int, fields: ErrorFields, model: str) -> bool:
    """Whether an error says the model does not exist, in any compatible server's words.

    OpenAI: 404 ``code: model_not_found``; Groq and vLLM: 404 "The model `X` does not
    exist"; OpenRouter: 400 "X is not a valid model ID".
    """
    message = fields.message or ""
    if status == 404:
        return fields.code == "model_not_found" or (bool(model) and model in message)
    return status == 400 and "not a valid model" in message
