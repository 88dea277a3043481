"""Real recordings: the ``llamacpp`` preset, ``openai`` and ``anthropic`` against a real model, replayed.

The cassettes in ``cassettes/http/llama_server/`` were recorded from llama.cpp's llama-server
running SmolLM2-135M-Instruct (their provenance says ``real server: llama.cpp <build> + ...``),
by this module under ``--record-mode=all``; the default run replays them. Re-record with the
command in docs/recording.md ("Re-record against real hardware"); the same command pointed at
another server (``$OBRA_LLM_LIVE_URL``) records that server, and the replay follows the model the
cassette names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import jsonschema
import pytest
import yaml

from obra_llm import create_llm
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.protocol import LLMPlugin, SupportsClose, SupportsStructured
from obra_llm.recording.cassettes import provenance
from obra_llm.recording.mode import RecordMode
from tests.support.http_replay import HTTP_CASSETTES, replayed
from tests.support.live_server import LIVE_REPLAY_URL, REVIEW_SCHEMA, LiveServer

FOLDER = "llama_server"

Maker = Callable[..., LLMPlugin]


@pytest.fixture
def make(request: pytest.FixtureRequest, record_mode: RecordMode) -> Iterator[Maker]:
    """Builds providers (``make("openai", max_tokens=...)``) on the test's cassette, or on the live server when recording."""
    name = request.node.originalname
    if record_mode == "none":
        recorded = yaml.safe_load((HTTP_CASSETTES / FOLDER / f"{name}.yaml").read_text(encoding="utf-8"))
        model = recorded["metadata"]["provenance"]["model"]
        server = LiveServer(url=LIVE_REPLAY_URL, model=model, label="replay", context_length=None)
        made_by = None
    else:
        server = request.getfixturevalue("live")
        made_by = provenance("real-server", how=f"{server.label}, recorded by {request.node.nodeid}", service="llama.cpp", model=server.model)
    made: list[LLMPlugin] = []

    def build(dialect: str, **extra: object) -> LLMPlugin:
        llm = create_llm(server.config(dialect, **extra))
        made.append(llm)
        return llm

    with replayed(FOLDER, name, mode=record_mode, made_by=made_by, secrets=["sk-local"]):
        yield build
        for llm in made:
            if isinstance(llm, SupportsClose):
                llm.close()


def _counted(llm: LLMPlugin) -> None:
    metrics = llm.metrics
    assert metrics["calls"] == 1 and metrics["errors"] == 0
    assert metrics["prompt_tokens"] > 0 and metrics["completion_tokens"] > 0
    assert metrics["total_tokens"] == metrics["prompt_tokens"] + metrics["completion_tokens"]


def _quality_check(llm: LLMPlugin) -> None:
    """The orchestrator's quality check, answered by a real model (whatever it scores)."""
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).strip()
    _counted(llm)


def _streamed_quality_check(llm: LLMPlugin) -> None:
    pieces = list(llm.generate_stream(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM))
    assert len(pieces) > 1 and "".join(pieces).strip()
    _counted(llm)


def test_llamacpp_quality_check(make: Maker) -> None:
    _quality_check(make("llamacpp", max_tokens=64))


def test_llamacpp_streamed_quality_check(make: Maker) -> None:
    _streamed_quality_check(make("llamacpp", max_tokens=64))


def test_llamacpp_structured_review(make: Maker) -> None:
    """The server's grammar made the recorded answer conform on the first attempt (no repair in the cassette)."""
    llm = make("llamacpp", max_tokens=128, structured_repairs=0)
    assert isinstance(llm, SupportsStructured)

    value = llm.generate_structured(QUALITY_CHECK_PROMPT, REVIEW_SCHEMA, system=QUALITY_CHECK_SYSTEM)

    jsonschema.validate(value, REVIEW_SCHEMA)
    _counted(llm)


def test_openai_quality_check(make: Maker) -> None:
    _quality_check(make("openai", max_tokens=64))


def test_openai_streamed_quality_check(make: Maker) -> None:
    _streamed_quality_check(make("openai", max_tokens=64))


def test_anthropic_quality_check(make: Maker) -> None:
    _quality_check(make("anthropic", max_tokens=64))


def test_anthropic_streamed_quality_check(make: Maker) -> None:
    _streamed_quality_check(make("anthropic", max_tokens=64))
