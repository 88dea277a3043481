"""Issue 17 item 6 (endpoint and model values stay in their place), through ``create_llm`` and a loopback server only.

A base URL with port 65536+P (19bf5c7 wrapped it onto P and posted there), a ``?query`` or
``#fragment`` (dropped from every request), or ``user:pw@`` (silently not sent) must be either
honoured or refused with a ``ConfigError`` before anything is sent (Ollama, OpenAI, Anthropic);
a Gemini model ``../../../admin/x`` or ``m?alt=json`` must stay one segment under ``models/``
or be refused (19bf5c7 posted to ``/admin/x:generateContent``, and cut the path at ``?``).

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
from tests.faults.revision_checks._loopback import PROVIDERS, Loopback, Provider, Seen, bounded, generate, main, run_cases, serve

#: How each base URL is built from the server's, and whether what was sent honoured it.
URLS: dict[str, tuple[Callable[[Loopback, str], str], Callable[[Seen], bool]]] = {
    "port 65536+P": (lambda server, base: f"http://127.0.0.1:{65536 + server.port}{base}", lambda _request: False),
    "a ?query": (lambda server, base: f"{server.url}{base}/x?tenant=t1", lambda request: "tenant=t1" in request.target),
    "a #fragment": (lambda server, base: f"{server.url}{base}/x#part", lambda _request: False),
    "user:pw@": (
        lambda server, base: server.url.replace("http://", "http://alice:pw@") + base,
        lambda request: request.headers.get("authorization", "").startswith("Basic "),
    ),
}


def _answering(provider: Provider, *, stream: bool) -> Callable[[Seen, socket.socket], None]:
    return lambda _request, conn: provider.answer(conn, "an answer", stream=stream)


def _url(provider: Provider, kind: str) -> str | None:
    build, honoured = URLS[kind]
    with serve(_answering(provider, stream=False)) as server:
        config = provider.config("")
        config[provider.url_key] = build(server, provider.base_path)
        try:
            llm = obra_llm.create_llm(config | {"retry_attempts": 1, "timeout": 5})
        except obra_llm.ConfigError:
            return None if not server.seen else f"refused, but after {len(server.seen)} requests"
        outcome = bounded(lambda: generate(llm, stream=False), limit=20)
        seen = list(server.seen)
    wrong = [request.target for request in seen if not honoured(request)]
    if wrong or outcome.error is not None:
        return f"accepted {config[provider.url_key]!r}; the call {outcome.describe()}, sent to {wrong}"
    return None


def _model(model: str, *, stream: bool) -> str | None:
    provider = PROVIDERS["gemini"]
    with serve(_answering(provider, stream=stream)) as server:
        try:
            llm = provider.create(server.url, model=model, retry_attempts=1, timeout=5)
        except obra_llm.ConfigError:
            return None if not server.seen else f"refused, but after {len(server.seen)} requests"
        outcome = bounded(lambda: generate(llm, stream=stream), limit=20)
        seen = list(server.seen)
    escaped = [request.target for request in seen if not request.path.startswith("/v1beta/models/") or "?" in model and "%3F" not in request.path]
    if escaped:
        return f"model {model!r} was sent to {escaped} (the call {outcome.describe()})"
    return None


def cases() -> dict[str, Callable[[], str | None]]:
    found: dict[str, Callable[[], str | None]] = {
        f"{name}, a base URL with {kind}": partial(_url, PROVIDERS[name], kind) for kind in URLS for name in ("ollama", "openai", "anthropic")
    }
    for model in ("../../../admin/x", "m?alt=json"):
        for stream in (False, True):
            found[f"gemini, model {model!r}, {'streamed' if stream else 'whole'}"] = partial(_model, model, stream=stream)
    return found


if __name__ == "__main__":
    sys.exit(main(run_cases(cases())))
