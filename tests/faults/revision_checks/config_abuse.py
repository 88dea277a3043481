"""Issue 17 item 7 (config abuse is refused fast and small), through the public API only.

A 261-byte YAML alias bomb (six levels, 531,441 values) must be refused by ``load_config``
within ``FAST`` with a message under ``MAX_MESSAGE`` characters (19bf5c7: 1-2 s and a 2.8 MB
message here; the issue's 329-byte bomb: ~4 s, 25 MB); a huge configuration must give a
``ConfigError`` under ``MAX_MESSAGE`` characters (19bf5c7: 2.2 MB here, 15 MB in the issue's
shape); ``timeout: 1e12``, in
the config or per call, must be a ``ConfigError`` before anything is sent, never a raw
exception (19bf5c7 accepted it, then every call raised ``OverflowError``). Over Ollama, OpenAI,
Anthropic where the case is per provider.

Run as the package docstring says; exits 1 when any case fails.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

if not __package__:  # run as a file: this repository's tests come after the library on sys.path
    sys.path.append(str(Path(__file__).resolve().parents[3]))

import obra_llm
from tests.faults.revision_checks._loopback import PROVIDERS, Provider, Seen, bounded, main, run_cases, serve

MAX_MESSAGE = 16_000
FAST = 1.0
ALIAS_BOMB = (
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "llm: {type: ollama, model: m, system: *f}\n"
)
#: ``load_config`` of a file in a fresh interpreter, imports paid before the clock starts.
_LOAD = """
import json, sys, time
import obra_llm
obra_llm.load_config
started = time.monotonic()
try:
    obra_llm.load_config(sys.argv[1])
    report = {"outcome": "loaded"}
except BaseException as error:
    report = {"outcome": type(error).__name__, "chars": len(str(error))}
print(json.dumps(report | {"seconds": time.monotonic() - started}))
"""


def _alias_bomb() -> str | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(ALIAS_BOMB, encoding="utf-8")
        try:
            run = subprocess.run([sys.executable, "-c", _LOAD, str(path)], capture_output=True, text=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return "load_config still running after 30 s (killed)"
    if run.returncode != 0:
        return f"the child failed: {run.stderr[-300:]}"
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    if report["outcome"] != "ConfigError" or report["chars"] > MAX_MESSAGE or report["seconds"] > FAST:
        return f"{len(ALIAS_BOMB)} bytes: {report['outcome']} after {report['seconds']:.1f} s, message of {report.get('chars', 0):,} chars"
    return None


def _huge(provider: Provider) -> str | None:
    config: dict[str, Any] = provider.config("http://127.0.0.1:9")
    config |= {f"unknown_{'k' * 500}_{n}": "v" * 10_000 for n in range(1000)}
    config["system"] = ["x" * 1000] * 1000
    try:
        obra_llm.create_llm(config)
    except obra_llm.ConfigError as error:
        return None if len(str(error)) <= MAX_MESSAGE else f"a ConfigError of {len(str(error)):,} chars"
    return "accepted"


def _answering(provider: Provider) -> Callable[[Seen, socket.socket], None]:
    return lambda _request, conn: provider.answer(conn, "an answer", stream=False)


def _huge_timeout(provider: Provider, *, per_call: bool) -> str | None:
    with serve(_answering(provider)) as server:
        try:
            llm = provider.create(server.url, **({} if per_call else {"timeout": 1e12}))
            outcome = bounded(lambda: llm.generate("hi", timeout=1e12) if per_call else llm.generate("hi"), limit=20)
        except obra_llm.ConfigError:
            return None if not per_call and not server.seen else "refused by create_llm, not per call"
        sent = len(server.seen)
    if isinstance(outcome.error, obra_llm.ConfigError) and per_call and not sent:
        return None
    return f"accepted by create_llm; the call {outcome.describe()} ({sent} requests sent)"


def cases() -> dict[str, Callable[[], str | None]]:
    found: dict[str, Callable[[], str | None]] = {"a 261-byte YAML alias bomb": _alias_bomb}
    for name in ("ollama", "openai", "anthropic"):
        provider = PROVIDERS[name]
        found[f"{name}, a huge configuration"] = partial(_huge, provider)
        found[f"{name}, timeout: 1e12 in the config"] = partial(_huge_timeout, provider, per_call=False)
        found[f"{name}, timeout=1e12 per call"] = partial(_huge_timeout, provider, per_call=True)
    return found


if __name__ == "__main__":
    sys.exit(main(run_cases(cases(), parallel=4)))
