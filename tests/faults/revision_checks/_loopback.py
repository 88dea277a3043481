"""What the revision checks share: a loopback HTTP server, each provider's wire shapes, bounded calls.

Stdlib and ``obra_llm``'s public API only (``create_llm``, the exception classes), so that a
check runs on an old revision's library as well as on this one. The server takes one request
per connection (every answer says ``Connection: close``), hands it to the case's handler, and
stops whatever happens; every socket has a timeout, and a handler that drips or stalls stops
when the server does.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import obra_llm

__all__ = [
    "FORMS",
    "KEY",
    "PROVIDERS",
    "Loopback",
    "Outcome",
    "Provider",
    "Seen",
    "bounded",
    "drip",
    "error_text",
    "fake_cli",
    "generate",
    "in_child",
    "main",
    "run_cases",
    "send",
    "send_stream",
    "serve",
]

#: The key every check configures; ``FORMS`` are the ways a hostile server echoes it.
KEY = "sk-dummy-revision-check-0123456789abcdef"
FORMS = {"bare": KEY, "base64": base64.b64encode(KEY.encode()).decode(), "url-encoded": urllib.parse.quote(KEY + "/+&", safe="")}
#: Every socket's timeout: a peer that goes quiet longer than this is dropped.
SOCKET_TIMEOUT = 15.0
#: The longest any handler drips or stalls: the server stops sending after it.
LONGEST_DRIP = 10.0


@dataclass
class Seen:
    """One request as the server read it; ``stopping`` is set when the server shuts down."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    stopping: threading.Event

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Handler = Callable[[Seen, socket.socket], None]


@dataclass
class Loopback:
    """A running server: its base URL and the requests it saw."""

    url: str
    port: int
    seen: list[Seen] = field(default_factory=list)


def _read_request(conn: socket.socket, stopping: threading.Event) -> Seen | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    first, *lines = head.decode("latin-1").split("\r\n")
    method, target, _version = first.split(" ", 2)
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Seen(method, target, headers, body, stopping)


@contextmanager
def serve(handler: Handler) -> Iterator[Loopback]:
    """Serve ``handler`` on 127.0.0.1 (port 0) until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    loopback = Loopback(f"http://127.0.0.1:{port}", port)
    stopping = threading.Event()
    workers: list[threading.Thread] = []

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(SOCKET_TIMEOUT)
            try:
                request = _read_request(conn, stopping)
                if request is not None:
                    loopback.seen.append(request)
                    handler(request, conn)
            except OSError:
                pass  # the client gave up: what the case is about, often

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=answer, args=(conn,), daemon=True)
            workers.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield loopback
    finally:
        stopping.set()
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept at once (Linux)
        except OSError:
            pass  # elsewhere the accept's own timeout ends it
        acceptor.join(5)
        listener.close()
        for worker in workers:
            worker.join(5)


def send(conn: socket.socket, status: int, body: bytes, *, content_type: str = "application/json", headers: Mapping[str, str] | None = None) -> None:
    """A whole answer with its length."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    conn.sendall(head.encode("latin-1") + body)


