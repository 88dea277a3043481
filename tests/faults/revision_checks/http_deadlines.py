"""Issue 17 item 1 (deadlines), through ``create_llm`` and a loopback server only.

With ``timeout: 2`` and ``retry_deadline: 3``, a server that drips one byte every 0.5 s into
the headers or the body of a whole answer, or that sends only keep-alives on a stream
(Ollama's blank lines, Anthropic's ``ping`` events, SSE comments), must see the call end
within 6 s (19bf5c7: as long as the server went on, 10 s here, where it stops); and
``is_available()`` against dripping headers answers within 4 s (19bf5c7: 6 s).

Run as the package docstring says; exits 1 when any case fails.
"""

from __future__ import annotations

import itertools
import socket
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

if not __package__:  # run as a file: this repository's tests come after the library on sys.path
    sys.path.append(str(Path(__file__).resolve().parents[3]))

import obra_llm
from tests.faults.revision_checks._loopback import PROVIDERS, Provider, Seen, bounded, drip, generate, main, run_cases, serve

#: A call must end within this (``retry_deadline`` 3 s, plus generous slack).
CALL_LIMIT = 6.0
#: ``is_available()`` must answer within this (documented: about a second).
PROBE_LIMIT = 4.0
SETTINGS = {"timeout": 2, "retry_deadline": 3, "retry_backoff_base": 0.1}
BYTES = itertools.repeat(b"a")


def _dripping_headers(request: Seen, conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    drip(conn, request, BYTES, 0.5)


def _dripping_body(provider: Provider) -> Callable[[Seen, socket.socket], None]:
    def handler(request: Seen, conn: socket.socket) -> None:
        body = provider.whole(provider.model, "late")
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        drip(conn, request, (body[n : n + 1] for n in range(len(body))), 0.5)

    return handler


def _keep_alives(provider: Provider) -> Callable[[Seen, socket.socket], None]:
    def handler(request: Seen, conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {provider.stream_type}\r\nConnection: close\r\n\r\n".encode())
        if provider.name == "anthropic":  # a stream starts with message_start; pings follow
            conn.sendall(provider.frames(provider.model, "")[0])
        drip(conn, request, itertools.repeat(provider.keep_alive), 0.5)

    return handler


def _call_ends_in_time(provider: Provider, handler: Callable[[Seen, socket.socket], None], *, stream: bool) -> str | None:
    with serve(handler) as server:
        llm = provider.create(server.url, **SETTINGS)
        outcome = bounded(lambda: generate(llm, stream=stream))
    if outcome.running or outcome.seconds > CALL_LIMIT:
        return f"{outcome.describe()} (limit {CALL_LIMIT:g} s)"
    if not isinstance(outcome.error, obra_llm.LLMException):
        return f"expected an LLMException, got: {outcome.describe()}"
    return None


def _probe_answers_in_time(provider: Provider) -> str | None:
    with serve(_dripping_headers) as server:
        llm = provider.create(server.url)
        outcome = bounded(llm.is_available)
    if outcome.running or outcome.seconds > PROBE_LIMIT or outcome.value is not False:
        return f"is_available() {outcome.describe()} (limit {PROBE_LIMIT:g} s, must say False)"
    return None


def cases() -> dict[str, Callable[[], str | None]]:
    found: dict[str, Callable[[], str | None]] = {}
    for name in ("ollama", "anthropic", "openai"):
        provider = PROVIDERS[name]
        found[f"{name}, whole answer, dripping headers"] = partial(_call_ends_in_time, provider, _dripping_headers, stream=False)
        found[f"{name}, whole answer, dripping body"] = partial(_call_ends_in_time, provider, _dripping_body(provider), stream=False)
        found[f"{name}, stream of keep-alives only"] = partial(_call_ends_in_time, provider, _keep_alives(provider), stream=True)
        found[f"{name}, is_available against dripping headers"] = partial(_probe_answers_in_time, provider)
    return found


if __name__ == "__main__":
    sys.exit(main(run_cases(cases(), parallel=12)))
