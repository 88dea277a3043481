"""The chat-completions dialect that the ``openai`` and ``mistral`` providers both speak.

Both APIs take ``{"model", "messages", ...}`` at ``.../chat/completions``, answer with
``choices[0].message.content`` and ``usage.prompt_tokens``/``completion_tokens``, stream
data-only SSE chunks that end with ``data: [DONE]``, and describe errors with a
``message``/``type``/``code`` body. This module holds only what is the same; the field
names that differ (``max_completion_tokens``, ``random_seed``), ``stream_options`` and
which error means what stay in each provider module (``docs/providers/openai.md``,
``docs/providers/mistral.md``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import httpx

from obra_llm.calls import Completion, StreamEnd, StreamItems, token_count
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import LLMResponseException
from obra_llm.protocol import GenerateOptions
from obra_llm.transports.framing import SSEEvent, json_object

__all__ = [
    "ErrorFields",
    "content_text",
    "error_fields",
    "error_text",
    "map_chat_request",
    "models_problem",
    "process_chunks",
    "process_completion",
    "response_error_fields",
]

#: The data of the event that ends a stream.
_DONE = "[DONE]"
#: A masked key as error messages echo it (``sk-proj-****MWcA``): the tail after the stars goes.
_KEY_TAIL = re.compile(r"(\*{3,})[A-Za-z0-9]+")


@attrs.frozen
class ErrorFields:
    """What an error body says, each part ``None`` when absent: readable text, type, code."""

    message: str | None = None
    type: str | None = None
    code: str | None = None


# -- request mapping (ours -> wire) ------------------------------------------------------------


def map_chat_request(
    settings: CommonSettings,
    prompt: str,
    options: GenerateOptions,
    *,
    stream: bool,
    max_tokens_field: str,
    seed_field: str,
) -> dict[str, Any]:
    """The body both APIs accept; the output cap and the seed go under the caller's names."""
    system = options.get("system", settings.system)
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    body: dict[str, Any] = {"model": settings.model, "messages": messages}
    temperature = options.get("temperature", settings.temperature)
    if temperature is not None:
        body["temperature"] = temperature
    max_tokens = options.get("max_tokens", settings.max_tokens)
    if max_tokens is not None:
        body[max_tokens_field] = max_tokens
    if "stop" in options:
        body["stop"] = list(options["stop"])
    if "seed" in options:
        body[seed_field] = options["seed"]
    body["stream"] = stream
    return body


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
    if not isinstance(body, dict):
        msg = f"{label} answered with JSON that is not an object: {type(body).__name__}"
        raise LLMResponseException(msg, provider=provider)
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
        why = f"the model refused: {refusal}" if isinstance(refusal, str) and refusal else "no message content text"
        msg = f"{label}'s answer has {why} (finish_reason {reason!r})"
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
    ends without ``[DONE]``, since the answer may be cut.
    """
    prompt_tokens = completion_tokens = 0
    stop_reason: str | None = None
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
        if isinstance(chunk.get("usage"), dict):
            prompt_tokens, completion_tokens = _usage(chunk["usage"])
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            piece = content_text(delta.get("content")) if isinstance(delta, dict) else None
            if piece:
                yield piece
            reason = choice.get("finish_reason")
            if reason == "error":
                msg = f"{label} stopped generating mid-stream with finish_reason 'error'"
                raise LLMResponseException(msg, provider=provider)
            if isinstance(reason, str):
                stop_reason = reason
    msg = f"{label}'s stream ended before its data: [DONE] line (the answer may be cut)"
    raise LLMResponseException(msg, provider=provider, retryable=True)


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
    return ErrorFields(
        message=message,
        type=kind if isinstance(kind, str) else None,
        code=str(code) if isinstance(code, str | int) and not isinstance(code, bool) else None,
    )


def error_text(body: Any) -> str | None:
    """The readable message of an error body, with any echoed key tail masked."""
    message = error_fields(body).message
    return _KEY_TAIL.sub(r"\1", message) if message else None


def response_error_fields(response: httpx.Response) -> ErrorFields:
    """``error_fields`` of a (read) error response; empty when its body is not JSON."""
    try:
        return error_fields(response.json())
    except ValueError:
        return ErrorFields()


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


def models_problem(body: Any, *, model: str, where: str, label: str) -> str | None:
    """What a ``GET .../models`` list says is wrong: not a list, or ``model`` not in it.

    A model counts as listed under its ``id`` or one of its ``aliases`` (Mistral's
    ``mistral-small-latest`` is an alias of a dated id).
    """
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return f"{where} did not answer with {label}'s model list"
    names: set[str] = set()
    for entry in data:
        if isinstance(entry, dict):
            aliases = entry.get("aliases")
            candidates = [entry.get("id"), *(aliases if isinstance(aliases, list) else [])]
            names.update(name for name in candidates if isinstance(name, str))
    if model not in names:
        return f"model {model!r} is not offered by {where} (check the model name and the key's access)"
    return None
