"""The real Claude Code CLI, driven through the provider against the local Messages stub.

Each test's environment holds an empty ``HOME``, the stub's URL and a key for it, and none
of the user's Claude credentials or settings variables, so the user's login is never used. In record mode (``OBRA_LLM_RECORD_MODE=all``)
each test rewrites its transcript under ``cassettes/cli/claude-code/``; otherwise the fresh
run must match the committed transcript after normalization, so a CLI release that changes
its output fails here first.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
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
    StructuredAnswerError,
)
from obra_llm.providers.claude_code import ClaudeCodeCLI
from obra_llm.recording.transcripts import TranscriptRecorder
from obra_llm.structured import generate_as, schema_of
from obra_llm.transports.process import SubprocessRunner
from tests.contract.conftest import REPO, claude_home, live_pids_with_env, record_or_compare
from tests.support.anthropic_wire import DEFAULT_KEY, QUALITY_ANSWER
from tests.support.claude_code_stub import USAGE_LIMIT_RESET, ClaudeCodeStub
from tests.support.structured_answers import ANSWER_TEXT, Score, Verdict

pytestmark = pytest.mark.contract

CASSETTES = REPO / "cassettes" / "cli" / "claude-code"
MODEL = "claude-sonnet-4-5"


@pytest.fixture
def stub() -> Iterator[ClaudeCodeStub]:
    with ClaudeCodeStub() as running:
        yield running


@pytest.fixture
def home(tmp_path: Path, stub: ClaudeCodeStub, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``HOME``, the stub as the CLI's API with its key, nothing of the user's Claude setup."""
    return claude_home(tmp_path, monkeypatch, base_url=stub.url, key=DEFAULT_KEY)


def _provider(claude_bin: str, version: str, **config: object) -> tuple[ClaudeCodeCLI, TranscriptRecorder]:
    recorder = TranscriptRecorder(
        SubprocessRunner(),
        source=f"real Claude Code {version.split()[0]} + local Messages stub (tests/support/claude_code_stub.py)",
        tool_version=version,
        rules=ClaudeCodeCLI.identity.transcript_rules,
    )
    llm = ClaudeCodeCLI(runner=recorder)
    llm.initialize({"claude_command": claude_bin, "model": MODEL, "retry_attempts": 1, "timeout": 30, **config})
    return llm, recorder


def _scratch_dirs() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("obra-claude-")}


def test_success(claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path) -> None:
    llm, recorder = _provider(claude_bin, claude_version)
    before = _scratch_dirs()

    assert llm.generate("contract scenario: success", system="Answer in one line.") == "Hello from the stub"

    assert (llm.metrics["prompt_tokens"], llm.metrics["completion_tokens"]) == (42, 7)
    [request] = stub.messages
    body = request.body
    assert body["model"] == MODEL
    assert body["tools"] == []
    assert body["stream"] is True
    assert body["system"][-1]["text"] == "Answer in one line."
    assert "contract scenario: success" in str(body["messages"])
    assert list(home.iterdir()) == []  # the CLI wrote only into its own, removed, config dir
    assert _scratch_dirs() <= before  # none new: another process's may have gone meanwhile
    record_or_compare(recorder.transcripts[-1], CASSETTES / "success.json")


def test_stream(claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path) -> None:
    llm, recorder = _provider(claude_bin, claude_version)

    assert list(llm.generate_stream("contract scenario: stream")) == ["Hello", " from", " the stub"]

    assert llm.metrics["total_tokens"] == 49
    record_or_compare(recorder.transcripts[-1], CASSETTES / "stream.json")


def test_max_tokens_caps_the_request(claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path) -> None:
    llm, recorder = _provider(claude_bin, claude_version)

    assert llm.generate("contract scenario: max tokens", max_tokens=500) == "Hello from the stub"

    assert stub.messages[0].body["max_tokens"] == 500
    record_or_compare(recorder.transcripts[-1], CASSETTES / "max_tokens.json")


@pytest.mark.parametrize(
    ("failure", "expected", "retryable", "status"),
    [
        ("unauthorized", AuthenticationError, False, 401),
        ("rate_limited", RateLimitError, True, 429),
        ("server_error", LLMResponseException, True, 500),
        ("overloaded", LLMResponseException, True, 529),
        ("stream_cut", LLMResponseException, True, None),
    ],
)
def test_failures(
    claude_bin: str,
    claude_version: str,
    stub: ClaudeCodeStub,
    home: Path,
    failure: str,
    expected: type[LLMException],
    retryable: bool,
    status: int | None,
) -> None:
    stub.failure = failure
    llm, recorder = _provider(claude_bin, claude_version)
    started = time.monotonic()

    with pytest.raises(expected) as caught:
        llm.generate(f"contract scenario: {failure}")

    assert type(caught.value) is expected
    assert caught.value.retryable is retryable
    assert (caught.value.status_code, caught.value.exit_code) == (status, 1)
    assert len(stub.messages) == 1  # the CLI's own retries and non-streaming fallback are off
    assert time.monotonic() - started < 10
    assert llm.metrics["errors"] == 1
    record_or_compare(recorder.transcripts[-1], CASSETTES / f"{failure}.json")


