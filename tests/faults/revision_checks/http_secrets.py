"""Issue 17 item 5 (the HTTP part: secrets never echo), through ``create_llm`` and a loopback server only.

A server that echoes the key back (bare, base64, URL-encoded) in an error body sent with status
200, a non-JSON 200 body, a garbage stream line before or after a piece, or a 500 body (then in
the retry log) must not get it into any exception text (``str``, ``repr``, notes, traceback,
causes), any log line (DEBUG included), the provider's ``repr`` or its metrics (19bf5c7 quoted
it); a password in an endpoint URL must not appear in the ``ConfigError`` (19bf5c7 showed it).

Run as the package docstring says; exits 1 when any case fails.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

if not __package__:  # run as a file: this repository's tests come after the library on sys.path
    sys.path.append(str(Path(__file__).resolve().parents[3]))

import obra_llm
from tests.faults.revision_checks._loopback import (
    FORMS,
    KEY,
    PROVIDERS,
    Provider,
    Seen,
    bounded,
    error_text,
    generate,
    main,
    run_cases,
    send,
    send_stream,
    serve,
)

PASSWORD = "pw-do-not-show-0123456789"


class _Said(logging.Handler):
    """Every log line of ``obra_llm``, formatted with its exception."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(message)s").format(record))


def _garbage(provider: Provider, text: str, *, after_a_piece: bool) -> list[bytes]:
    good = provider.frames(provider.model, "Hello")
    if provider.stream_type == "text/event-stream":
        pieces = good[: 3 if provider.name == "anthropic" else 1] if after_a_piece else []
        return [*pieces, f"data: {{not json {text}\n\n".encode()]
    return [*(good[:1] if after_a_piece else []), f"{{not json {text}\n".encode()]


ECHOES: dict[str, Callable[[Provider, str, socket.socket], None]] = {
    "error body with 200": lambda _p, text, conn: send(conn, 200, json.dumps({"error": {"message": f"bad key {text}"}, "detail": text}).encode()),
    "text body with 200": lambda _p, text, conn: send(conn, 200, f"oops: key {text} refused".encode(), content_type="text/plain"),
    "garbage stream line": lambda p, text, conn: send_stream(conn, _garbage(p, text, after_a_piece=False), content_type=p.stream_type),
    "garbage after a piece": lambda p, text, conn: send_stream(conn, _garbage(p, text, after_a_piece=True), content_type=p.stream_type),
    "500 body, then the retry log": lambda _p, text, conn: send(conn, 500, json.dumps({"error": {"message": f"internal error for key {text}"}}).encode()),
}


def _echo(provider: Provider, echo: str, form: str) -> str | None:
    echoed = FORMS[form]

    def handler(_request: Seen, conn: socket.socket) -> None:
        ECHOES[echo](provider, echoed, conn)

    said = _Said()
    logger = logging.getLogger("obra_llm")
    logger.addHandler(said)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with serve(handler) as server:
            llm = provider.create(server.url, retry_attempts=2, retry_backoff_base=0.01)
            outcome = bounded(lambda: generate(llm, stream=echo.startswith("garbage")), limit=20)
            sent_key = any(KEY in value for request in server.seen for value in request.headers.values())
    finally:
        logger.removeHandler(said)
        logger.setLevel(old_level)
    if outcome.error is None or outcome.running:
        return f"expected an error, got: {outcome.describe()}"
    if not sent_key:
        return "the key was never sent, so never echoed"
    shown = {"the exception": error_text(outcome.error), "a log line": "\n".join(said.lines), "repr/metrics": f"{llm!r} {dict(llm.metrics)}"}
    leaks = [where for where, text in shown.items() if any(value in text for value in (KEY, echoed))]
    return f"the key shows in {', '.join(leaks)}: {_around(shown[leaks[0]], echoed)}" if leaks else None


def _around(text: str, secret: str) -> str:
    at = max(text.find(secret), text.find(KEY))
    return repr(text[max(0, at - 60) : at + len(secret) + 10])


def _url_password(provider: Provider) -> str | None:
    config = provider.config("ftp://alice:" + PASSWORD + "@127.0.0.1:9")
    config[provider.url_key] = config[provider.url_key].replace("http://", "")
    try:
        obra_llm.create_llm(config)
    except obra_llm.ConfigError as error:
        return f"the password shows: {_around(error_text(error), PASSWORD)}" if PASSWORD in error_text(error) else None
    return "the ftp:// URL was accepted"


def cases() -> dict[str, Callable[[], str | None]]:
    found: dict[str, Callable[[], str | None]] = {}
    for echo in ECHOES:
        names = ("anthropic", "gemini", "cohere") if echo.startswith("500") else ("anthropic", "openai", "gemini")
        for name in names:
            for form in FORMS:
                found[f"{name}, {echo}, {form}"] = partial(_echo, PROVIDERS[name], echo, form)
    for name in ("ollama", "openai"):
        found[f"{name}, a password in the endpoint URL"] = partial(_url_password, PROVIDERS[name])
    return found


if __name__ == "__main__":
    sys.exit(main(run_cases(cases(), parallel=1)))
