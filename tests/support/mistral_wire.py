"""A local server that speaks Mistral's chat completions API as ``wire.md`` section 4 documents it.

No Mistral key is available where the cassettes are made, so this is what they are recorded
from (their provenance says so). It is as strict as the real API: a body with a key outside
Mistral's schema (``stream_options``, ``max_completion_tokens``, ``seed``, a message
``name``...) or a temperature above 1.5 gets the 422 whose ``message`` is an object holding
the validation ``detail`` list, so every recorded request also proves the provider sends
only Mistral's names. A bad key gets ``{"detail": "Unauthorized"}``, a bad model the 400
``invalid_model``. Streams are data-only SSE with usage on the chunk that carries
``finish_reason`` (no ``stream_options`` needed) and end with ``data: [DONE]``; model cards
carry ``max_context_length`` and ``aliases``. Identity headers (``mistral-correlation-id``,
``x-kong-request-id``) are sent as the real API sends them, for the recorder to drop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tests.support.chat_completions_wire import CREATED, Answer, ChatCompletionsWireServer, done_frame
from tests.support.wire_server import Json, Reply, Sse, sse_event

__all__ = [
    "API_VERSION",
    "CHAT_FIELDS",
    "MistralWireServer",
    "error_reply",
    "mid_stream_error",
    "rate_limited",
    "stream_reply",
    "validation_error",
]

#: The API this server imitates (mistralai/client-python 05629d2).
API_VERSION = "Mistral API v1 (mistralai/client-python 05629d2)"
_COMPLETION_ID = "cmpl-e5cc70bb28c444948073e77776eb30ef"
_HEADERS = {
    "mistral-correlation-id": "019a7c3e-5f2b-7d4e-9a1c-3b8e6f0d2c4a",
    "x-kong-request-id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "x-ratelimit-limit-req-minute": "60",
    "x-ratelimit-remaining-req-minute": "59",
    "x-ratelimit-limit-tokens-minute": "500000",
    "x-ratelimit-remaining-tokens-minute": "499887",
    "x-ratelimit-tokens-query-cost": "113",
}
#: Fields ``POST /v1/chat/completions`` accepts (``ChatCompletionRequest``); others get 422 ``extra_forbidden``.
CHAT_FIELDS = frozenset(
    {
        *("model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed"),
        *("metadata", "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty"),
        *("n", "prediction", "parallel_tool_calls", "prompt_mode", "safe_prompt", "guardrails", "prompt_cache_key"),
    }
)
#: Keys a ``system`` or ``user`` message may have (``name`` is OpenAI-only).
_MESSAGE_FIELDS = frozenset({"role", "content"})
_MAX_TEMPERATURE = 1.5
_CARDS: Mapping[str, Mapping[str, Any]] = {
    "mistral-small-2506": {
        "id": "mistral-small-2506",
        "object": "model",
        "created": CREATED,
        "owned_by": "mistralai",
        "capabilities": {
            "completion_chat": True,
            "completion_fim": False,
            "function_calling": True,
            "fine_tuning": True,
            "vision": True,
            "classification": False,
        },
        "name": "mistral-small-2506",
        "description": "Our latest enterprise-grade small model with the latest version released June 2025.",
        "max_context_length": 131072,
        "aliases": ["mistral-small-latest"],
        "deprecation": None,
        "deprecation_replacement_model": None,
        "default_model_temperature": 0.3,
        "type": "base",
    },
    "mistral-large-2411": {
        "id": "mistral-large-2411",
        "object": "model",
        "created": CREATED,
        "owned_by": "mistralai",
        "capabilities": {
            "completion_chat": True,
            "completion_fim": False,
            "function_calling": True,
            "fine_tuning": True,
            "vision": False,
            "classification": False,
        },
        "name": "mistral-large-2411",
        "description": "Our top-tier reasoning model for high-complexity tasks.",
        "max_context_length": 131072,
        "aliases": ["mistral-large-latest"],
        "deprecation": None,
        "deprecation_replacement_model": None,
        "default_model_temperature": 0.7,
        "type": "base",
    },
}


def error_reply(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Json:
    """An error with any of Mistral's body shapes (they vary: see ``wire.md``)."""
    return Json(status, body, {**_HEADERS, **(headers or {})})


def _error_body(message: Any, *, type: str, code: str | int | None = None) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": type, "param": None, "code": code}


