"""The real model server the live tier and the real recordings talk to.

By default it is llama.cpp's ``llama-server`` with SmolLM2-135M-Instruct, started on 127.0.0.1
(``obra_llm.llama_server``) and stopped at the end of the session. ``$OBRA_LLM_LIVE_URL`` (the
server's root, without ``/v1``) and ``$OBRA_LLM_LIVE_MODEL`` point the same tests at a server
already running elsewhere, e.g. vLLM or Ollama on a GPU box, for re-recording: nothing is
started then, and only a recording run may reach a non-loopback address.

Without the local install the live tests skip with one line saying how to install it; under CI
(``$CI`` set) they fail instead, since CI must exercise the real server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
import httpx
import pytest

from obra_llm.llama_server import MODEL_ALIAS, LlamaServerError, find_install, provider_config, running_server
from obra_llm.transports.http import safe_url

__all__ = [
    "CLAUDE_MAX_TOKENS",
    "CLAUDE_SETTINGS",
    "CLAUDE_SYSTEM",
    "LIVE_REPLAY_URL",
    "OUTPUT_CAP",
    "QUESTION",
    "REVIEW_SCHEMA",
    "STREAM_QUESTION",
    "URL_VARIABLE",
    "LiveServer",
    "assert_one_call_counted",
    "live_server",
    "local_server_only",
    "skip_unless_installed",
    "tokenize",
]

URL_VARIABLE, MODEL_VARIABLE = "OBRA_LLM_LIVE_URL", "OBRA_LLM_LIVE_MODEL"
#: The local server's answer to a request that names no cap stops here (a request's own cap wins):
#: the Codex CLI sends none, and a 135M model under its 4,600-token agent prompt can ramble for minutes.
OUTPUT_CAP = 256
#: A structured review, bounded so that a small model cannot run past the output cap inside a string.
REVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "verdict": {"enum": ["accept", "revise", "reject"]},
        "reason": {"type": "string", "minLength": 1, "maxLength": 80},
    },
    "required": ["score", "verdict", "reason"],
    "additionalProperties": False,
}
#: Where replayed configs point: cassettes match without the host, transcripts without the port.
LIVE_REPLAY_URL = "http://127.0.0.1:8080"
#: A question every dialect and CLI is asked (and their transcripts replay).
QUESTION = "What is the capital of France? Answer in one sentence."
#: Another question, for the CLIs' streamed runs (each transcript then replays its own run).
STREAM_QUESTION = "What is the capital of Italy? Answer in one sentence."
#: How the live tier runs Claude Code (and its transcripts replay): a model id the CLI knows, a
#: short system prompt instead of its coding-agent one, a capped answer.
CLAUDE_MAX_TOKENS = 48
CLAUDE_SETTINGS = {"model": "claude-sonnet-4-5", "max_tokens": CLAUDE_MAX_TOKENS, "retry_attempts": 1}
CLAUDE_SYSTEM = "Answer in one short sentence."


@attrs.frozen(kw_only=True)
class LiveServer:
    """Where the real model is, which model, and how recordings made against it say so."""

    url: str
    model: str
    label: str
    #: The context window the server reports (``None`` when it reports none).
    context_length: int | None
    #: The most tokens the server writes for a request that names no cap (``None``: no cap of its own).
    output_cap: int | None = None

    def config(self, dialect: str, **extra: Any) -> dict[str, Any]:
        """A ``create_llm`` config for ``dialect`` (``llamacpp``, ``openai``, ``anthropic``, ``openai-codex``) on this server."""
        return provider_config(dialect, self.url, self.model) | {"retry_attempts": 1} | extra


def skip_unless_installed() -> None:
    """Skip the calling test module, in one line, when no server can be had (never under CI)."""
    if os.environ.get("CI") or os.environ.get(URL_VARIABLE):
        return
    try:
        find_install()
    except LlamaServerError as error:
        pytest.skip(f"live tier: {error}", allow_module_level=True)


@contextmanager
def live_server() -> Iterator[LiveServer]:
    """The configured remote server, or a local llama-server for the duration of the block."""
    remote = os.environ.get(URL_VARIABLE)
    if remote:
        model = os.environ.get(MODEL_VARIABLE)
        if not model:
            pytest.fail(f"${URL_VARIABLE} is set but ${MODEL_VARIABLE} is not: name the model the server serves")
        url = remote.rstrip("/")
        yield LiveServer(url=url, model=model, label=f"real server: {safe_url(url)} + {model}", context_length=None)
        return
    try:
        install = find_install()
    except LlamaServerError as error:
        if os.environ.get("CI"):
            pytest.fail(f"{error} (under CI the live tests must run, not skip)")
        pytest.skip(str(error))
    with running_server(install, max_output_tokens=OUTPUT_CAP) as server:
        yield LiveServer(
            url=server.url, model=MODEL_ALIAS, label=server.label, context_length=server.context_length, output_cap=OUTPUT_CAP
        )


def tokenize(server: LiveServer, text: str) -> int | None:
    """How many tokens the server's own tokenizer makes of ``text``; ``None`` for a server without one (Ollama).

    llama-server and vLLM both serve ``/tokenize``, with different bodies: llama-server's is tried first.
    """
    answered = []
    for body in ({"content": text}, {"model": server.model, "prompt": text, "add_special_tokens": False}):
        response = httpx.post(f"{server.url}/tokenize", json=body, timeout=10.0, trust_env=False)
        if response.status_code in (404, 405):
            return None
        if response.is_success:
            return len(response.json()["tokens"])
        answered.append(response.status_code)
    msg = f"{server.url}/tokenize answered {answered} to llama-server's and vLLM's bodies"
    raise AssertionError(msg)


def local_server_only() -> None:
    """Skip the calling test module when ``$OBRA_LLM_LIVE_URL`` names a server elsewhere: it tests the local llama-server itself."""
    if os.environ.get(URL_VARIABLE):
        pytest.skip(f"live tier: ${URL_VARIABLE} names a server elsewhere; these test the local llama-server", allow_module_level=True)



def assert_one_call_counted(
    metrics: Mapping[str, Any], live: LiveServer, answer: str, *, prompt_over: int, completion_cap: int | None
) -> None:
    """One call that succeeded first time, its tokens as the server counted them.

    The prompt is over ``prompt_over`` tokens (what the CLI adds: its agent or system prompt),
    the answer within ``completion_cap`` when there is one (the cap reached the server), and,
    where the server can tokenize, ``answer`` is what the model wrote.
    """
    assert metrics["calls"] == 1 and metrics["errors"] == 0 and metrics["retries"] == 0
    assert metrics["prompt_tokens"] > prompt_over, "the CLI's own prompt and the question were counted"
    assert metrics["completion_tokens"] > 0
    assert completion_cap is None or metrics["completion_tokens"] <= completion_cap, "the output cap reached the server"
    assert metrics["total_tokens"] == metrics["prompt_tokens"] + metrics["completion_tokens"]
    written = tokenize(live, answer)
    assert written is None or written <= metrics["completion_tokens"] + 1, "the answer is what the model wrote"
