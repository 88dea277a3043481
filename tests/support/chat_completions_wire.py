"""What the OpenAI and Mistral wire servers share: routes, auth, scripting and the answer shapes.

Both APIs serve ``POST /v1/chat/completions``, ``GET /v1/models`` and
``GET /v1/models/{id}`` behind ``Authorization: Bearer``. ``ChatCompletionsWireServer``
routes those, checks the key, validates the body (``invalid_request``), knows its models,
and answers a generation with the next scripted ``Reply`` or else ``default_answer``
(whole, or streamed as the request's ``stream`` flag asks). Subclasses give the dialect:
error bodies, model cards, and the exact chunks of a stream (``openai_wire.py``,
``mistral_wire.py``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from tests.support.structured_answers import conforming_text, schema_in_prompt, strict_problem
from tests.support.wire_server import Json, Reply, Request, Sse, WireServer, sse_event

__all__ = ["CREATED", "DEFAULT_KEY", "QUALITY_ANSWER", "Answer", "ChatCompletionsWireServer", "done_frame"]

#: The key the servers accept: the harness's dummy key (never a real one).
DEFAULT_KEY = "test-key-not-a-secret"
#: A fixed ``created`` time, so re-recorded cassettes do not differ.
CREATED = 1767225600


@attrs.frozen
class Answer:
    """A normal answer: its text pieces (one chunk each when streamed), usage and finish reason."""

    pieces: Sequence[str]
    prompt_tokens: int = 96
    completion_tokens: int = 17
    finish_reason: str = "stop"

    @property
    def text(self) -> str:
        return "".join(self.pieces)


#: The quality verdict the demo and the integration tests expect.
QUALITY_ANSWER = Answer(pieces=["SCORE: 8", "\n", "The change", " validates the port range", " and keeps", " the happy path."])


def done_frame() -> str:
    """The frame that ends every stream of both APIs."""
    return sse_event("[DONE]")


class ChatCompletionsWireServer(WireServer, abc.ABC):
    """Routes, auth and scripting for a chat-completions API; subclasses supply the dialect."""

    def __init__(self, *, key: str = DEFAULT_KEY, default_answer: Answer = QUALITY_ANSWER) -> None:
        super().__init__()
        self.key = key
        self.default_answer = default_answer

    # -- the dialect, per subclass -------------------------------------------------------------

    @abc.abstractmethod
    def models(self) -> Mapping[str, Mapping[str, Any]]:
        """Model cards by every name they answer to (ids and aliases)."""

    @abc.abstractmethod
    def auth_failure(self, header: str | None) -> Reply:
        """The 401 for a missing or wrong ``Authorization`` header."""

    @abc.abstractmethod
    def unknown_model(self, model: str, *, generating: bool) -> Reply:
        """The error for a model the server does not have."""

    @abc.abstractmethod
    def invalid_request(self, body: Any) -> Reply | None:
        """The error for a body the API would refuse, or ``None`` when it is valid."""

    @abc.abstractmethod
    def completion(self, body: Mapping[str, Any], answer: Answer) -> Json:
        """A whole ``chat.completion``."""

    @abc.abstractmethod
    def stream(self, body: Mapping[str, Any], answer: Answer) -> Sse:
        """A streamed answer, ``data: [DONE]`` included."""

    # -- routing ------------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        header = request.headers.get("authorization")
        if header != f"Bearer {self.key}":
            return self.auth_failure(header)
        path = request.path
        if request.method == "GET" and path == "/v1/models":
            cards = {card["id"]: card for card in self.models().values()}
            return Json(200, {"object": "list", "data": list(cards.values())})
        if request.method == "GET" and path.startswith("/v1/models/"):
            model = path.removeprefix("/v1/models/")
            card = self.models().get(model)
            return Json(200, dict(card)) if card else self.unknown_model(model, generating=False)
        if request.method == "POST" and path == "/v1/chat/completions":
            return self._generate(request.body)
        return super().route(request)

    def _generate(self, body: Any) -> Reply:
        invalid = self.invalid_request(body)
        if invalid is not None:
            return invalid
        model = str(body["model"])
        if model not in self.models():
            return self.unknown_model(model, generating=True)
        scripted = self.next_scripted()
        if scripted is not None:
            return scripted
        answer = self.default_answer
        if "response_format" in body:
            schema = self.response_schema(body["response_format"], body["messages"])
            if not isinstance(schema, Mapping):
                return schema
            answer = attrs.evolve(answer, pieces=[conforming_text(schema)])
        if body.get("stream") is True:
            return self.stream(body, answer)
        return self.completion(body, answer)

    def response_schema(self, response_format: Any, messages: Any) -> Mapping[str, Any] | Reply:
        """The schema a structured request constrains the answer to, or the error for a form the API refuses.

        OpenAI's forms (https://platform.openai.com/docs/guides/structured-outputs): ``json_schema``
        with a ``name`` and a ``schema`` (strict: closed objects, every key required), or
        ``json_object``, whose messages must say JSON (the schema is then read from the prompt).
        """
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind == "json_object":
            prompted = schema_in_prompt(messages)
            return prompted if prompted is not None else self.refuse("'messages' must contain the word 'json' to use 'response_format' of type 'json_object'.")
        spec = response_format.get("json_schema") if kind == "json_schema" else None
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict) or not spec.get("name"):
            return self.refuse("Missing required parameter: 'response_format.json_schema' (with a 'name' and a 'schema').")
        problem = strict_problem(spec["schema"]) if spec.get("strict") is True else None
        if problem:
            return self.refuse(f"Invalid schema for response_format '{spec['name']}': {problem}")
        schema: Mapping[str, Any] = spec["schema"]
        return schema

    def refuse(self, message: str) -> Reply:
        """The 400 for a request the API refuses, in the dialect's error shape."""
        return Json(400, {"error": {"message": message, "type": "invalid_request_error", "param": "response_format", "code": None}})