def rate_limited(*, retry_after: str = "3") -> Json:
    """The 2025 429 body, with the ``Retry-After`` the glossary promises."""
    body = _error_body("Rate limit exceeded", type="rate_limited", code="1300") | {"raw_status_code": 429}
    return error_reply(429, body, {"retry-after": retry_after, "x-ratelimit-remaining-req-minute": "0"})


def validation_error(problems: Sequence[Mapping[str, Any]]) -> Json:
    """The 422 whose ``message`` is an object holding the validation ``detail`` list."""
    return error_reply(422, _error_body({"detail": list(problems)}, type="invalid_request_error"))


def _problem(kind: str, location: Sequence[str | int], msg: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": ["body", *location], "msg": msg, "input": value}


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None, usage: Any = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    chunk = {
        "id": _COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }
    return sse_event(chunk)


def _content_frames(model: str, pieces: Sequence[str]) -> list[str]:
    frames = [_chunk(model, {"role": "assistant", "content": ""})]
    frames += [_chunk(model, {"content": piece}) for piece in pieces]
    return frames


def _usage(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "completion_tokens": answer.completion_tokens,
    }


def stream_reply(answer: Answer, *, model: str = "mistral-small-latest", chunk_size: int | None = None) -> Sse:
    """A streamed answer: usage on the ``finish_reason`` chunk, then ``data: [DONE]``."""
    frames = _content_frames(model, answer.pieces)
    frames.append(_chunk(model, {"content": ""}, answer.finish_reason, _usage(answer)))
    frames.append(done_frame())
    return Sse(frames, chunk_size=chunk_size, headers=_HEADERS)


def mid_stream_error(pieces: Sequence[str], *, model: str = "mistral-small-latest") -> Sse:
    """HTTP 200, some pieces, then a chunk whose ``finish_reason`` is ``error``, and ``[DONE]``."""
    frames = _content_frames(model, pieces)
    frames.append(_chunk(model, {"content": ""}, "error", {"prompt_tokens": 96, "total_tokens": 99, "completion_tokens": 3}))
    frames.append(done_frame())
    return Sse(frames, headers=_HEADERS)


class MistralWireServer(ChatCompletionsWireServer):
    """Mistral's chat completions API on 127.0.0.1; ``url`` is the base URL (paths start ``/v1``)."""

    def models(self) -> Mapping[str, Mapping[str, Any]]:
        return {name: card for card in _CARDS.values() for name in (card["id"], *card["aliases"])}

    def auth_failure(self, header: str | None) -> Reply:
        return error_reply(401, {"detail": "Unauthorized"})

    def unknown_model(self, model: str, *, generating: bool) -> Reply:
        if generating:
            return error_reply(400, _error_body(f"Invalid model: {model}", type="invalid_model", code="1500"))
        return error_reply(404, _error_body("Model not found", type="invalid_request_error", code="1500"))

    def invalid_request(self, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return validation_error([_problem("model_attributes_type", [], "Input should be a valid dictionary", body)])
        extra = [key for key in body if key not in CHAT_FIELDS]
        problems = [_problem("extra_forbidden", [key], "Extra inputs are not permitted", body[key]) for key in extra]
        for field in ("model", "messages"):
            if field not in body:
                problems.append(_problem("missing", [field], "Field required", body))
        messages = body.get("messages")
        for index, message in enumerate(messages if isinstance(messages, list) else []):
            unknown = sorted(set(message) - _MESSAGE_FIELDS) if isinstance(message, dict) else []
            problems += [
                _problem("extra_forbidden", ["messages", index, key], "Extra inputs are not permitted", message[key])
                for key in unknown
            ]
        temperature = body.get("temperature")
        if isinstance(temperature, int | float) and temperature > _MAX_TEMPERATURE:
            msg = f"Input should be less than or equal to {_MAX_TEMPERATURE}"
            problems.append(_problem("less_than_equal", ["temperature"], msg, temperature))
        return validation_error(problems) if problems else None

    def completion(self, body: Mapping[str, Any], answer: Answer) -> Json:
        completion = {
            "id": _COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": str(body["model"]),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text, "tool_calls": None, "prefix": False},
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": _usage(answer),
        }
        return Json(200, completion, _HEADERS)

    def stream(self, body: Mapping[str, Any], answer: Answer) -> Sse:
        return stream_reply(answer, model=str(body["model"]))
