"""The real Codex CLI, driven through the provider against the local Responses stub.

In record mode (``OBRA_LLM_RECORD_MODE=all``) each test rewrites its transcript under
``cassettes/cli/codex/``; otherwise the fresh run must match the committed transcript
after normalization, so a CLI release that changes its output fails here first.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from obra_llm.demo import DEMO_CONFIGS
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.errors import (
    AuthenticationError,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    RateLimitError,
)
from obra_llm.providers.codex import CodexCLI
from obra_llm.recording.transcripts import Transcript, TranscriptRecorder
from obra_llm.transports.process import SubprocessRunner
from tests.contract.conftest import REPO, live_pids_with_env, record_or_compare
from tests.support.responses_stub import ResponsesStub, Scenario
from tests.support.structured_answers import ANSWER_TEXT, SCORE_SCHEMA

pytestmark = pytest.mark.contract

CASSETTES = REPO / "cassettes" / "cli" / "codex"


def _provider(codex_bin: str, version: str, **config: object) -> tuple[CodexCLI, TranscriptRecorder]:
    recorder = TranscriptRecorder(
        SubprocessRunner(),
        source=f"real {version} + local Responses stub (tests/support/responses_stub.py)",
        tool_version=version,
        rules=CodexCLI.identity.transcript_rules,
    )
    llm = CodexCLI(runner=recorder)
    llm.initialize({"codex_command": codex_bin, "retry_attempts": 1, "timeout": 30, **config})
    return llm, recorder


def _record_or_compare(transcript: Transcript, name: str) -> None:
    record_or_compare(transcript, CASSETTES / f"{name}.json")


def _prompt(scenario: str) -> str:
    return f"contract scenario: {scenario}"


def test_success(codex_bin: str, codex_version: str, stub_home: Path, stub: ResponsesStub) -> None:
    llm, recorder = _provider(codex_bin, codex_version)

    assert llm.generate(_prompt("success")) == "Hello"

    assert llm.metrics["total_tokens"] == 49
    assert (llm.metrics["prompt_tokens"], llm.metrics["completion_tokens"]) == (42, 7)
    assert stub.requests[0]["model"] == "stub-model"
    assert _prompt("success") in str(stub.requests[0]["input"])
    _record_or_compare(recorder.transcripts[-1], "success")


def test_structured_score(codex_bin: str, codex_version: str, stub_home: Path, stub: ResponsesStub) -> None:
    llm, recorder = _provider(codex_bin, codex_version)

    assert llm.generate_structured(_prompt("structured"), SCORE_SCHEMA) == {"score": 8, "verdict": "accept", "reasons": [ANSWER_TEXT]}

    sent = stub.requests[0]["text"]["format"]
    assert (sent["type"], sent["strict"], sent["schema"]) == ("json_schema", True, SCORE_SCHEMA), "--output-schema reached the API"
    assert "--output-schema" in recorder.transcripts[-1].argv
    _record_or_compare(recorder.transcripts[-1], "structured")


def test_stream_success(codex_bin: str, codex_version: str, stub_home: Path, stub: ResponsesStub) -> None:
    llm, recorder = _provider(codex_bin, codex_version)

    assert list(llm.generate_stream(_prompt("stream"))) == ["Hello"]

    _record_or_compare(recorder.transcripts[-1], "stream")


@pytest.mark.parametrize(
    ("scenario", "expected", "retryable"),
    [
        ("server_error", LLMResponseException, True),
        ("rate_limited", RateLimitError, True),
        ("unauthorized", AuthenticationError, False),
        ("model_not_found", ModelNotFoundError, False),
        ("stream_cut", LLMResponseException, True),
    ],
)
def test_failures(
    codex_bin: str,
    codex_version: str,
    stub_home: Path,
    stub: ResponsesStub,
    scenario: Scenario,
    expected: type[LLMException],
    retryable: bool,
) -> None:
    stub.scenario = scenario
    llm, recorder = _provider(codex_bin, codex_version)

    with pytest.raises(expected) as caught:
        llm.generate(_prompt(scenario))

    assert type(caught.value) is expected
    assert caught.value.retryable is retryable
    assert caught.value.exit_code == 1
    assert llm.metrics["errors"] == 1
    _record_or_compare(recorder.transcripts[-1], scenario)


def test_server_never_answers(codex_bin: str, codex_version: str, stub_home: Path, stub: ResponsesStub) -> None:
    stub.scenario = "hang"
    llm, recorder = _provider(codex_bin, codex_version, timeout=2)
    started = time.monotonic()

    with pytest.raises(LLMTimeoutException):
        llm.generate(_prompt("hang"))

    assert time.monotonic() - started < 5
    assert live_pids_with_env(f"CODEX_HOME={stub_home}") == []
    assert llm.metrics["timeouts"] == 1
    record_or_compare(recorder.transcripts[-1], CASSETTES / "timeout.json", stdout=False)


def test_not_logged_in(codex_bin: str, codex_version: str, codex_home: Path) -> None:
    llm, recorder = _provider(codex_bin, codex_version)
    started = time.monotonic()

    problem = llm.availability_problem()

    assert time.monotonic() - started < 1.5
    assert problem is not None
    assert "codex login" in problem
    assert "OPENAI_API_KEY" in problem
    with pytest.raises(AuthenticationError, match="codex login"):
        llm.generate(_prompt("not logged in"))
    login = [t for t in recorder.transcripts if t.argv[1:] == ("login", "status")][-1]
    _record_or_compare(login, "login_status_not_logged_in")


def test_available_with_stub_provider(codex_bin: str, codex_version: str, stub_home: Path) -> None:
    llm, recorder = _provider(codex_bin, codex_version)

    assert llm.is_available()

    assert llm.get_model_info()["version"] == codex_version
    _record_or_compare(recorder.transcripts[0], "version")


def test_demo_quality_check(codex_bin: str, codex_version: str, codex_home: Path) -> None:
    """The transcript ``obra-llm demo`` replays: the quality check, answered by the stub."""
    answer = "SCORE: 8\nThe change validates the port range and keeps the happy path."
    with ResponsesStub(answer=answer, input_tokens=96, output_tokens=17) as stub:
        (codex_home / "config.toml").write_text(
            f'model_provider = "stub"\n\n[model_providers.stub]\nname = "stub"\nbase_url = "{stub.base_url}"\n'
            'wire_api = "responses"\nrequest_max_retries = 0\nstream_max_retries = 0\n',
            encoding="utf-8",
        )
        llm, recorder = _provider(codex_bin, codex_version, **DEMO_CONFIGS["openai-codex"])
        assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM) == answer
        assert stub.requests[0]["model"] == DEMO_CONFIGS["openai-codex"]["model"]
    assert llm.metrics["total_tokens"] == 113
    _record_or_compare(recorder.transcripts[-1], "demo")
