"""A local server that speaks Anthropic's Messages API as ``wire.md`` section 2 documents it.

No Anthropic key is available where the cassettes are made, so this is what they are
recorded from (their provenance says so). It checks ``x-api-key`` and
``anthropic-version`` on every request and answers with Anthropic's error bodies and
headers (``request-id``, ``anthropic-organization-id``, ``request_id`` in error bodies, so
the recorder's scrubbing is exercised). ``POST /v1/messages`` validates the body as the API
does (``max_tokens`` required, no unknown fields, temperature 0-1, no whitespace-only stop
sequences, known model), then answers with the next scripted ``Reply`` or else the default
``Answer``, whole or as named SSE events following the request's ``stream`` flag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

import attrs

from tests.support.structured_answers import conforming_text, strict_problem
from tests.support.wire_server import Json, Reply, Request, Sse, WireServer, sse_event

__all__ = [
    "API_VERSION",
    "DEFAULT_KEY",
    "MODELS",
    "QUALITY_ANSWER",
    "AnthropicWireServer",
    "Answer",
    "answer_frames",
    "error_event",
    "error_reply",
    "message_body",
]

#: The ``anthropic-version`` this server requires and imitates.
API_VERSION = "2023-06-01"
#: The key the server accepts: the harness's dummy key (never a real one).
DEFAULT_KEY = "test-key-not-a-secret"
#: The models the server knows, as ``GET /v1/models/{id}`` describes them.
MODELS: Mapping[str, Mapping[str, Any]] = {
    "claude-sonnet-4-5": {
        "type": "model",
        "id": "claude-sonnet-4-5",
        "display_name": "Claude Sonnet 4.5",
        "created_at": "2025-09-29T00:00:00Z",
        "max_input_tokens": 200000,
        "max_tokens": 64000,
    },
    "claude-haiku-4-5": {
        "type": "model",
        "id": "claude-haiku-4-5",
        "display_name": "Claude Haiku 4.5",
        "created_at": "2025-10-15T00:00:00Z",
        "max_input_tokens": 200000,
        "max_tokens": 64000,
    },
}
_MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
#: Identity the real API sends, which the recorder must drop (header) or redact (body).
_REQUEST_ID = "req_011CSHoEeqs5C35K2UUqR7Fy"
_IDENTITY_HEADERS = {"request-id": _REQUEST_ID, "anthropic-organization-id": "5f3c1a2e-8d4b-4c6a-9e7f-0a1b2c3d4e5f"}
#: Fields ``POST /v1/messages`` accepts; anything else is "Extra inputs are not permitted".
_MESSAGE_FIELDS = frozenset(
    {
        *("model", "max_tokens", "messages", "system", "temperature", "stop_sequences", "stream"),
        *("top_p", "top_k", "metadata", "tools", "tool_choice", "thinking", "service_tier", "output_config"),
    }
)


@attrs.frozen
class Answer:
    """A normal answer: its text pieces (one ``text_delta`` each when streamed) and usage."""

    pieces: Sequence[str]
    input_tokens: int = 96
    output_tokens: int = 17
    stop_reason: str = "end_turn"


#: The default answer: the quality verdict the demo and the integration tests expect.
QUALITY_ANSWER = Answer(pieces=["SCORE: 8", "\n", "The change", " validates the port range", " and keeps", " the happy path."])


def message_body(model: str, answer: Answer) -> dict[str, Any]:
    """The non-streamed ``message`` object for ``answer``."""
    return {
        "id": _MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "".join(answer.pieces)}],
        "stop_reason": answer.stop_reason,
        "stop_sequence": None,
        "usage": _usage(answer.input_tokens, answer.output_tokens),
    }


def answer_frames(model: str, answer: Answer, *, complete: bool = True) -> list[str]:
    """The SSE frames of ``answer``: ``message_start`` ... ``message_stop``.

    With ``complete`` false the frames stop after the text deltas, as a stream does when
    an ``error`` event interrupts it (append one with ``error_event``).
    """
    start = message_body(model, answer) | {"content": [], "stop_reason": None, "usage": _usage(answer.input_tokens, 1)}
    frames = [
        sse_event({"type": "message_start", "message": start}, "message_start"),
        sse_event(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start"
        ),
        sse_event({"type": "ping"}, "ping"),
    ]
    frames += [
        sse_event(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}, "content_block_delta"
        )
        for piece in answer.pieces
    ]
    if not complete:
        return frames
    delta = {"stop_reason": answer.stop_reason, "stop_sequence": None}
    return [
        *frames,
        sse_event({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse_event(
            {"type": "message_delta", "delta": delta, "usage": _usage(answer.input_tokens, answer.output_tokens)},
            "message_delta",
        ),
        sse_event({"type": "message_stop"}, "message_stop"),
    ]


def tool_use_frames(model: str, name: str, arguments: Any, answer: Answer) -> list[str]:
    """The SSE frames of a message whose one block calls tool ``name`` with ``arguments`` (sent in two deltas)."""
    start = message_body(model, answer) | {"content": [], "stop_reason": None, "usage": _usage(answer.input_tokens, 1)}
    text = json.dumps(arguments)
    block = {"type": "tool_use", "id": "toolu_01StubStructuredOutput", "name": name, "input": {}}
    return [
        sse_event({"type": "message_start", "message": start}, "message_start"),
        sse_event({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"),
        *(
            sse_event({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}}, "content_block_delta")
            for part in (text[: len(text) // 2], text[len(text) // 2 :])
        ),
        sse_event({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse_event(
            {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": _usage(answer.input_tokens, answer.output_tokens)},
            "message_delta",
        ),
        sse_event({"type": "message_stop"}, "message_stop"),
    ]


def error_event(kind: str, message: str) -> str:
    """An ``event: error`` frame, as the API sends after HTTP 200 (e.g. ``overloaded_error``)."""
    return sse_event({"type": "error", "error": {"type": kind, "message": message}}, "error")


def error_reply(status: int, kind: str, message: str, headers: Mapping[str, str] | None = None) -> Json:
    """An error status with Anthropic's error body and identity headers."""
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": _REQUEST_ID}
    return Json(status, body, {**_IDENTITY_HEADERS, **(headers or {})})


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


