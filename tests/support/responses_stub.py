"""A local stub of the OpenAI Responses API, enough for the real Codex CLI to run end to end.

It listens on ``127.0.0.1`` (an ephemeral port) and answers ``POST /v1/responses`` with the
server-sent events of ``docs/codex-cli.md``, or with the failure a scenario names. The
scenario can be changed between runs; every request body is kept for assertions.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from tests.support.structured_answers import conforming_text

__all__ = ["SCENARIOS", "ResponsesStub", "Scenario"]

Scenario = Literal["success", "server_error", "rate_limited", "unauthorized", "model_not_found", "stream_cut", "hang"]
SCENARIOS: tuple[Scenario, ...] = (
    "success",
    "server_error",
    "rate_limited",
    "unauthorized",
    "model_not_found",
    "stream_cut",
    "hang",
)

_ERRORS: dict[str, tuple[int, str, str]] = {
    "server_error": (500, "server_error", "The stub failed on purpose."),
    "rate_limited": (429, "rate_limit_exceeded", "Rate limit reached for the stub."),
    "unauthorized": (401, "invalid_api_key", "Incorrect API key provided."),
    "model_not_found": (400, "model_not_found", "The model `nope` does not exist or you do not have access to it."),
}


class ResponsesStub:
    """A threaded HTTP server; use as a context manager. ``base_url`` ends in ``/v1``."""

    def __init__(self, *, scenario: Scenario = "success", answer: str = "Hello", input_tokens: int = 42, output_tokens: int = 7) -> None:
        self.scenario: Scenario = scenario
        self.answer = answer
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.requests: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="responses-stub", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> ResponsesStub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def events(self, schema: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """The SSE events of a successful answer, in order; JSON honouring ``schema`` when the request had one."""
        text = self.answer if schema is None else conforming_text(schema)
        message = {
            "type": "message",
            "role": "assistant",
            "id": "msg_1",
            "content": [{"type": "output_text", "text": text}],
        }
        usage = {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.input_tokens + self.output_tokens,
        }
        return [
            ("response.created", {"type": "response.created", "response": {"id": "resp_1"}}),
            ("response.output_item.done", {"type": "response.output_item.done", "item": message}),
            ("response.completed", {"type": "response.completed", "response": {"id": "resp_1", "usage": usage}}),
        ]

    def wait_stopping(self, seconds: float) -> None:
        """Block a handler until the stub stops or ``seconds`` pass (the "never answers" case)."""
        self._stopping.wait(seconds)


def _output_schema(request: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of a Responses request's ``text.format`` (``json_schema``), which ``codex --output-schema`` sends."""
    text = request.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
    return schema if isinstance(schema, dict) else None


def _handler_for(stub: ResponsesStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path.rstrip("/") != "/v1/responses":
                self._reply(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                parsed = json.loads(body or b"{}")
            except ValueError:
                parsed = {"unparsed": body.decode(errors="replace")}
            stub.requests.append(parsed)
            scenario = stub.scenario
            if scenario == "hang":
                stub.wait_stopping(60)
                return
            if scenario in _ERRORS:
                status, code, message = _ERRORS[scenario]
                self._reply(status, {"error": {"message": message, "type": code, "code": code}})
                return
            events = stub.events(_output_schema(parsed))
            if scenario == "stream_cut":
                events = events[:-1]
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            for name, data in events:
                self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
            self.close_connection = True

        def do_GET(self) -> None:
            self._reply(404, {"error": {"message": f"no route {self.path}"}})

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
