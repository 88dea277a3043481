"""Issue 17 item 2 (a 3xx is never an answer), through ``create_llm`` and loopback servers only.

A 301/302/303/307/308 whose body is the provider's own valid answer, whole or streamed, must
fail at once (one request, not retried) naming the ``Location``'s origin without its query,
and the server at the ``Location`` sees nothing (19bf5c7 returned the body as the answer).

Run as the package docstring says; exits 1 when any case fails.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

if not __package__:  # run as a file: this repository's tests come after the library on sys.path
    sys.path.append(str(Path(__file__).resolve().parents[3]))

import obra_llm
from tests.faults.revision_checks._loopback import PROVIDERS, Provider, Seen, bounded, generate, main, run_cases, send, serve

STATUSES = (301, 302, 303, 307, 308)
QUERY = "token=do-not-show-me"


def _redirect(provider: Provider, status: int, *, stream: bool) -> str | None:
    with serve(lambda _request, conn: send(conn, 200, b"{}")) as trap:
        location = f"{trap.url}/elsewhere?{QUERY}"

        def handler(_request: Seen, conn: socket.socket) -> None:
            provider.answer(conn, "the redirect body", stream=stream, status=status, headers={"Location": location})

        with serve(handler) as server:
            llm = provider.create(server.url, retry_backoff_base=0.05)
            outcome = bounded(lambda: generate(llm, stream=stream), limit=20)
            attempts = len(server.seen)
        followed = len(trap.seen)
    error = outcome.error
    if not isinstance(error, obra_llm.LLMResponseException):
        return f"expected LLMResponseException, got: {outcome.describe()}"
    problems = [
        *([f"{attempts} attempts (retried)"] if attempts != 1 or error.retryable else []),
        *([f"{followed} requests to the Location"] if followed else []),
        *([f"the message does not name {trap.url}"] if trap.url not in str(error) else []),
        *(["the message shows the Location's query"] if QUERY in str(error) else []),
    ]
    return "; ".join(problems) or None


def cases() -> dict[str, Callable[[], str | None]]:
    return {
        f"{name}, {status}, {'streamed' if stream else 'whole'}": partial(_redirect, PROVIDERS[name], status, stream=stream)
        for name in ("ollama", "anthropic", "openai")
        for status in STATUSES
        for stream in (False, True)
    }


if __name__ == "__main__":
    sys.exit(main(run_cases(cases())))