def test_usage_limit_of_a_subscription(
    claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.failure = "usage_limit"
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", DEFAULT_KEY)  # what `claude setup-token` gives a subscriber
    llm, recorder = _provider(claude_bin, claude_version, retry_attempts=3)

    with pytest.raises(RateLimitError, match="usage limit is reached: You've hit your 5-hour limit") as caught:
        llm.generate("contract scenario: usage limit")

    assert caught.value.retryable is False
    assert caught.value.retry_after is not None
    assert abs(time.time() + caught.value.retry_after - USAGE_LIMIT_RESET) < 60
    assert stub.messages[0].headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    assert llm.metrics["retries"] == 0
    record_or_compare(recorder.transcripts[-1], CASSETTES / "usage_limit.json")


def test_model_not_found(claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path) -> None:
    llm, recorder = _provider(claude_bin, claude_version, model="claude-nope-1")

    with pytest.raises(ModelNotFoundError, match="claude-nope-1") as caught:
        llm.generate("contract scenario: model not found")

    assert caught.value.status_code == 404
    assert [request.body["stream"] for request in stub.messages] == [True, False]  # the CLI asks twice on a 404
    record_or_compare(recorder.transcripts[-1], CASSETTES / "model_not_found.json")


def test_server_never_answers(claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path) -> None:
    stub.failure = "hang"
    llm, recorder = _provider(claude_bin, claude_version, timeout=2)
    before = _scratch_dirs()
    started = time.monotonic()

    with pytest.raises(LLMTimeoutException):
        llm.generate("contract scenario: hang")

    assert time.monotonic() - started < 5
    assert live_pids_with_env(f"ANTHROPIC_BASE_URL={stub.url}") == []
    assert _scratch_dirs() <= before  # none new: another process's may have gone meanwhile
    assert llm.metrics["timeouts"] == 1
    record_or_compare(recorder.transcripts[-1], CASSETTES / "timeout.json", stdout=False)


def test_not_logged_in_fails_fast(
    claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    llm, recorder = _provider(claude_bin, claude_version)
    started = time.monotonic()

    problem = llm.availability_problem()

    assert time.monotonic() - started < 1.5
    assert problem is not None and "claude setup-token" in problem and "ANTHROPIC_API_KEY" in problem
    with pytest.raises(AuthenticationError, match="claude setup-token"):
        llm.generate("never sent")
    assert [transcript.argv[1:] for transcript in recorder.transcripts] == [("--version",)]
    assert stub.messages == []


def test_available(claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path) -> None:
    llm, recorder = _provider(claude_bin, claude_version)

    assert llm.is_available()

    assert llm.get_model_info()["version"] == claude_version
    record_or_compare(recorder.transcripts[0], CASSETTES / "version.json")


def test_demo_quality_check(claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path) -> None:
    """The transcript ``obra-llm demo`` replays: the quality check, answered by the stub."""
    stub.answer = QUALITY_ANSWER
    config = {key: value for key, value in DEMO_CONFIGS["claude-code"].items() if key != "type"}
    llm, recorder = _provider(claude_bin, claude_version, **config)

    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM) == "".join(QUALITY_ANSWER.pieces)

    assert llm.metrics["total_tokens"] == 113
    record_or_compare(recorder.transcripts[-1], CASSETTES / "demo.json")


def test_structured_score(claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path) -> None:
    """``--json-schema``: the CLI offers the model a StructuredOutput tool whose input is the schema."""
    llm, recorder = _provider(claude_bin, claude_version)

    assert generate_as(llm, "contract scenario: structured", Score) == Score(8, Verdict.ACCEPT, [ANSWER_TEXT])

    [request] = stub.messages
    [tool] = request.body["tools"]
    assert (tool["name"], tool["input_schema"]) == ("StructuredOutput", schema_of(Score)), "--json-schema reached the API"
    assert "--json-schema" in recorder.transcripts[-1].argv
    assert llm.metrics["structured_repairs"] == 0
    record_or_compare(recorder.transcripts[-1], CASSETTES / "structured.json")


def test_structured_text_instead_of_the_tool_is_repaired_then_refused(
    claude_bin: str, claude_version: str, stub: ClaudeCodeStub, home: Path
) -> None:
    """A model that answers text instead of calling StructuredOutput: the CLI's enforcing turn exceeds --max-turns 1."""
    llm, recorder = _provider(claude_bin, claude_version)

    with pytest.raises(StructuredAnswerError, match="not JSON") as caught:
        generate_as(llm, "contract scenario: structured_text", Score)

    assert caught.value.raw_text == "Hello from the stub"
    assert len(stub.messages) == 2 and llm.metrics["structured_repairs"] == 1
    first, repair = recorder.transcripts[-2:]
    assert "Your previous answer was:\nHello from the stub" in repair.stdin
    record_or_compare(first, CASSETTES / "structured_text.json")
    record_or_compare(repair, CASSETTES / "structured_text_repair.json")
