"""What every HTTP provider must do, replayed from each one's cassettes in cassettes/http/<provider>/.

One scenario, six providers: the orchestrator's quality check (whole and streamed, with
usage in ``metrics``), a model the API does not have, availability, and the recording the
offline demo replays. What only one API does lives in its own ``test_<provider>.py``.

Re-record one provider with its own module: ``OPENAI_API_KEY=... .venv/bin/python -m pytest
tests/providers/test_openai.py tests/providers/test_http_contract.py -k openai --record-mode=all``
(``OBRA_LLM_OLLAMA_URL=http://gpu-box:11434`` for Ollama); without credentials the local
wire servers are recorded, and the cassettes say so (docs/recording.md).
"""

from __future__ import annotations

import pytest

from obra_llm import ModelNotFoundError
from obra_llm.demo import DEMO_CONFIGS
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from tests.support.fakes import FakeClock
from tests.support.http_cases import ApiCase, Maker, ProviderSpec
from tests.support.http_specs import HTTP_SPECS


@pytest.fixture(params=HTTP_SPECS, ids=[spec.provider for spec in HTTP_SPECS])
def spec(request: pytest.FixtureRequest) -> ProviderSpec:
    chosen: ProviderSpec = request.param
    return chosen


def test_generate_plain(make: Maker) -> None:
    llm = make()
    answer = llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)
    assert answer.startswith("SCORE:")
    metrics = llm.metrics
    assert metrics["calls"] == 1 and metrics["errors"] == 0
    assert metrics["prompt_tokens"] > 0 and metrics["completion_tokens"] > 0
    assert metrics["total_tokens"] == metrics["prompt_tokens"] + metrics["completion_tokens"]


def test_generate_stream(make: Maker) -> None:
    llm = make()
    pieces = list(llm.generate_stream(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM))
    assert len(pieces) > 1, "a streamed answer arrives in several pieces"
    assert "".join(pieces).startswith("SCORE:")
    metrics = llm.metrics
    assert metrics["calls"] == 1 and metrics["errors"] == 0
    assert metrics["prompt_tokens"] > 0 and metrics["completion_tokens"] > 0, "usage is read from the stream"


def test_model_not_found(spec: ProviderSpec, make: Maker, clock: FakeClock) -> None:
    if spec.missing_model is None:  # the server serves its one model whatever is asked
        assert make(model="any-name-at-all").generate("hello").startswith("SCORE:")
        return
    llm = make(model=spec.missing_model)
    with pytest.raises(ModelNotFoundError) as caught:
        llm.generate("hello")
    error = caught.value
    assert f"'{spec.missing_model}'" in str(error)
    assert spec.missing_model_hint in str(error)
    assert error.provider == spec.provider
    assert error.status_code == spec.missing_model_status
    assert error.retryable is False
    assert clock.sleeps == [], "a missing model is not retried"
    assert llm.metrics["errors"] == 1


def test_is_available(make: Maker) -> None:
    assert make().is_available() is True


def test_list_models(spec: ProviderSpec, make: Maker) -> None:
    listed = make().list_models()
    assert listed, "the server's model list (obra-llm models)"
    assert all(listed), "every id is a non-empty string"
    if spec.missing_model is not None:
        assert spec.missing_model not in listed


@pytest.mark.cassette("demo")
def test_demo_recording(spec: ProviderSpec, case: ApiCase, make: Maker) -> None:
    llm = make(**(dict(DEMO_CONFIGS[spec.provider]) | case.config))
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE:")
