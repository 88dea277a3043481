"""A local server that speaks Ollama's native API exactly as ``wire.md`` section 1 documents it.

No Ollama server can run on these machines, so this is what the Ollama cassettes are
recorded from (their provenance says so) and what fault tests run against. Each
``/api/chat`` request takes the next scripted ``Reply``; with none left it answers
``default_answer``. Streaming follows the request's ``stream`` flag, which defaults to
true as in real Ollama.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

__all__ = [
    "Answer",
    "Cut",
    "Hang",
    "MidStreamError",
    "OllamaWireServer",
    "Reply",
    "Status",
    "VERSION",
]

#: The Ollama version this server imitates (reported by ``/api/version``).
VERSION = "0.12.3"
_CREATED_AT = "2026-11-26T03:00:00.000000Z"
#: The ``details`` block that ``/api/tags`` and ``/api/show`` both report for a model.
_DETAILS = {
    "parent_model": "",
    "format": "gguf",
    "family": "qwen2",
    "families": ["qwen2"],
    "parameter_size": "32.8B",
    "quantization_level": "Q4_K_M",
}


@attrs.frozen
class Answer:
    """A normal answer, streamed as ``pieces`` (or given whole when not streaming)."""

    pieces: Sequence[str]
    prompt_tokens: int = 26
    completion_tokens: int | None = None
    done_reason: str = "stop"
    #: Deliver the NDJSON bytes in chunks of this size (splits lines and UTF-8 characters).
    chunk_size: int | None = None


@attrs.frozen
class Status:
    """An error status with Ollama's ``{"error": ...}`` body and optional headers."""

    code: int
    error: str
    headers: dict[str, str] = attrs.Factory(dict)


@attrs.frozen
class MidStreamError:
    """Status 200, some pieces, then a last ``{"error": ...}`` line and no ``done: true``."""

    pieces: Sequence[str]
    error: str


@attrs.frozen
class Cut:
    """Status 200, some pieces, then the body ends without ``done: true``.

    ``drop_connection`` closes the socket mid-body instead of ending the chunked body.
    """

    pieces: Sequence[str]
    drop_connection: bool = False


@attrs.frozen
class Hang:
    """Accept the request and answer nothing for ``seconds`` (then close)."""

    seconds: float


Reply = Answer | Status | MidStreamError | Cut | Hang


