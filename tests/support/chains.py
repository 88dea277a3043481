"""Chains of real members for the fallback tests: HTTP providers on local wire servers, Codex on transcripts.

``ChainBench`` owns one fake clock shared by the chain and every member (their retry sleeps
advance it), the wire servers each HTTP member talks to over loopback, and a Codex runner
that replays the real CLI's recorded transcripts, chosen per run by scenario. Member
classes are the registry's own, bound to these seams, so the chain builds them as
production does (``FallbackLLM.over``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from obra_llm.fallback import FallbackLLM
from obra_llm.protocol import LLMPlugin
from obra_llm.recording.transcripts import Transcript, TranscriptReplayer
from obra_llm.registry import REGISTRY
from obra_llm.transports.process import RunItems
from tests.support import anthropic_wire
from tests.support.anthropic_wire import AnthropicWireServer
from tests.support.fakes import FakeClock
from tests.support.ollama_wire import OllamaWireServer
from tests.support.openai_wire import OpenAIWireServer

__all__ = ["CODEX_TRANSCRIPTS", "ChainBench", "ScenarioRunner", "chain_bench"]

CODEX_TRANSCRIPTS = Path(__file__).resolve().parents[2] / "cassettes" / "cli" / "codex"
#: An API key environment for Codex, so that calls need no ``codex login status`` run.
_CODEX_ENVIRON = {"OPENAI_API_KEY": "sk-test-not-real", "CODEX_HOME": "/nonexistent"}


class ScenarioRunner:
    """Replays the real Codex transcripts: each ``codex exec`` run answers the next queued scenario.

    The chain passes the caller's prompt on; the transcripts were recorded for the prompt
    ``contract scenario: <name>``, so that is what the replayer is asked for. ``runs`` counts
    the ``exec`` runs (not ``--version`` probes). ``gate``, when set, is waited on by each run.
    """

    def __init__(self, clock: FakeClock, *, speed: float = 0.0) -> None:
        transcripts = [Transcript.load(path) for path in sorted(CODEX_TRANSCRIPTS.glob("*.json"))]
        self._replayer = TranscriptReplayer(transcripts, speed=speed, sleep=clock.sleep)
        self._lock = threading.Lock()
        self.default = "success"
        self.scenarios: list[str] = []
        self.runs = 0
        self.gate: threading.Event | None = None

    def queue(self, *scenarios: str) -> None:
        with self._lock:
            self.scenarios.extend(scenarios)

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        if "exec" not in argv:
            return self._replayer.run(argv, stdin=stdin, timeout=timeout, cwd=cwd)
        with self._lock:
            self.runs += 1
            scenario = self.scenarios.pop(0) if self.scenarios else self.default
        if self.gate is not None:
            self.gate.wait(timeout=10)
        return self._replayer.run(argv, stdin=f"contract scenario: {scenario}", timeout=timeout, cwd=cwd)


class ChainBench:
    """Wire servers, a Codex runner and one fake clock; ``chain(members)`` builds a ``FallbackLLM`` over them."""

    def __init__(self, stack: contextlib.ExitStack, *, codex_speed: float = 0.0, codex_installed: bool = True) -> None:
        self.clock = FakeClock()
        self.anthropic = stack.enter_context(AnthropicWireServer())
        self.openai = stack.enter_context(OpenAIWireServer())
        self.ollama = stack.enter_context(OllamaWireServer())
        self.codex = ScenarioRunner(self.clock, speed=codex_speed)
        self.codex_installed = codex_installed
        self._stack = stack

    def config(self, llm_type: str, **settings: Any) -> dict[str, Any]:
        """A member config for ``llm_type`` pointed at its wire server (or the Codex runner)."""
        base: dict[str, Any] = {
            "anthropic": {"base_url": self.anthropic.url, "model": "claude-sonnet-4-5", "api_key": anthropic_wire.DEFAULT_KEY},
            "openai": {"base_url": self.openai.url, "model": "gpt-4o-mini", "api_key": self.openai.key},
            "ollama": {"base_url": self.ollama.url, "model": "qwen2.5-coder:32b"},
            "openai-codex": {"codex_command": "codex"},
        }[llm_type]
        return {"type": llm_type, **base, **settings}

    def registry(self) -> Mapping[str, type[LLMPlugin]]:
        """The registry with every member type bound to this bench's clock, servers and runner."""
        clock = self.clock
        which: Callable[[str], str | None] = (
            (lambda name: f"/opt/codex/bin/{os.path.basename(name)}") if self.codex_installed else (lambda _name: None)
        )
        http = {"clock": clock, "sleep": clock.sleep}
        seams: dict[str, dict[str, Any]] = {
            "anthropic": http,
            "openai": http,
            "ollama": http,
            "openai-codex": {"runner": self.codex, "which": which, "environ": _CODEX_ENVIRON, **http},
        }
        bound = {**REGISTRY, **{name: _bound(REGISTRY[name], given) for name, given in seams.items()}}
        return {**bound, "fallback": _bound(FallbackLLM.over(bound), {"clock": clock})}  # a chain as a member, on this clock

    def chain(self, *members: Mapping[str, Any], **settings: Any) -> FallbackLLM:
        """An initialized chain of ``members`` (configs from ``config``), closed with the bench."""
        registry = self.registry()
        llm = FallbackLLM.over(registry)(clock=self.clock)
        llm.initialize({"type": "fallback", "members": list(members), **settings})
        self._stack.callback(llm.close)
        return llm

    def chat_requests(self) -> dict[str, int]:
        """Generation requests each wire server received, and Codex exec runs."""
        return {
            "anthropic": len(self.anthropic.requests_to("/v1/messages")),
            "openai": len(self.openai.requests_to("/chat/completions")),
            "ollama": len(self.ollama.requests_to("/api/chat")),
            "openai-codex": self.codex.runs,
        }


def _bound(cls: type[LLMPlugin], seams: Mapping[str, Any]) -> type[LLMPlugin]:
    """A subclass of ``cls`` whose no-argument constructor passes ``seams`` (as the registry constructs)."""
    base_init: Callable[..., None] = cls.__init__

    def __init__(self: Any) -> None:
        base_init(self, **seams)

    return cast("type[LLMPlugin]", type(cls.__name__, (cls,), {"__init__": __init__}))


@contextlib.contextmanager
def chain_bench(**options: Any) -> Iterator[ChainBench]:
    """A ``ChainBench`` whose servers and chains are closed when the block ends, whatever happens."""
    with contextlib.ExitStack() as stack:
        yield ChainBench(stack, **options)
