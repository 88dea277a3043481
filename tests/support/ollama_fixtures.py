"""The ``ollama_case`` fixture: an Ollama endpoint backed by a cassette, the wire server or a real server.

The cassette is ``cassettes/http/ollama/<test name>.yaml``, or the name given by
``@pytest.mark.cassette("name")``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import attrs
import httpx
import pytest

from obra_llm.recording.cassettes import provenance
from obra_llm.recording.mode import RecordMode
from tests.support.http_replay import replayed
from tests.support.ollama_wire import VERSION, Answer, OllamaWireServer, Reply

#: Where replayed calls go: the default of a fresh config, so cassettes prove the defaults.
OLLAMA_REPLAY_ENDPOINT = "http://localhost:11434"
#: Re-record against real hardware: OBRA_LLM_OLLAMA_URL=http://gpu-box:11434 pytest --record-mode=all
OLLAMA_REAL_URL = os.environ.get("OBRA_LLM_OLLAMA_URL")


@attrs.define
class OllamaCase:
    """Where this test's Ollama calls go, and how to script the wire server when there is one."""

    endpoint: str
    server: OllamaWireServer | None

    def script(self, *replies: Reply) -> None:
        """Queue wire-server replies; a no-op in replay and against a real server."""
        if self.server is not None:
            self.server.queue(*replies)


@pytest.fixture
def ollama_case(request: pytest.FixtureRequest, record_mode: RecordMode) -> Iterator[OllamaCase]:
    marker = request.node.get_closest_marker("cassette")
    name = str(marker.args[0]) if marker else request.node.name
    wire_only = request.node.get_closest_marker("wire_only") is not None
    if record_mode == "none":
        with replayed("ollama", name, mode="none", made_by=None):
            yield OllamaCase(OLLAMA_REPLAY_ENDPOINT, None)
    elif OLLAMA_REAL_URL and not wire_only:
        version = httpx.get(f"{OLLAMA_REAL_URL.rstrip('/')}/api/version", timeout=5).json().get("version", "?")
        made_by = provenance(
            "real-service",
            how="recorded from a real Ollama server by tests/providers/test_ollama.py",
            service="ollama",
            server_version=version,
        )
        with replayed("ollama", name, mode=record_mode, made_by=made_by):
            yield OllamaCase(OLLAMA_REAL_URL, None)
    else:
        made_by = provenance(
            "synthesized",
            how="recorded from tests/support/ollama_wire.py, a local server that follows Ollama's "
            "documented native API (docs/providers/ollama.md); no real Ollama server was involved",
            service="ollama",
            imitates_version=VERSION,
        )
        with OllamaWireServer(default_answer=quality_answer) as server, replayed(
            "ollama", name, mode=record_mode, made_by=made_by
        ):
            yield OllamaCase(server.url, server)


def quality_answer(request: dict[str, object]) -> Answer:
    """The wire server's canned reply: a scored review, streamed in small pieces."""
    return Answer(
        pieces=["SCORE: 8", "\n", "The change", " validates the port range", " and keeps", " the happy path."],
        prompt_tokens=96,
        completion_tokens=17,
    )
