"""The ollama provider, replayed from cassettes/http/ollama (re-record: docs/recording.md).

The scenarios every HTTP provider shares are in ``test_http_contract.py``; these are Ollama's own.
"""

from __future__ import annotations

import json

import pytest
from syrupy.assertion import SnapshotAssertion

import obra_llm
from obra_llm import LLMResponseException
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.protocol import GenerateOptions
from obra_llm.providers.ollama import OllamaLLM, OllamaSettings
from tests.support.fakes import FakeClock
from tests.support.http_cases import ApiCase, Maker, ProviderSpec
from tests.support.http_specs import OLLAMA
from tests.support.ollama_wire import Answer, Cut, MidStreamError, Status
from tests.support.wire_calls import request_body

MODEL = OLLAMA.model


@pytest.fixture
def spec() -> ProviderSpec:
    return OLLAMA


def test_generate_maps_every_option(make: Maker) -> None:
    llm = make(context_length=8192, keep_alive="10m")
    answer = llm.generate("Say OK.", system="Be terse.", temperature=0.0, max_tokens=16, stop=["\n\n"], seed=42)
    assert answer


@pytest.mark.wire_only
def test_busy_server_is_retried(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(Status(503, "server busy, please try again.  maximum pending requests exceeded"))
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert len(clock.sleeps) == 1
    assert llm.metrics["retries"] == 1
    assert llm.metrics["calls"] == 1
    assert llm.metrics["errors"] == 0


@pytest.mark.wire_only
def test_error_line_mid_stream_raises(case: ApiCase, make: Maker) -> None:
    case.script(MidStreamError(["SCORE:"], "the model failed to generate a response"))
    llm = make()
    stream = llm.generate_stream("Rate this.")
    assert next(stream) == "SCORE:"
    with pytest.raises(LLMResponseException, match="failed to generate a response"):
        next(stream)
    assert llm.metrics["errors"] == 1


@pytest.mark.wire_only
def test_stream_cut_before_done_raises(case: ApiCase, make: Maker) -> None:
    case.script(Cut(["SCORE: 8", " and then"]))
    llm = make(retry_attempts=1)
    with pytest.raises(LLMResponseException, match="ended before its done:true"):
        list(llm.generate_stream("Rate this."))


@pytest.mark.wire_only
def test_split_utf8_chunks_stream_intact(case: ApiCase, make: Maker) -> None:
    case.script(Answer(pieces=["Schöne ", "Grüße ✓ ", "日本語"], chunk_size=5))
    llm = make()
    assert "".join(llm.generate_stream("Greet me.")) == "Schöne Grüße ✓ 日本語"


def test_model_info_reads_context_length(make: Maker) -> None:
    info = make().get_model_info()
    assert info["provider"] == "ollama"
    assert info["model_name"] == MODEL
    assert info["type"] == "http"
    assert isinstance(info["context_length"], int) and info["context_length"] > 0
    assert info["details"]["trained_context_length"] == info["context_length"]


def test_is_available_names_missing_model(case: ApiCase, make: Maker) -> None:
    llm = make(model="no-such-model:1b")
    assert llm.availability_problem() == (
        f"model 'no-such-model:1b' is not pulled on {case.config['base_url']} (run `ollama pull no-such-model:1b`)"
    )
    assert llm.is_available() is False


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"system": "Be terse.", "temperature": 0.0, "max_tokens": 16, "stop": ["\n\n"], "seed": 42},
    ],
    ids=["defaults", "every-option"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_request_body_snapshot(snapshot: SnapshotAssertion, options: GenerateOptions, stream: bool) -> None:
    settings = OllamaSettings(model=MODEL, context_length=8192, keep_alive="10m")
    body = request_body(OllamaLLM.wire, settings, "Rate this change.", options, stream=stream)
    assert json.loads(json.dumps(body)) == snapshot


def test_create_llm_selects_ollama_by_default() -> None:
    llm = obra_llm.create_llm({"model": MODEL, "api_url": "http://gpu-box:11434"})
    assert isinstance(llm, OllamaLLM)
    assert "gpu-box" in repr(llm)
    llm.close()