def send_stream(conn: socket.socket, frames: Iterable[bytes], *, content_type: str, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
    """A body without a length, ended by closing the connection; each frame sent on its own."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n{extra}Connection: close\r\n\r\n".encode("latin-1"))
    for frame in frames:
        conn.sendall(frame)


def drip(conn: socket.socket, request: Seen, pieces: Iterable[bytes], every: float, *, longest: float = LONGEST_DRIP) -> None:
    """Send ``pieces`` one per ``every`` seconds, for at most ``longest`` seconds or until the server stops."""
    until = time.monotonic() + longest
    for piece in pieces:
        if time.monotonic() > until or request.stopping.wait(every):
            return
        conn.sendall(piece)


def _sse(payload: Any, event: str | None = None) -> bytes:
    named = f"event: {event}\n" if event else ""
    return f"{named}data: {json.dumps(payload)}\n\n".encode()


@dataclass(frozen=True)
class Provider:
    """One HTTP provider as the checks drive it: its config for a server, and its answers in its wire format."""

    name: str
    url_key: str
    base_path: str
    model: str
    stream_type: str
    whole: Callable[[str, str], bytes]
    frames: Callable[[str, str], list[bytes]]
    #: A keep-alive the stream sends that is no progress.
    keep_alive: bytes
    keyed: bool = True

    def config(self, url: str, **extra: Any) -> dict[str, Any]:
        config: dict[str, Any] = {"type": self.name, "model": self.model, self.url_key: url + self.base_path}
        if self.keyed:
            config["api_key"] = KEY
        return config | extra

    def create(self, url: str, **extra: Any) -> obra_llm.LLMPlugin:
        return obra_llm.create_llm(self.config(url, **extra))

    def answer(self, conn: socket.socket, text: str, *, stream: bool, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        """``text`` as this provider's normal answer, whole or streamed."""
        if stream:
            send_stream(conn, self.frames(self.model, text), content_type=self.stream_type, status=status, headers=headers)
        else:
            send(conn, status, self.whole(self.model, text), headers=headers)


def _ollama_whole(model: str, text: str) -> bytes:
    return json.dumps(_ollama_line(model, text, done=True)).encode()


def _ollama_line(model: str, text: str, *, done: bool) -> dict[str, Any]:
    line: dict[str, Any] = {"model": model, "created_at": "2026-01-01T00:00:00Z", "message": {"role": "assistant", "content": text}, "done": done}
    if done:
        line |= {"done_reason": "stop", "prompt_eval_count": 3, "eval_count": 2}
    return line


def _ollama_frames(model: str, text: str) -> list[bytes]:
    return [json.dumps(_ollama_line(model, text, done=False)).encode() + b"\n", json.dumps(_ollama_line(model, "", done=True)).encode() + b"\n"]


def _anthropic_message(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }  # fmt: skip


def _anthropic_frames(model: str, text: str) -> list[bytes]:
    start = _anthropic_message(model, text) | {"content": [], "stop_reason": None}
    return [
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start"),
        _sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}, "content_block_delta"),
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 2}}, "message_delta"),
        _sse({"type": "message_stop"}, "message_stop"),
    ]


_OPENAI_USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def _openai_whole(model: str, text: str) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    return json.dumps({"id": "c1", "object": "chat.completion", "model": model, "choices": [choice], "usage": _OPENAI_USAGE}).encode()


def _openai_frames(model: str, text: str) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> bytes:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else []
        return _sse({"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": choices, **extra})

    return [chunk({"role": "assistant", "content": text}, None), chunk({}, "stop"), chunk({}, None, usage=_OPENAI_USAGE), b"data: [DONE]\n\n"]


def _gemini_value(text: str, *, finished: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finished:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}}


def _gemini_frames(_model: str, text: str) -> list[bytes]:
    return [_sse(_gemini_value(text, finished=False)), _sse(_gemini_value("", finished=True))]


PROVIDERS = {
    "ollama": Provider("ollama", "endpoint", "", "llama3.2", "application/x-ndjson", _ollama_whole, _ollama_frames, b"\n", keyed=False),
    "anthropic": Provider(
        "anthropic", "base_url", "", "claude-sonnet-4-5", "text/event-stream",
        lambda model, text: json.dumps(_anthropic_message(model, text)).encode(), _anthropic_frames, _sse({"type": "ping"}, "ping"),
    ),
    "openai": Provider("openai", "base_url", "/v1", "gpt-4o-mini", "text/event-stream", _openai_whole, _openai_frames, b": keep-alive\n\n"),
    "gemini": Provider(
        "gemini", "base_url", "/v1beta", "gemini-2.0-flash", "text/event-stream",
        lambda _model, text: json.dumps(_gemini_value(text, finished=True)).encode(), _gemini_frames, b": keep-alive\n\n",
    ),
    "cohere": Provider(
        "cohere", "base_url", "", "command-r-plus", "text/event-stream",
        lambda _model, text: json.dumps({"id": "1", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}, "usage": {"tokens": {"input_tokens": 3, "output_tokens": 2}}}).encode(),
        lambda _model, _text: [], b": keep-alive\n\n",
    ),
}  # fmt: skip


