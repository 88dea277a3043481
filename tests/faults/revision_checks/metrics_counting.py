"""Issue 17 item 8 (every call that started is counted once), through the public API only.

A ``KeyboardInterrupt`` (a real ``SIGALRM`` turned into one) mid-stream or mid-body must leave
``calls`` at 1 (19bf5c7: 0); during the sleep before a retry ``calls`` is already 1 (19bf5c7: 0
with ``retries`` 1); a Codex call refused by the "not logged in" check counts as a call and an
error (19bf5c7: ``calls=0, errors=0``; a fake ``codex`` CLI). Over Ollama, Anthropic, OpenAI.

Run as the package docstring says; exits 1 when any case fails.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import FrameType

if not __package__:  # run as a file: this repository's tests come after the library on sys.path
    sys.path.append(str(Path(__file__).resolve().parents[3]))

import obra_llm
from tests.faults.revision_checks._loopback import PROVIDERS, Provider, Seen, bounded, fake_cli, main, run_cases, send, serve

#: How long the server stalls at most (the interrupt comes after ``ALARM`` seconds).
STALL = 10.0
ALARM = 0.3


@contextmanager
def interrupt_after(seconds: float) -> Iterator[None]:
    """Raise ``KeyboardInterrupt`` in the main thread after ``seconds``, as Ctrl-C would."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _counted(llm: obra_llm.LLMPlugin, *, calls: int, errors: int) -> str | None:
    seen = {key: llm.metrics[key] for key in ("calls", "errors", "retries")}
    return None if (seen["calls"], seen["errors"]) == (calls, errors) else f"metrics {seen}, expected calls={calls}, errors={errors}"


def _interrupted(provider: Provider, *, stream: bool) -> str | None:
    """The call blocks in a read after its first piece (streamed) or in the body (whole); SIGALRM interrupts it."""

    def handler(request: Seen, conn: socket.socket) -> None:
        if stream:
            pieces = provider.frames(provider.model, "first")
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {provider.stream_type}\r\nConnection: close\r\n\r\n".encode())
            conn.sendall(b"".join(pieces[: 3 if provider.name == "anthropic" else 1]))
        else:
            body = provider.whole(provider.model, "whole")
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:10])
        request.stopping.wait(STALL)

    with serve(handler) as server:
        llm = provider.create(server.url, timeout=30)
        started = time.monotonic()
        try:
            with interrupt_after(ALARM):
                if stream:
                    pieces = llm.generate_stream("hi")
                    next(pieces)
                    next(pieces)
                else:
                    llm.generate("hi")
        except KeyboardInterrupt:
            pass
        else:
            return "the call ended without the interrupt"
        if time.monotonic() - started > STALL / 2:
            return "the interrupt came late"
    return _counted(llm, calls=1, errors=0)


def _retry_sleep(provider: Provider) -> str | None:
    def handler(request: Seen, conn: socket.socket) -> None:
        if len(server.seen) == 1:
            send(conn, 500, b'{"error": {"message": "try again"}}')
        else:
            provider.answer(conn, "an answer", stream=False)

    with serve(handler) as server:
        llm = provider.create(server.url, retry_backoff_base=1.0, retry_backoff_max=1.0)
        during: dict[str, object] = {}
        sampler = threading.Timer(0.5, lambda: during.update({key: llm.metrics[key] for key in ("calls", "retries")}))
        sampler.start()
        outcome = bounded(lambda: llm.generate("hi"), limit=20)
        sampler.join()
    if outcome.error is not None or outcome.running:
        return f"the call {outcome.describe()}"
    if during.get("calls") != 1:
        return f"during the retry sleep: {during}, expected calls=1"
    return _counted(llm, calls=1, errors=0)


FAKE_CODEX = """import sys
if sys.argv[1:2] == ["--version"]:
    print("codex-cli 0.169.0"); sys.exit(0)
if sys.argv[1:3] == ["login", "status"]:
    print("Not logged in"); sys.exit(1)
sys.stderr.write("the fake codex was run past its login check\\n"); sys.exit(2)
"""


def _codex_not_logged_in() -> str | None:
    saved = {name: os.environ.pop(name) for name in ("OPENAI_API_KEY", "CODEX_API_KEY") if name in os.environ}
    try:
        with tempfile.TemporaryDirectory() as folder:
            fake = fake_cli(folder, FAKE_CODEX)
            llm = obra_llm.create_llm({"type": "openai-codex", "codex_command": str(fake), "retry_attempts": 1})
            outcome = bounded(lambda: llm.generate("hi"), limit=30)
    finally:
        os.environ.update(saved)
    if not isinstance(outcome.error, obra_llm.AuthenticationError):
        return f"expected AuthenticationError, got: {outcome.describe()}"
    return _counted(llm, calls=1, errors=1)


def cases() -> dict[str, Callable[[], str | None]]:
    found: dict[str, Callable[[], str | None]] = {}
    for name in ("ollama", "anthropic", "openai"):
        provider = PROVIDERS[name]
        found[f"{name}, KeyboardInterrupt mid-stream"] = partial(_interrupted, provider, stream=True)
        found[f"{name}, KeyboardInterrupt mid-body"] = partial(_interrupted, provider, stream=False)
        found[f"{name}, calls during the retry sleep"] = partial(_retry_sleep, provider)
    found["openai-codex, the not-logged-in check"] = _codex_not_logged_in
    return found


if __name__ == "__main__":
    sys.exit(main(run_cases(cases(), parallel=1)))
