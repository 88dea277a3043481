"""Issue 17 item 3 (framing readers stay linear), through ``create_llm`` and a loopback server only.

Each stream is read by a call in a child process (killed at ``CAP`` seconds, so a quadratic
reader cannot hold the script): one 15 MB SSE event (OpenAI, Anthropic, Gemini) must be read
within ``LIMIT`` (19bf5c7: 8-10 s for 16 MB in the issue, 19 s to over 20 s here: each chunk
re-split the whole pending line; Gemini's line reader was already linear); Gemini's stream holding a 256 KB
pretty-printed error body also within ``LIMIT`` (19bf5c7 re-parsed the buffer once per line:
0.4 s for 48 KB, ~2 s for 96 KB, ~8.5 s for 192 KB, 15-20 s for 256 KB on this machine; ~28 s
for 96 KB in the issue), and one answering as a pretty-printed JSON array gives its answer (19bf5c7 read no value
of it: "ended before any chunk carried a finishReason").

Run as the package docstring says; exits 1 when any case fails.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

if not __package__:  # run as a file: this repository's tests come after the library on sys.path
    sys.path.append(str(Path(__file__).resolve().parents[3]))

from tests.faults.revision_checks._loopback import PROVIDERS, Seen, in_child, main, run_cases, send_stream, serve

#: Each read must take at most this (a linear reader takes well under a second).
LIMIT = 3.0
#: The child is killed after this.
CAP = 20.0
BIG = 15 * 1000 * 1000


def _one_big_event(name: str) -> bytes:
    provider = PROVIDERS[name]
    frames = provider.frames(provider.model, "x" * BIG)
    return b"".join(frames)


def _pretty_error(size: int) -> bytes:
    details = [{"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": f"line {n}"} for n in range(size // 80)]
    error = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": details}}
    return json.dumps(error, indent=2).replace("\n", "\r\n").encode() + b"\r\n"


_PIECE = {"candidates": [{"content": {"role": "model", "parts": [{"text": "token "}]}}]}
_LAST = {"candidates": [{"content": {"role": "model", "parts": [{"text": "end"}]}, "finishReason": "STOP"}]}
PRETTY_ERROR = b'data: {"candidates": [{"content": {"parts": [{"text": "SCORE"}]}}]}\r\n\r\n' + _pretty_error(256 * 1024)
PRETTY_ARRAY = json.dumps([_PIECE] * 1000 + [_LAST], indent=2).encode()


def _read(name: str, body: bytes, expect: Callable[[dict[str, Any]], str | None], content_type: str = "text/event-stream") -> str | None:
    def handler(_request: Seen, conn: socket.socket) -> None:
        send_stream(conn, [body], content_type=content_type)

    with serve(handler) as server:
        report = in_child(PROVIDERS[name].config(server.url, retry_attempts=1, timeout=60), stream=True, limit=CAP)
    if "child_failed" in report:
        return str(report["child_failed"])
    if report.get("running"):
        return f"{len(body) / 1000:.0f} KB still being read after {CAP:g} s (killed; limit {LIMIT:g} s)"
    what = expect(report)
    if what:
        return what
    if report["seconds"] > LIMIT:
        return f"{len(body) / 1000:.0f} KB took {report['seconds']:.1f} s (limit {LIMIT:g} s)"
    return None


def _answered(chars: int) -> Callable[[dict[str, Any]], str | None]:
    def expect(report: dict[str, Any]) -> str | None:
        if report.get("answer_chars") != chars:
            return f"expected an answer of {chars} chars, got {report}"
        return None

    return expect


def _quota_error(report: dict[str, Any]) -> str | None:
    if not report.get("llm_error") or "RESOURCE_EXHAUSTED" not in report.get("error", "") + report.get("error_type", ""):
        return f"expected an LLMException naming RESOURCE_EXHAUSTED, got {report}"
    return None


def _big_event(name: str) -> str | None:
    return _read(name, _one_big_event(name), _answered(BIG))


def cases() -> dict[str, Callable[[], str | None]]:
    found: dict[str, Callable[[], str | None]] = {
        f"{name}, one 15 MB SSE event": partial(_big_event, name) for name in ("openai", "anthropic", "gemini")
    }
    found["gemini, a 256 KB pretty-printed error body in the stream"] = lambda: _read("gemini", PRETTY_ERROR, _quota_error)
    found["gemini, a stream answered as a pretty-printed JSON array (1,001 values)"] = lambda: _read(
        "gemini", PRETTY_ARRAY, _answered(len("token ") * 1000 + 3), content_type="application/json"
    )
    return found


if __name__ == "__main__":
    sys.exit(main(run_cases(cases(), parallel=1)))