class AnthropicWireServer(WireServer):
    """Anthropic's Messages API on 127.0.0.1 (see the module docstring)."""

    #: The body fields ``POST /v1/messages`` accepts (a subclass imitating a newer API adds some).
    message_fields: frozenset[str] = _MESSAGE_FIELDS

    def __init__(self, *, key: str = DEFAULT_KEY, answer: Answer = QUALITY_ANSWER) -> None:
        super().__init__()
        self.key = key
        self.answer = answer

    def route(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if request.method == "GET" and request.path == "/v1/models":
            limit = int(parse_qs(request.query).get("limit", ["20"])[0])
            models = list(MODELS.values())[:limit]
            listing = {"data": models, "has_more": len(MODELS) > limit, "first_id": models[0]["id"], "last_id": models[-1]["id"]}
            return Json(200, listing, _IDENTITY_HEADERS)
        if request.method == "GET" and request.path.startswith("/v1/models/"):
            model = request.path.removeprefix("/v1/models/")
            if model not in MODELS:
                return error_reply(404, "not_found_error", f"model: {model}")
            return Json(200, dict(MODELS[model]), _IDENTITY_HEADERS)
        if request.method == "POST" and request.path == "/v1/messages":
            return self._messages(request.body)
        return error_reply(404, "not_found_error", "Not Found")

    def _refused(self, request: Request) -> Json | None:
        key = request.headers.get("x-api-key")
        if not key:
            return error_reply(401, "authentication_error", "x-api-key header is required")
        if key != self.key:
            return error_reply(401, "authentication_error", "invalid x-api-key")
        if request.headers.get("anthropic-version") != API_VERSION:
            return error_reply(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    def _messages(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return error_reply(400, "invalid_request_error", "There was an error parsing the body of your request.")
        problem = _invalid(body, self.message_fields)
        if problem is not None:
            return error_reply(400, "invalid_request_error", problem)
        model = str(body["model"])
        if model not in MODELS:
            return error_reply(404, "not_found_error", f"model: {model}")
        limit = MODELS[model]["max_tokens"]
        if body["max_tokens"] > limit:
            message = (
                f"max_tokens: {body['max_tokens']} > {limit}, which is the maximum allowed number of output tokens for {model}"
            )
            return error_reply(400, "invalid_request_error", message)
        scripted = self.next_scripted()
        if scripted is not None:
            return scripted
        answer = self.answer
        if "output_config" in body:  # structured outputs: the answer is JSON that honours the schema
            fmt = body["output_config"].get("format") if isinstance(body["output_config"], dict) else None
            schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
            if not isinstance(schema, dict):
                return error_reply(400, "invalid_request_error", "output_config.format: a json_schema format with a schema is required")
            problem = strict_problem(schema)
            if problem:
                return error_reply(400, "invalid_request_error", f"output_config.format.schema: {problem}")
            answer = attrs.evolve(answer, pieces=[conforming_text(schema)])
        if body.get("stream") is True:
            return Sse(answer_frames(model, answer), headers={**_IDENTITY_HEADERS, "cache-control": "no-cache"})
        return Json(200, message_body(model, answer), _IDENTITY_HEADERS)


def _invalid(body: Mapping[str, Any], fields: frozenset[str]) -> str | None:
    """The API's message for the first thing wrong with a ``/v1/messages`` body, if any."""
    extra = sorted(set(body) - fields)
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            return f"{field}: Field required"
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if any(not isinstance(item, dict) or item.get("role") not in ("user", "assistant") for item in messages):
        return "messages: roles must be 'user' or 'assistant'"
    temperature = body.get("temperature", 1.0)
    if not isinstance(temperature, int | float):
        return "temperature: Input should be a valid number"
    if not 0 <= temperature <= 1:
        return f"temperature: Input should be {'less than or equal to 1' if temperature > 1 else 'greater than or equal to 0'}"
    stops = body.get("stop_sequences", [])
    if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
        return "stop_sequences: Input should be a valid list of strings"
    if any(not stop.strip() for stop in stops):
        return "stop_sequences: each stop sequence must contain non-whitespace"
    return None