@dataclass
class Outcome:
    """How a bounded call ended: its value, or what it raised, or that it was still running; and when."""

    value: Any = None
    error: BaseException | None = None
    running: bool = False
    seconds: float = 0.0

    def describe(self) -> str:
        if self.running:
            return f"still running after {self.seconds:.1f} s"
        if self.error is not None:
            return f"{type(self.error).__name__} after {self.seconds:.1f} s: {_short(str(self.error))}"
        return f"answered {_short(repr(self.value))} after {self.seconds:.1f} s"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def bounded(call: Callable[[], Any], limit: float = 30.0) -> Outcome:
    """Run ``call`` in a daemon thread and wait at most ``limit`` seconds for it."""
    outcome = Outcome()
    started = time.monotonic()

    def run() -> None:
        try:
            outcome.value = call()
        except BaseException as error:  # what the call raised is the outcome
            outcome.error = error
        outcome.seconds = time.monotonic() - started

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        outcome.running, outcome.seconds = True, time.monotonic() - started
    return outcome


def error_text(error: BaseException) -> str:
    """Everything an error shows: ``str``, ``repr``, notes and traceback, through its causes."""
    shown = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        shown += [str(seen), repr(seen), *getattr(seen, "__notes__", [])]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(shown)


def generate(llm: obra_llm.LLMPlugin, *, stream: bool, **options: Any) -> str:
    return "".join(llm.generate_stream("hi", **options)) if stream else llm.generate("hi", **options)


#: A call in a child process: what it raised or answered, its time, and its memory (``ru_maxrss``).
_CHILD = """
import json, resource, sys, time
import obra_llm
config, stream, address_space = json.loads(sys.argv[1]), sys.argv[2] == "stream", int(sys.argv[3])
if address_space:
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
llm = obra_llm.create_llm(config)
report = {"library": obra_llm.__file__, "rss_before_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
started = time.monotonic()
try:
    answer = "".join(llm.generate_stream("hi")) if stream else llm.generate("hi")
    report |= {"answer_chars": len(answer), "answer_head": answer[:40]}
except BaseException as error:
    report |= {"error_type": type(error).__name__, "error": str(error)[:300], "retryable": getattr(error, "retryable", None),
               "llm_error": isinstance(error, obra_llm.LLMException)}
report |= {"seconds": time.monotonic() - started, "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
print(json.dumps(report))
"""


def in_child(config: Mapping[str, Any], *, stream: bool, limit: float, address_space: int = 0) -> dict[str, Any]:
    """Run one call of ``create_llm(config)`` in a fresh interpreter (killed after ``limit`` seconds).

    The child imports the same ``obra_llm`` as this process (same ``PYTHONPATH`` and working
    directory); a child that imported another one is refused. ``{"running": True}`` when killed.
    """
    command = [sys.executable, "-c", _CHILD, json.dumps(dict(config)), "stream" if stream else "whole", str(address_space)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"running": True, "seconds": limit}
    if run.returncode != 0 or not run.stdout.strip():
        return {"child_failed": f"exit {run.returncode}: {_short(run.stderr.strip()[-300:])}"}
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    if report["library"] != obra_llm.__file__:
        return {"child_failed": f"the child imported {report['library']}, not {obra_llm.__file__}"}
    return report


def fake_cli(folder: str, source: str) -> Path:
    """An executable Python script ``fake-codex`` in ``folder``: ``source`` after a shebang of this interpreter."""
    fake = Path(folder) / "fake-codex"
    fake.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
    os.chmod(fake, fake.stat().st_mode | stat.S_IXUSR)
    return fake


def run_cases(cases: Mapping[str, Callable[[], str | None]], *, parallel: int = 8) -> dict[str, str | None]:
    """Each case's failure (``None``: ok), the cases run ``parallel`` at a time; a case that raises fails.

    With ``parallel`` 1 the cases run one after the other in the calling thread (a case that
    needs the main thread's signals).
    """

    def run(case: Callable[[], str | None]) -> str | None:
        try:
            return case()
        except Exception as error:  # a check's own error is that case's failure
            return f"the check raised {type(error).__name__}: {_short(str(error))}"

    if parallel <= 1:
        return {name: run(case) for name, case in cases.items()}
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {name: pool.submit(run, case) for name, case in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def main(results: Mapping[str, str | None]) -> int:
    """Print ``ok  <case>`` or ``FAIL  <case>: <why>`` per case; 1 when any failed."""
    for name, failure in results.items():
        print(f"{'FAIL' if failure else 'ok'}  {name}{': ' + failure if failure else ''}", flush=True)
    sys.stdout.flush()
    return 1 if any(results.values()) else 0
