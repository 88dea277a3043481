"""A scriptable local HTTP server that provider wire servers build on.

A provider's server (``tests/support/<provider>_wire.py``) subclasses ``WireServer`` and
implements ``route``: given a request, return a ``Reply``. Tests queue replies for the
generation endpoint with ``queue``; requests, their headers and the number of accepted
connections are kept for assertions. Replies cover what fault tests need: JSON with any
status and headers, server-sent events (optionally split into tiny chunks, optionally
cut), raw bytes, and hangs.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import attrs

__all__ = ["Chunked", "Hang", "Json", "Raw", "Reply", "Request", "Sse", "TrickledHead", "WireServer", "sse_event"]


@attrs.frozen
class Json:
    """A JSON body with a status and extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = attrs.Factory(dict)
    content_type: str = "application/json"


@attrs.frozen
class Sse:
    """A ``text/event-stream`` body of ready-made frames (see ``sse_event``).

    ``chunk_size`` splits the bytes anywhere (inside lines and UTF-8 characters);
    ``drop_connection`` closes the socket before the chunked body is terminated;
    ``stall`` waits that many seconds after the frames before ending the body (a slow body).
    """

    frames: Sequence[str]
    status: int = 200
    chunk_size: int | None = None
    drop_connection: bool = False
    headers: Mapping[str, str] = attrs.Factory(dict)
    stall: float = 0.0


@attrs.frozen
class Chunked:
    """A chunked body of ready-made pieces (NDJSON lines, say), with a content type.

    ``chunk_size`` re-splits the bytes anywhere; ``drop_connection`` closes the socket
    before the chunked body is terminated; ``stall`` waits that many seconds after the
    pieces before ending the body (a slow body).
    """

    pieces: Sequence[str]
    content_type: str = "application/x-ndjson"
    status: int = 200
    chunk_size: int | None = None
    drop_connection: bool = False
    stall: float = 0.0
    #: Seconds between two pieces: a body that trickles in.
    gap: float = 0.0


@attrs.frozen
class Raw:
    """Any bytes with any content type (a body that is not what the API promises)."""

    status: int
    body: bytes
    content_type: str = "text/plain"
    headers: Mapping[str, str] = attrs.Factory(dict)


@attrs.frozen
class Hang:
    """Answer nothing for ``seconds``, then close."""

    seconds: float


@attrs.frozen
class TrickledHead:
    """A status line, then one more header line every ``gap`` seconds, never ending the headers."""

    gap: float
    seconds: float


Reply = Json | Sse | Chunked | Raw | Hang | TrickledHead


@attrs.frozen
class Request:
    """A request the server received."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: Any


def sse_event(data: Any, event: str | None = None) -> str:
    """One SSE frame: ``event: ...`` (when named) and ``data: <json>``, then a blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


class WireServer:
    """A threaded server on 127.0.0.1; use as a context manager. Subclasses implement ``route``."""

    def __init__(self, *, prefix: str = "") -> None:
        self.prefix = prefix.rstrip("/")
        self.script: list[Any] = []
        self.requests: list[Request] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.prefix}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def queue(self, *replies: Any) -> None:
        """Script the next generation replies, in order (``next_scripted`` hands them out).

        A subclass may script its own reply types and translate them in ``route``.
        """
        with self._lock:
            self.script.extend(replies)

    def next_scripted(self) -> Reply | None:
        """The next queued reply, or ``None`` when the script is empty."""
        scripted = self._pop_script()
        if scripted is not None and not isinstance(scripted, Json | Sse | Chunked | Raw | Hang | TrickledHead):
            msg = f"{type(self).__name__} scripts its own reply types; it must not call next_scripted"
            raise TypeError(msg)
        return scripted

    def _pop_script(self) -> Any | None:
        """The next queued item, whatever its type (for subclasses with their own reply types)."""
        with self._lock:
            return self.script.pop(0) if self.script else None

    def requests_to(self, suffix: str) -> list[Request]:
        """The requests whose path ends with ``suffix``."""
        with self._lock:
            return [request for request in self.requests if request.path.endswith(suffix)]

    def route(self, request: Request) -> Reply:
        """The reply to ``request``; subclasses dispatch on method and path (prefix removed)."""
        return Json(404, {"error": f"no route for {request.method} {request.path}"})

    def _received(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _accepted(self) -> None:
        with self._lock:
            self.connections += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: socketserver's default backlog of 5 resets connections when 32 clients arrive at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], wire: WireServer) -> None:
        super().__init__(address, handler)
        self.wire = wire

    def process_request(self, request: Any, client_address: Any) -> None:
        self.wire._accepted()
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read the recorded requests, not a log."""

    def do_GET(self) -> None:
        self._serve(None)

    def do_HEAD(self) -> None:
        self._serve(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        self._serve(body)

    def _serve(self, body: Any) -> None:
        path, _, query = self.path.partition("?")
        wire = self.server.wire
        if wire.prefix:
            path = path[len(wire.prefix) :] if path.startswith(wire.prefix + "/") else "/__outside_prefix__" + path
        request = Request(self.command, path, query, {k.lower(): v for k, v in self.headers.items()}, body)
        wire._received(request)
        reply = wire.route(request)
        if isinstance(reply, Hang):
            time.sleep(reply.seconds)
            self.close_connection = True
        elif isinstance(reply, TrickledHead):
            self._trickle_head(reply)
        elif isinstance(reply, Json):
            data = json.dumps(reply.body, separators=(",", ":")).encode()
            self._send(reply.status, data, reply.content_type, reply.headers)
        elif isinstance(reply, Raw):
            self._send(reply.status, reply.body, reply.content_type, reply.headers)
        elif isinstance(reply, Chunked):
            self._chunked(
                reply.status, reply.content_type, reply.pieces, reply.chunk_size, reply.drop_connection, {}, reply.stall,
                reply.gap,
            )
        else:
            self._chunked(
                reply.status, "text/event-stream", reply.frames, reply.chunk_size, reply.drop_connection, reply.headers,
                reply.stall,
            )

    def _trickle_head(self, reply: TrickledHead) -> None:
        """Header lines, one per ``gap``, until ``seconds`` pass or the client hangs up."""
        self.close_connection = True
        ends = time.monotonic() + reply.seconds
        with contextlib.suppress(OSError):
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            while time.monotonic() < ends:
                self.wfile.write(b"X-Filler: .\r\n")
                self.wfile.flush()
                time.sleep(reply.gap)

    def _send(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _chunked(
        self,
        status: int,
        content_type: str,
        texts: Sequence[str],
        chunk_size: int | None,
        drop_connection: bool,
        headers: Mapping[str, str],
        stall: float = 0.0,
        gap: float = 0.0,
    ) -> None:
        payload = "".join(texts).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        pieces = (
            [payload[start : start + chunk_size] for start in range(0, len(payload), chunk_size)]
            if chunk_size
            else [text.encode() for text in texts]
        )
        for index, piece in enumerate(pieces):
            if gap and index:
                time.sleep(gap)
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()
        if stall:
            # A slow body: the client has likely given up meanwhile, so the connection is
            # not reused and writing its end may find the socket gone.
            time.sleep(stall)
            self.close_connection = True
            with contextlib.suppress(OSError):
                if not drop_connection:
                    self.wfile.write(b"0\r\n\r\n")
            return
        if drop_connection:
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")
