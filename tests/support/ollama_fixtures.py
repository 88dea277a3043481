"""The ``ollama_case`` fixture: Ollama calls backed by a cassette, the wire server or a real server.

Re-record against real hardware: ``OBRA_LLM_OLLAMA_URL=http://gpu-box:11434 pytest --record-mode=all``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obra_llm.recording.mode import RecordMode
from tests.support.http_cases import ApiCase, ProviderSpec, open_case
from tests.support.ollama_wire import VERSION, Answer, OllamaWireServer

__all__ = ["OLLAMA", "ollama_case", "quality_answer"]


def quality_answer(request: dict[str, object]) -> Answer:
    """The wire server's canned reply: a scored review, streamed in small pieces."""
    return Answer(
        pieces=["SCORE: 8", "\n", "The change", " validates the port range", " and keeps", " the happy path."],
        prompt_tokens=96,
        completion_tokens=17,
    )


OLLAMA = ProviderSpec(
    provider="ollama",
    server=lambda: OllamaWireServer(default_answer=quality_answer),
    server_module="tests/support/ollama_wire.py",
    imitates=VERSION,
    replay_url="http://localhost:11434",
    url_key="endpoint",
    real_url_variable="OBRA_LLM_OLLAMA_URL",
)


@pytest.fixture
def ollama_case(request: pytest.FixtureRequest, record_mode: RecordMode) -> Iterator[ApiCase]:
    with open_case(OLLAMA, request, record_mode) as case:
        yield case
