"""The orchestrator-shaped consumer against every registered provider, replayed offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import obra_llm
from obra_llm import LLMPlugin
from obra_llm.demo import DEMO_CONFIGS, demo_recording, replayed_provider
from obra_llm.recording.library import recordings_root
from obra_llm.registry import REGISTRY
from tests.integration.orchestrator_shape import Orchestrator, OrchestratorException, confidence_score
from tests.support.recorded import RECORDED_TYPES

ROOT: Path = recordings_root()


@pytest.mark.parametrize("llm_type", RECORDED_TYPES)
def test_every_provider_has_a_demo_recording(llm_type: str) -> None:
    assert llm_type in DEMO_CONFIGS
    assert demo_recording(ROOT, llm_type).exists()


@pytest.mark.parametrize("llm_type", RECORDED_TYPES)
def test_quality_check_through_each_provider(llm_type: str) -> None:
    with replayed_provider(ROOT, llm_type) as (llm, _provenance):
        orchestrator = Orchestrator({"llm": DEMO_CONFIGS[llm_type]}, factory=lambda _config: llm)
        orchestrator.initialize()
        verdict = orchestrator.check_quality()
        assert verdict.score == 8.0
        assert verdict.passed
        metrics = llm.metrics
        assert metrics["calls"] == 1
        assert metrics["errors"] == 0
        assert metrics["total_tokens"] > 0
        assert isinstance(llm, LLMPlugin)


def test_switching_type_alone_switches_the_provider() -> None:
    classes = set()
    for llm_type in RECORDED_TYPES:
        with replayed_provider(ROOT, llm_type) as (llm, _provenance):
            classes.add(type(llm))
            assert type(llm) is REGISTRY[llm_type]
    assert classes == {REGISTRY[name] for name in RECORDED_TYPES}
    assert len(classes) == len(RECORDED_TYPES) - 1, "only openai-api is an alias (of openai)"


def test_invalid_type_is_reported_with_the_choices() -> None:
    orchestrator = Orchestrator({"llm": {"type": "gpt-banana"}})
    with pytest.raises(OrchestratorException) as caught:
        orchestrator.initialize()
    assert str(caught.value) == f"Invalid LLM type: gpt-banana. Available: {sorted(REGISTRY)}"


def test_the_orchestrators_existing_ollama_config_works_unchanged() -> None:
    existing: dict[str, Any] = {
        "llm": {
            "type": "ollama",
            "model": "qwen2.5-coder:32b",
            "api_url": "http://172.29.144.1:11434",
            "temperature": 0.7,
            "max_tokens": 4096,
            "timeout": 120,
            "retry_attempts": 3,
            "retry_backoff_base": 2.0,
            "retry_backoff_max": 60.0,
        }
    }
    orchestrator = Orchestrator(existing)
    orchestrator.initialize()
    assert type(orchestrator.llm_interface) is REGISTRY["ollama"]
    assert "http://172.29.144.1:11434" in repr(orchestrator.llm_interface)


def test_config_without_type_defaults_to_ollama() -> None:
    llm = obra_llm.create_llm({"api_url": "http://localhost:11434"})
    assert type(llm) is REGISTRY["ollama"]


def test_confidence_score_parsing() -> None:
    assert confidence_score("SCORE: 7\nfine") == 7.0
    with pytest.raises(ValueError, match="no SCORE"):
        confidence_score("looks good")
