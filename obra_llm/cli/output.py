"""How ``obra-llm`` prints: plain lines for people, one JSON object (or JSON Lines) for scripts.

Errors are one line on stderr, followed by the error's own notes (why it was not retried);
with ``--json`` the same facts go to stdout as ``{"ok": false, "error": {...}}``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from obra_llm.errors import ConfigError, LLMException

__all__ = ["emit_json", "error_object", "print_error", "spinner"]


def emit_json(value: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """One JSON object on one line (stdout by default), flushed: a script may be reading it live."""
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(value, ensure_ascii=False) + "\n")
    out.flush()


def error_object(error: BaseException, exit_code: int) -> dict[str, Any]:
    """What a script needs to decide: the class, the message, whether a retry may help, the exit code."""
    described: dict[str, Any] = {"class": type(error).__name__, "message": _message(error), "exit_code": exit_code}
    if isinstance(error, LLMException):
        described |= {"provider": error.provider, "retryable": error.retryable, "status_code": error.status_code}
    else:
        described["retryable"] = False
    if isinstance(error, ConfigError):
        described["problems"] = list(error.problems)
    notes = getattr(error, "__notes__", None)
    if notes:
        described["notes"] = [str(note) for note in notes]
    return described


def print_error(error: BaseException, *, extra: tuple[str, ...] = ()) -> None:
    """``obra-llm: error: ...`` on stderr, then the continuation lines, the notes and ``extra``."""
    lines = str(error).splitlines() or [type(error).__name__]
    print(f"obra-llm: error: {lines[0]}", file=sys.stderr)
    for line in [*lines[1:], *getattr(error, "__notes__", ()), *extra]:
        print(f"obra-llm:   {str(line).strip()}", file=sys.stderr)


def _message(error: BaseException) -> str:
    """The message on one line (a ConfigError's problems joined after its heading)."""
    if isinstance(error, LLMException):
        return error.message
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


@contextmanager
def spinner(stream: TextIO, *, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """Elapsed time on ``stream`` while waiting, only when it is a terminal.

    Yields ``stop``: call it to clear the line before printing (the first streamed piece
    arrived); it returns once the line is clear, so the piece is never overwritten.
    """
    done = threading.Event()
    if not enabled or not stream.isatty():
        yield done.set
        return
    started = time.monotonic()

    def spin() -> None:
        frames = "|/-\\"
        tick = 0
        while not done.wait(0.1):
            stream.write(f"\r{frames[tick % 4]} waiting {time.monotonic() - started:5.1f} s")
            stream.flush()
            tick += 1
        stream.write("\r" + " " * 24 + "\r")
        stream.flush()

    thread = threading.Thread(target=spin, name="obra-llm-spinner", daemon=True)

    def stop() -> None:
        done.set()
        thread.join()

    thread.start()
    try:
        yield stop
    finally:
        stop()
