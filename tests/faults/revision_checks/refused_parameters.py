"""Issue 17 item 10 (a request the real API accepts is sent), through ``create_llm`` and a loopback server only.

``stop`` for ``o3-mini`` must be sent, whole and streamed (recorded traffic shows OpenAI
accepting and honouring it; 19bf5c7 refused it before sending: "accepts no stop sequences");
``o1-mini``'s own 400 ``Unsupported parameter: 'stop'`` (or the ``system`` role) must come back
as one clear, non-retried ``LLMResponseException`` that names the parameter (OpenAI and Mistral,
which speak the same dialect). That second half already held on 19bf5c7 (its message quoted
the API's, which names the parameter; today's also names the model): it is kept here so that
it keeps holding, and only the ``o3-mini`` cases fail there.

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

import obra_llm
from tests.faults.revision_checks._loopback import PROVIDERS, Provider, Seen, bounded, generate, main, run_cases, send, serve

MISTRAL = Provider(
    "mistral", "base_url", "", "mistral-small-latest", "text/event-stream",
    PROVIDERS["openai"].whole, PROVIDERS["openai"].frames, b": keep-alive\n\n",
)  # fmt: skip
REFUSALS: dict[str, dict[str, Any]] = {
    "stop": {"message": "Unsupported parameter: 'stop' is not supported with this model.", "param": "stop", "code": "unsupported_parameter"},
    "messages[0].role": {
        "message": "Unsupported value: 'messages[0].role' does not support 'system' with this model.",
        "param": "messages[0].role",
        "code": "unsupported_value",
    },
}


def _stop_is_sent(*, stream: bool) -> str | None:
    provider = PROVIDERS["openai"]
    with serve(lambda _request, conn: provider.answer(conn, "an answer", stream=stream)) as server:
        llm = provider.create(server.url, model="o3-mini", retry_attempts=1)
        outcome = bounded(lambda: generate(llm, stream=stream, stop=["\n\n"]), limit=20)
        bodies = [request.json() for request in server.seen]
    if outcome.error is not None or outcome.running:
        return f"the call {outcome.describe()} ({len(bodies)} requests sent)"
    if [body.get("stop") for body in bodies] != [["\n\n"]]:
        return f"sent {bodies}"
    return None


def _refusal_named(provider: Provider, parameter: str) -> str | None:
    body = json.dumps({"error": {**REFUSALS[parameter], "type": "invalid_request_error"}}).encode()

    def handler(_request: Seen, conn: socket.socket) -> None:
        send(conn, 400, body)

    with serve(handler) as server:
        llm = provider.create(server.url, model="o1-mini", retry_backoff_base=0.01)
        outcome = bounded(lambda: llm.generate("hi", stop=["x"], system="be brief"), limit=20)
        attempts = len(server.seen)
    error = outcome.error
    if type(error) is not obra_llm.LLMResponseException or error.retryable or attempts != 1 or repr(parameter) not in str(error):
        return f"expected one non-retried LLMResponseException naming {parameter!r}; {attempts} attempts, {outcome.describe()}"
    return None


def cases() -> dict[str, Callable[[], str | None]]:
    found: dict[str, Callable[[], str | None]] = {
        f"openai, stop for o3-mini is sent, {'streamed' if stream else 'whole'}": partial(_stop_is_sent, stream=stream) for stream in (False, True)
    }
    for provider in (PROVIDERS["openai"], MISTRAL):
        for parameter in REFUSALS:
            found[f"{provider.name}, o1-mini's 400 names {parameter!r}"] = partial(_refusal_named, provider, parameter)
    return found


if __name__ == "__main__":
    sys.exit(main(run_cases(cases())))
