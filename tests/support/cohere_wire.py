"""A local server that speaks Cohere's v2 Chat API as ``wire.md`` section 6 documents it.

No Cohere key is available where the cassettes are made, so this is what they are
recorded from (their provenance says ``synthesized``). Every request must carry
``Authorization: Bearer <api_key>``: a missing or wrong key gets Cohere's 401 body.
``POST /v2/chat`` takes the next scripted ``Reply`` (build them with ``chat_reply``,
``stream_reply`` and ``error_reply``); with none left it answers ``quality_answer()``,
whole or streamed as the request's ``stream`` flag asks (Cohere's default is whole).
``GET /v1/models`` and ``GET /v1/models/{model}`` describe the served models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from tests.support.structured_answers import conforming_text
from tests.support.wire_server import Json, Reply, Request, Sse, WireServer, sse_event

__all__ = [
    "ACCEPTED_KEY",
    "IMITATES",
    "Answer",
    "CohereWireServer",
    "chat_reply",
    "error_reply",
    "quality_answer",
    "stream_reply",
]

#: What this server imitates (the cassettes' ``imitates_version``).
IMITATES = "Cohere API v2 /v2/chat, as cohere-python @bc495da and docs.cohere.com/reference/errors describe it"
#: The key this server accepts: the dummy key the provider tests record with.
ACCEPTED_KEY = "test-key-not-a-secret"
_RESPONSE_ID = "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
_MODELS = ("command-a-03-2025",)
_CONTEXT_LENGTH = 256_000


@attrs.frozen
class Answer:
    """A normal answer: its text pieces (one ``content-delta`` each when streamed) and usage.

    ``input_tokens``/``output_tokens`` are ``usage.tokens`` (what the model processed);
    ``billed_input``/``billed_output`` are ``usage.billed_units`` (what is paid).
    """

    pieces: Sequence[str]
    input_tokens: int = 71
    output_tokens: int = 4
    billed_input: int = 5
    billed_output: int = 4
    finish_reason: str = "COMPLETE"


def quality_answer() -> Answer:
    """The default reply: a scored review, streamed in several pieces (usage 96 in, 17 out)."""
    return Answer(
        pieces=["SCORE: 8", "\n", "The change", " validates the port range", " and keeps", " the happy path."],
        input_tokens=96,
        output_tokens=17,
        billed_input=74,
        billed_output=17,
    )


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "billed_units": {"input_tokens": answer.billed_input, "output_tokens": answer.billed_output},
        "tokens": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
    }


def chat_reply(answer: Answer) -> Json:
    """The non-streamed ``V2ChatResponse`` for ``answer``."""
    body = {
        "id": _RESPONSE_ID,
        "finish_reason": answer.finish_reason,
        "message": {"role": "assistant", "content": [{"type": "text", "text": "".join(answer.pieces)}]},
        "usage": _usage(answer) | {"cached_tokens": 0},
    }
    return Json(200, body)


def stream_reply(
    answer: Answer,
    *,
    error: str | None = None,
    chunk_size: int | None = None,
    end: bool = True,
    drop_connection: bool = False,
) -> Sse:
    """The SSE stream for ``answer``: named events, ``message-end``, then ``data: [DONE]``.

    ``error`` makes the ``message-end`` a failure (``finish_reason: ERROR`` and a
    ``delta.error`` text, after HTTP 200); ``end=False`` stops after the last piece, with
    no ``message-end`` and no ``[DONE]``.
    """
    start = {
        "type": "message-start",
        "id": _RESPONSE_ID,
        "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}},
    }
    frames = [
        sse_event(start, "message-start"),
        sse_event(
            {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
            "content-start",
        ),
    ]
    frames += [
        sse_event({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}, "content-delta")
        for piece in answer.pieces
    ]
    if end:
        delta: dict[str, Any] = {"finish_reason": "ERROR", "error": error} if error else {"finish_reason": answer.finish_reason}
        delta["usage"] = _usage(answer)
        frames += [
            sse_event({"type": "content-end", "index": 0}, "content-end"),
            sse_event({"type": "message-end", "delta": delta}, "message-end"),
            sse_event("[DONE]"),
        ]
    return Sse(frames, chunk_size=chunk_size, drop_connection=drop_connection)


def error_reply(status: int, message: str, headers: Mapping[str, str] | None = None) -> Json:
    """An error status with Cohere's ``{"message": ...}`` body."""
    return Json(status, {"message": message}, dict(headers or {}))


class CohereWireServer(WireServer):
    """Cohere's v2 chat and v1 models endpoints on 127.0.0.1, with a reply script."""

    def route(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if request.method == "POST" and request.path == "/v2/chat":
            return self._chat(request.body)
        if request.method == "GET" and request.path == "/v1/models":
            return Json(200, {"models": [self._model(name) for name in _MODELS[: self._page_size(request.query)]]})
        if request.method == "GET" and request.path.startswith("/v1/models/"):
            name = request.path.removeprefix("/v1/models/")
            if name not in _MODELS:
                return error_reply(404, f"model '{name}' not found")
            return Json(200, self._model(name))
        return error_reply(404, "Not Found")

    def _refused(self, request: Request) -> Json | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header.removeprefix("Bearer ").strip():
            return error_reply(401, "no api key supplied")
        if header.removeprefix("Bearer ") != ACCEPTED_KEY:
            return error_reply(401, "invalid api token")
        return None

    def _chat(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return error_reply(400, "invalid request: the body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return error_reply(400, "invalid request: model must be specified")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error_reply(400, "invalid request: messages must not be empty")
        if model not in _MODELS:
            return error_reply(
                404, f"model '{model}' not found, make sure the correct model ID was used and that you have access to the model."
            )
        scripted: Reply | None = self.next_scripted()
        if scripted is not None:
            return scripted
        answer = quality_answer()
        response_format = body.get("response_format")
        if response_format is not None:  # JSON mode; a json_schema constrains it further
            schema = response_format.get("json_schema") if isinstance(response_format, dict) else None
            if not isinstance(response_format, dict) or response_format.get("type") != "json_object" or not isinstance(schema, dict):
                return error_reply(400, "invalid request: response_format must be {type: json_object, json_schema: {...}} here")
            answer = attrs.evolve(answer, pieces=[conforming_text(schema)])
        return stream_reply(answer) if body.get("stream") is True else chat_reply(answer)

    def _model(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "endpoints": ["chat"],
            "finetuned": False,
            "context_length": _CONTEXT_LENGTH,
            "tokenizer_url": f"https://storage.googleapis.com/cohere-public/tokenizers/{name}.json",
            "features": ["tools", "strict_tools", "json_mode", "json_schema", "safety_modes"],
            "is_deprecated": False,
            "sampling_defaults": {"temperature": 0.3, "k": 0, "p": 0.75},
        }

    @staticmethod
    def _page_size(query: str) -> int:
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            if name == "page_size" and value.isdigit():
                return int(value)
        return 20
