"""The Anthropic Messages API as the real Claude Code CLI uses it, on 127.0.0.1, for the contract tests.

It is ``AnthropicWireServer`` (same validation, same error bodies and headers) plus what
Claude Code 2.1.332 needs, measured in ``docs/providers/claude-code.md``: the
``context_management`` body field, ``Authorization: Bearer`` for ``ANTHROPIC_AUTH_TOKEN``
and ``CLAUDE_CODE_OAUTH_TOKEN``, and a failure that answers *every* generation request of
a run (the CLI sends a second, non-streaming request after some failures). A model the
server does not know gets Anthropic's 404, so "model not found" needs no scripting.
A request offering the one ``StructuredOutput`` tool (``claude --json-schema``) is answered as a
model does: by calling it with input that honours its ``input_schema``; unless its prompt says
``contract scenario: structured_text``, which gets the usual text answer (a model ignoring the tool).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tests.support.anthropic_wire import (
    DEFAULT_KEY,
    MODELS,
    Answer,
    AnthropicWireServer,
    answer_frames,
    error_reply,
    tool_use_frames,
)
from tests.support.structured_answers import conforming
from tests.support.wire_server import Hang, Json, Reply, Request, Sse

__all__ = ["FAILURES", "STUB_ANSWER", "USAGE_LIMIT_RESET", "ClaudeCodeStub"]

#: The answer of a successful run: three pieces, so a stream shows them apart.
STUB_ANSWER = Answer(pieces=["Hello", " from", " the stub"], input_tokens=42, output_tokens=7)
#: When the stub's subscription limit "resets" (2030-01-01 00:00 UTC): fixed, so recordings compare equal.
USAGE_LIMIT_RESET = 1893456000
#: Seconds a hanging reply holds the connection before closing it (longer than any test waits).
HANG_SECONDS = 30.0

#: Named failures, each a reply given to every generation request of a run.
FAILURES: Mapping[str, Callable[[], Reply]] = {
    "unauthorized": lambda: error_reply(401, "authentication_error", "invalid x-api-key"),
    "rate_limited": lambda: error_reply(
        429, "rate_limit_error", "This request would exceed your organization's rate limit.", {"retry-after": "1"}
    ),
    # What a Pro/Max subscription gets when its 5-hour allowance is spent.
    "usage_limit": lambda: error_reply(
        429,
        "rate_limit_error",
        "This request would exceed your account's rate limit. Please try again later.",
        {
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(USAGE_LIMIT_RESET),
            "anthropic-ratelimit-unified-representative-claim": "five_hour",
        },
    ),
    "server_error": lambda: error_reply(500, "api_error", "Internal server error"),
    "overloaded": lambda: error_reply(529, "overloaded_error", "Overloaded"),
    "stream_cut": lambda: Sse(answer_frames("claude-sonnet-4-5", STUB_ANSWER, complete=False)),
    "hang": lambda: Hang(HANG_SECONDS),
}


class ClaudeCodeStub(AnthropicWireServer):
    """``AnthropicWireServer`` for the Claude Code CLI; set ``failure`` to a ``FAILURES`` name to fail every run."""

    message_fields = AnthropicWireServer.message_fields | {"context_management"}

    def __init__(self, *, key: str = DEFAULT_KEY, answer: Answer = STUB_ANSWER) -> None:
        super().__init__(key=key, answer=answer)
        self.failure: str | None = None

    @property
    def messages(self) -> list[Request]:
        """The generation requests received, in order."""
        return self.requests_to("/v1/messages")

    def route(self, request: Request) -> Reply:
        if request.method == "HEAD":
            return Json(200, {})
        if request.method == "POST" and request.path == "/v1/messages":
            if self.failure is not None:
                return FAILURES[self.failure]()
            model = request.body.get("model") if isinstance(request.body, dict) else None
            if model not in MODELS and self._refused(request) is None:
                # Before validation: the CLI shapes requests for models it does not know differently.
                return error_reply(404, "not_found_error", f"model: {model}")
            tool = _structured_output_tool(request.body)
            if tool is not None and self._refused(request) is None and "contract scenario: structured_text" not in str(request.body["messages"]):
                return Sse(tool_use_frames(str(model), tool["name"], conforming(tool["input_schema"]), self.answer))
        return super().route(request)

    def _refused(self, request: Request) -> Json | None:
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer "):
            if bearer.removeprefix("Bearer ") != self.key:
                return error_reply(401, "authentication_error", "invalid bearer token")
            if request.headers.get("anthropic-version") is None:
                return error_reply(400, "invalid_request_error", "anthropic-version: header is required")
            return None
        return super()._refused(request)


def _structured_output_tool(body: object) -> Mapping[str, Any] | None:
    """The ``StructuredOutput`` tool a ``claude --json-schema`` request offers, if it offers exactly that one."""
    tools = body.get("tools") if isinstance(body, dict) else None
    if isinstance(tools, list) and len(tools) == 1 and isinstance(tools[0], dict) and tools[0].get("name") == "StructuredOutput":
        tool: Mapping[str, Any] = tools[0]
        return tool if isinstance(tool.get("input_schema"), dict) else None
    return None
