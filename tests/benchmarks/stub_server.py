"""A fast local stub of the LLM HTTP APIs, for benchmarks: constant tiny per-request cost.

Speaks just enough HTTP/1.1 (keep-alive, ``Content-Length`` request bodies, chunked
responses) on a raw ``asyncio.Protocol``, and answers every route with bytes rendered
once at start-up, so the server's share of a measured call is small and does not vary
with the client under test. It runs in its own process (``StubServer`` starts it) so it
never competes with the measured client for the GIL.

Routes (the answer is always the same 20 pieces, then usage):

* Ollama native: ``POST /api/chat`` (NDJSON stream unless ``"stream": false``, as real
  Ollama), ``GET /api/tags``, ``POST /api/show``, ``GET /api/version``;
* OpenAI chat: ``POST /v1/chat/completions`` (JSON, or SSE with ``"stream": true``);
* Anthropic messages: ``POST /v1/messages`` (JSON, or SSE with ``"stream": true``);
* Mistral chat, under a ``/mistral`` prefix (its path is OpenAI's): ``POST /mistral/v1/chat/completions``
  (usage on the ``finish_reason`` chunk, then ``[DONE]``);
* Gemini: ``POST /v1beta/models/bench-model:generateContent`` and ``...:streamGenerateContent?alt=sse``
  (data-only SSE, usage on every chunk, ``finishReason`` on the last, no ``[DONE]``);
* Cohere v2 chat: ``POST /v2/chat`` (JSON, or named SSE events ending ``message-end``, ``[DONE]``);
* ``GET /_stats``: how many connections were opened and how many requests each route
  received (to spot clients that send extra requests, or do not reuse connections).

Only the standard library is imported, so the server process starts fast and stays lean.
Run it by hand with ``python tests/benchmarks/stub_server.py [--port N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["MODEL", "PIECES", "PROMPT_TOKENS", "StubServer", "TEXT", "serve"]

MODEL = "bench-model"
#: The streamed answer: 20 small pieces (one non-ASCII, so UTF-8 decoding is exercised).
PIECES: tuple[str, ...] = tuple(f"tok{index:02d}{'é' if index == 7 else ''} " for index in range(20))
TEXT = "".join(PIECES)
PROMPT_TOKENS = 26
_CREATED_AT = "2026-11-26T03:00:00.000000Z"
_MAX_HEAD = 64 * 1024

Reply = Callable[[dict[str, Any]], Sequence[bytes]]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _head(status: str, content_type: str, *, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n".encode()


def _whole(body: bytes, *, status: str = "200 OK", content_type: str = "application/json") -> tuple[bytes]:
    return (_head(status, content_type, length=len(body)) + body,)


def _chunked(parts: Sequence[bytes], content_type: str) -> tuple[bytes, ...]:
    """One write per part (each a chunk of its own), as a server producing tokens would send them."""
    chunks = [b"%x\r\n%s\r\n" % (len(part), part) for part in parts]
    chunks[0] = _head("200 OK", content_type, length=None) + chunks[0]
    chunks[-1] += b"0\r\n\r\n"
    return tuple(chunks)


# -- Ollama native -------------------------------------------------------------------------


def _ollama_chat() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    usage = {
        "prompt_eval_count": PROMPT_TOKENS,
        "eval_count": len(PIECES),
        "total_duration": 1000,
        "load_duration": 10,
        "prompt_eval_duration": 100,
        "eval_duration": 800,
    }
    whole = {
        "model": MODEL,
        "created_at": _CREATED_AT,
        "message": {"role": "assistant", "content": TEXT},
        "done_reason": "stop",
        "done": True,
        **usage,
    }
    lines = [
        _dumps({"model": MODEL, "created_at": _CREATED_AT, "message": {"role": "assistant", "content": piece}, "done": False})
        + b"\n"
        for piece in PIECES
    ]
    final = {"model": MODEL, "created_at": _CREATED_AT, "message": {"role": "assistant", "content": ""}}
    lines.append(_dumps({**final, "done_reason": "stop", "done": True, **usage}) + b"\n")
    return _whole(_dumps(whole)), _chunked(lines, "application/x-ndjson")


def _ollama_tags() -> tuple[bytes]:
    model = {
        "name": f"{MODEL}:latest",
        "model": f"{MODEL}:latest",
        "modified_at": _CREATED_AT,
        "size": 1,
        "digest": "0" * 64,
        "details": {"format": "gguf", "family": "qwen2", "parameter_size": "32.8B", "quantization_level": "Q4_K_M"},
    }
    return _whole(_dumps({"models": [model]}))


def _ollama_show() -> tuple[bytes]:
    return _whole(
        _dumps(
            {
                "details": {"format": "gguf", "family": "qwen2", "parameter_size": "32.8B", "quantization_level": "Q4_K_M"},
                "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
                "capabilities": ["completion", "tools"],
            }
        )
    )


# -- OpenAI chat completions -----------------------------------------------------------------


def _openai_chat() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(PIECES), "total_tokens": PROMPT_TOKENS + len(PIECES)}
    base = {"id": "chatcmpl-bench", "created": 1764126000, "model": MODEL, "system_fingerprint": "fp_bench"}
    whole = {
        **base,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop", "logprobs": None}],
        "usage": usage,
    }

    def event(delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return b"data: " + _dumps({**base, "object": "chat.completion.chunk", "choices": [choice]}) + b"\n\n"

    events = [event({"role": "assistant", "content": ""}, None)]
    events += [event({"content": piece}, None) for piece in PIECES]
    events.append(event({}, "stop"))
    events.append(b"data: " + _dumps({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return _whole(_dumps(whole)), _chunked(events, "text/event-stream")


# -- Anthropic messages -----------------------------------------------------------------------


def _anthropic_messages() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "stop_sequence": None,
    }
    whole = {
        **message,
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": len(PIECES)},
    }

    def event(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + _dumps({"type": name, **data}) + b"\n\n"

    events = [
        event(
            "message_start",
            {"message": {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}}},
        ),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    events += [event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}) for piece in PIECES]
    events.append(event("content_block_stop", {"index": 0}))
    events.append(
        event(
            "message_delta",
            {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": len(PIECES)}},
        )
    )
    events.append(event("message_stop", {}))
    return _whole(_dumps(whole)), _chunked(events, "text/event-stream")


# -- Mistral chat completions (OpenAI-like; usage on the finish chunk, no stream_options) ------------


def _mistral_chat() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(PIECES), "total_tokens": PROMPT_TOKENS + len(PIECES)}
    base = {"id": "cmpl-bench", "created": 1764126000, "model": MODEL}
    whole = {
        **base,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT, "tool_calls": None}, "finish_reason": "stop"}],
        "usage": usage,
    }

    def event(delta: dict[str, Any], finish: str | None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return b"data: " + _dumps({**base, "object": "chat.completion.chunk", "choices": [choice], **extra}) + b"\n\n"

    events = [event({"role": "assistant", "content": ""}, None)]
    events += [event({"content": piece}, None) for piece in PIECES]
    events.append(event({"content": ""}, "stop", usage=usage))
    events.append(b"data: [DONE]\n\n")
    return _whole(_dumps(whole)), _chunked(events, "text/event-stream")


# -- Gemini generateContent / streamGenerateContent?alt=sse ---------------------------------------


def _gemini_generate() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    def usage(written: int) -> dict[str, int]:
        return {"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": written, "totalTokenCount": PROMPT_TOKENS + written}

    def response(text: str, written: int, finish: str | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "usageMetadata": usage(written), "modelVersion": MODEL, "responseId": "bench"}

    whole = response(TEXT, len(PIECES), "STOP")
    last = len(PIECES) - 1
    events = [
        b"data: " + _dumps(response(piece, index + 1, "STOP" if index == last else None)) + b"\r\n\r\n"
        for index, piece in enumerate(PIECES)
    ]
    return _whole(_dumps(whole)), _chunked(events, "text/event-stream")


# -- Cohere v2 chat ------------------------------------------------------------------------------------


def _cohere_chat() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    usage = {
        "billed_units": {"input_tokens": PROMPT_TOKENS, "output_tokens": len(PIECES)},
        "tokens": {"input_tokens": PROMPT_TOKENS + 200, "output_tokens": len(PIECES) + 2},
    }
    whole = {
        "id": "bench",
        "message": {"role": "assistant", "content": [{"type": "text", "text": TEXT}]},
        "finish_reason": "COMPLETE",
        "usage": usage,
    }

    def event(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + _dumps({"type": name, **data}) + b"\n\n"

    events = [
        event("message-start", {"id": "bench", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": ""}}}),
        event("content-start", {"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
    ]
    events += [event("content-delta", {"index": 0, "delta": {"message": {"content": {"text": piece}}}}) for piece in PIECES]
    events.append(event("content-end", {"index": 0}))
    events.append(event("message-end", {"delta": {"finish_reason": "COMPLETE", "usage": usage}}))
    events.append(b"data: [DONE]\n\n")
    return _whole(_dumps(whole)), _chunked(events, "text/event-stream")


# -- the server --------------------------------------------------------------------------------


def _routes() -> dict[tuple[bytes, bytes], Reply]:
    ollama_whole, ollama_stream = _ollama_chat()
    openai_whole, openai_stream = _openai_chat()
    anthropic_whole, anthropic_stream = _anthropic_messages()
    mistral_whole, mistral_stream = _mistral_chat()
    gemini_whole, gemini_stream = _gemini_generate()
    cohere_whole, cohere_stream = _cohere_chat()
    gemini = f"/v1beta/models/{MODEL}".encode()
    tags = _ollama_tags()
    show = _ollama_show()
    version = _whole(_dumps({"version": "0.12.3"}))
    return {
        # Ollama streams unless told not to; the OpenAI and Anthropic APIs only when told to.
        (b"POST", b"/api/chat"): lambda body: ollama_stream if body.get("stream", True) is not False else ollama_whole,
        (b"GET", b"/api/tags"): lambda _: tags,
        (b"POST", b"/api/show"): lambda _: show,
        (b"GET", b"/api/version"): lambda _: version,
        (b"POST", b"/v1/chat/completions"): lambda body: openai_stream if body.get("stream") is True else openai_whole,
        (b"POST", b"/v1/messages"): lambda body: anthropic_stream if body.get("stream") is True else anthropic_whole,
        (b"POST", b"/mistral/v1/chat/completions"): lambda body: mistral_stream if body.get("stream") is True else mistral_whole,
        # Gemini says streamed or not in the path, not the body.
        (b"POST", gemini + b":generateContent"): lambda _: gemini_whole,
        (b"POST", gemini + b":streamGenerateContent"): lambda _: gemini_stream,
        (b"POST", b"/v2/chat"): lambda body: cohere_stream if body.get("stream") is True else cohere_whole,
    }


class _Connection(asyncio.Protocol):
    """One keep-alive connection: parse pipelined requests from a buffer, answer each at once."""

    def __init__(self, routes: dict[tuple[bytes, bytes], Reply], stats: Counter[str]) -> None:
        self._routes = routes
        self._stats = stats
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._stats["connections"] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and not self._transport.is_closing():
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    self._fail(b"431 Request Header Fields Too Large")
                return
            lines = self._buffer[:end].split(b"\r\n")
            try:
                method, target, _ = lines[0].split(b" ", 2)
            except ValueError:
                self._fail(b"400 Bad Request")
                return
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    self._fail(b"411 Length Required")
                    return
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if len(self._buffer) < end + 4 + length:
                return
            body = self._buffer[end + 4 : end + 4 + length]
            self._buffer = self._buffer[end + 4 + length :]
            self._answer(method, target.partition(b"?")[0], body)
            if close and self._transport is not None:
                self._transport.close()

    def _answer(self, method: bytes, path: bytes, body: bytes) -> None:
        transport = self._transport
        assert transport is not None
        self._stats[f"{method.decode()} {path.decode(errors='replace')}"] += 1
        if path == b"/_stats":
            transport.write(_whole(_dumps(dict(self._stats)))[0])
            return
        reply = self._routes.get((method, path))
        if reply is None:
            error = _dumps({"error": f"no route {method.decode()} {path.decode(errors='replace')}"})
            transport.write(_whole(error, status="404 Not Found")[0])
            return
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            transport.write(_whole(_dumps({"error": "body is not JSON"}), status="400 Bad Request")[0])
            return
        for chunk in reply(request if isinstance(request, dict) else {}):
            if transport.is_closing():  # the client hung up mid-stream
                break
            transport.write(chunk)

    def _fail(self, status: bytes) -> None:
        if self._transport is not None:
            self._transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self._transport.close()


async def serve(host: str = "127.0.0.1", port: int = 0, *, announce: Callable[[str], None] = print) -> None:
    """Serve until cancelled (or SIGTERM/SIGINT); ``announce`` gets the base URL once listening."""
    loop = asyncio.get_running_loop()
    routes = _routes()
    stats: Counter[str] = Counter()
    server = await loop.create_server(lambda: _Connection(routes, stats), host, port, backlog=256)
    stopped: asyncio.Future[None] = loop.create_future()

    def stop() -> None:
        if not stopped.done():
            stopped.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    bound = server.sockets[0].getsockname()
    announce(f"http://{bound[0]}:{bound[1]}")
    async with server:
        await stopped


class StubServer:
    """The stub in a child process: ``with StubServer() as stub: ... stub.base_url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._argv = [sys.executable, "-u", str(Path(__file__).resolve()), "--host", host, "--port", str(port)]
        self._process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> StubServer:
        self._process = subprocess.Popen(self._argv, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.__exit__(None, None, None)
            msg = f"the stub server did not start (said {line!r})"
            raise RuntimeError(msg)
        self.base_url = line
        return self

    def stats(self) -> dict[str, int]:
        """The server's counters (``connections`` and ``"METHOD /path"`` request counts), this request included."""
        with urllib.request.urlopen(f"{self.base_url}/_stats", timeout=5) as response:
            counters: dict[str, int] = json.load(response)
        return counters

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, announce=lambda url: print(url, flush=True)))


if __name__ == "__main__":
    main()