class OllamaWireServer:
    """A threaded server on 127.0.0.1 with a reply script; use as a context manager."""

    def __init__(
        self,
        *,
        models: Sequence[str] = ("qwen2.5-coder:32b",),
        prefix: str = "",
        context_length: int = 32768,
        default_answer: Callable[[dict[str, Any]], Answer] | None = None,
    ) -> None:
        self.models = tuple(models)
        self.prefix = prefix.rstrip("/")
        self.context_length = context_length
        self.default_answer = default_answer or (lambda _request: Answer(pieces=["Hello", " from", " Ollama."]))
        self.script: list[Reply] = []
        self.requests: list[tuple[str, str, Any]] = []
        self._lock = threading.Lock()
        self.connections = 0
        self._server = _CountingServer(("127.0.0.1", 0), self._handler_class(), self)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="ollama-wire", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.prefix}"

    def __enter__(self) -> OllamaWireServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def queue(self, *replies: Reply) -> None:
        """Script the next ``/api/chat`` replies, in order."""
        with self._lock:
            self.script.extend(replies)

    def chat_requests(self) -> list[Any]:
        """The JSON bodies of every ``/api/chat`` request received so far."""
        with self._lock:
            return [body for method, path, body in self.requests if path.endswith("/api/chat")]

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.script:
                return self.script.pop(0)
        return self.default_answer(body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(_Handler):
            wire = server

        return Handler


class _CountingServer(ThreadingHTTPServer):
    """Counts accepted connections, so tests can prove that clients reuse them."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], wire: OllamaWireServer) -> None:
        super().__init__(address, handler)
        self._wire = wire

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._wire._lock:
            self._wire.connections += 1
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    wire: OllamaWireServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read the recorded requests, not a log."""

    def do_HEAD(self) -> None:
        self._plain(200, "")

    def do_GET(self) -> None:
        path = self._route()
        self._remember("GET", None)
        if path == "/":
            self._plain(200, "Ollama is running")
        elif path == "/api/version":
            self._json(200, {"version": VERSION})
        elif path == "/api/tags":
            self._json(200, {"models": [_tag(name) for name in self.wire.models]})
        else:
            self._plain(404, "404 page not found")

    def do_POST(self) -> None:
        path = self._route()
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._remember("POST", raw.decode("utf-8", errors="replace"))
            self._json(400, {"error": "invalid character 'x' looking for beginning of value"})
            return
        self._remember("POST", body)
        if body is None:
            self._json(400, {"error": "missing request body"})
        elif path == "/api/show":
            self._show(body)
        elif path == "/api/chat":
            self._chat(body)
        else:
            self._plain(404, "404 page not found")

    def _route(self) -> str | None:
        path = self.path.split("?", 1)[0]
        prefix = self.wire.prefix
        if prefix and not path.startswith(prefix + "/") and path != prefix:
            return None
        return path[len(prefix) :] or "/"

    def _remember(self, method: str, body: Any) -> None:
        with self.wire._lock:
            self.wire.requests.append((method, self.path, body))

    def _show(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model not in self.wire.models and f"{model}:latest" not in self.wire.models:
            self._json(404, {"error": f"model '{model}' not found"})
            return
        self._json(
            200,
            {
                "license": "Apache License 2.0",
                "modelfile": "# Modelfile generated by \"ollama show\"\nFROM /Users/someone/.ollama/models/blobs/sha256-0000\n",
                "parameters": "stop \"<|im_end|>\"",
                "template": "{{ .Prompt }}",
                "details": _DETAILS,
                "model_info": {
                    "general.architecture": "qwen2",
                    "general.parameter_count": 32763876352,
                    "qwen2.context_length": self.wire.context_length,
                    "qwen2.embedding_length": 5120,
                },
                "capabilities": ["completion", "tools", "insert"],
                "modified_at": "2026-11-20T10:00:00.000000Z",
            },
        )

    def _chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model"))
        if model not in self.wire.models and f"{model}:latest" not in self.wire.models:
            self._json(404, {"error": f"model '{model}' not found"})
            return
        reply = self.wire._next_reply(body)
        stream = body.get("stream", True) is not False
        if isinstance(reply, Status):
            self._json(reply.code, {"error": reply.error}, reply.headers)
        elif isinstance(reply, Hang):
            time.sleep(reply.seconds)
            self.close_connection = True
        elif not stream and isinstance(reply, Answer):
            self._json(200, _final(model, reply, whole=True))
        elif not stream:
            self._json(500, {"error": "the model failed to generate a response"})
        else:
            self._stream(model, reply)

    def _stream(self, model: str, reply: Answer | MidStreamError | Cut) -> None:
        lines = [_piece(model, piece) for piece in reply.pieces]
        if isinstance(reply, Answer):
            lines.append(_final(model, reply, whole=False))
        elif isinstance(reply, MidStreamError):
            lines.append({"error": reply.error})
        payload = b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)
        chunk_size = reply.chunk_size if isinstance(reply, Answer) and reply.chunk_size else None
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in _chunks(payload, lines, chunk_size):
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
        if isinstance(reply, Cut) and reply.drop_connection:
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _plain(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _chunks(payload: bytes, lines: Sequence[Any], chunk_size: int | None) -> Iterator[bytes]:
    if chunk_size:
        for start in range(0, len(payload), chunk_size):
            yield payload[start : start + chunk_size]
        return
    for line in lines:
        yield json.dumps(line, separators=(",", ":")).encode() + b"\n"


def _tag(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-11-20T10:00:00.000000Z",
        "size": 19851349856,
        "digest": "a" * 64,
        "details": _DETAILS,
    }


def _piece(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "created_at": _CREATED_AT, "message": {"role": "assistant", "content": text}, "done": False}


def _final(model: str, answer: Answer, *, whole: bool) -> dict[str, Any]:
    text = "".join(answer.pieces)
    completion = answer.completion_tokens if answer.completion_tokens is not None else len(answer.pieces)
    final: dict[str, Any] = {
        "model": model,
        "created_at": _CREATED_AT,
        "message": {"role": "assistant", "content": text if whole else ""},
        "done": True,
        "done_reason": answer.done_reason,
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_duration": 342546000,
        "eval_duration": 4535599000,
    }
    # Ollama omits zero counts (omitempty), so a zero is absent, not 0.
    if answer.prompt_tokens:
        final["prompt_eval_count"] = answer.prompt_tokens
    if completion:
        final["eval_count"] = completion
    return final
