"""The real Gemini CLI, driven through the provider against the local Gemini wire server.

The CLI is pointed at the server with ``GOOGLE_GEMINI_BASE_URL`` and the server's dummy
key; with usage statistics off (the provider's settings) it opens no other connection.
In record mode (``OBRA_LLM_RECORD_MODE=all``) each test rewrites its transcript under
``cassettes/cli/gemini/``; otherwise the fresh run must match the committed one after
normalization, so a CLI release that changes its output fails here first. Every test
checks that the call left no process and no file behind.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from obra_llm.demo import DEMO_CONFIGS
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.errors import (
    AuthenticationError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    RateLimitError,
)
from obra_llm.providers.gemini_cli import GeminiCLI
from obra_llm.recording.transcripts import TranscriptRecorder
from obra_llm.structured import generate_as
from obra_llm.transports.process import SubprocessRunner
from tests.contract.conftest import REPO, live_pids_with_env, pinned_binary, pinned_version, record_or_compare
from tests.support.gemini_wire import (
    VALID_KEY,
    Answer,
    ApiError,
    GeminiWireServer,
    MidStreamError,
    Reply,
    per_day_quota,
    rate_limited,
    service_disabled,
    unavailable,
)
from tests.support.structured_answers import ANSWER_TEXT, Score, Verdict
from tests.support.wire_server import Hang

pytestmark = pytest.mark.contract

CASSETTES = REPO / "cassettes" / "cli" / "gemini"
DEFAULT_BIN = REPO / ".tools" / "gemini" / "node_modules" / ".bin" / "gemini"
PINNED_VERSION = "0.61.0"
MODEL = "gemini-2.5-flash"
#: Variables of the user's own Gemini setup that must not reach the CLI under test.
_USER_VARIABLES = ("GEMINI_CLI_HOME", "GEMINI_MODEL", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GEMINI_SYSTEM_MD")


@pytest.fixture(scope="session")
def gemini_bin() -> str:
    return pinned_binary("OBRA_LLM_GEMINI_BIN", DEFAULT_BIN, "scripts/install-gemini.sh")


@pytest.fixture(scope="session")
def gemini_version(gemini_bin: str) -> str:
    """``gemini --version`` of the binary under test; it must be the pinned one."""
    env = {**os.environ, "GEMINI_CLI_NO_RELAUNCH": "true"}
    return pinned_version(gemini_bin, PINNED_VERSION, "scripts/install-gemini.sh", env)


@pytest.fixture
def stub() -> Iterator[GeminiWireServer]:
    with GeminiWireServer() as running:
        yield running


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory calls make their folders in: empty again after every call."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def keyless(tmp_path: Path, temp_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME and none of the user's Gemini variables: no login, no key."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in (*_USER_VARIABLES, "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def pointed(keyless: Path, stub: GeminiWireServer, monkeypatch: pytest.MonkeyPatch) -> GeminiWireServer:
    """The environment sends the CLI to the stub, with the stub's dummy key."""
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", stub.url.removesuffix("/v1beta"))
    monkeypatch.setenv("GEMINI_API_KEY", VALID_KEY)
    return stub


def _provider(gemini_bin: str, version: str, **config: Any) -> tuple[GeminiCLI, TranscriptRecorder]:
    recorder = TranscriptRecorder(
        SubprocessRunner(),
        source=f"real @google/gemini-cli {version} + local Gemini API stub (tests/support/gemini_wire.py)",
        tool_version=version,
        rules=GeminiCLI.identity.transcript_rules,
    )
    llm = GeminiCLI(runner=recorder)
    llm.initialize({"gemini_command": gemini_bin, "model": MODEL, "retry_attempts": 1, "timeout": 60, **config})
    return llm, recorder


def _prompt(scenario: str) -> str:
    return f"contract scenario: {scenario}"


def _nothing_left(stub: GeminiWireServer, temp_root: Path) -> None:
    assert live_pids_with_env(f"GOOGLE_GEMINI_BASE_URL={stub.url.removesuffix('/v1beta')}") == []
    assert list(temp_root.iterdir()) == []


def test_success(gemini_bin: str, gemini_version: str, pointed: GeminiWireServer, temp_root: Path) -> None:
    llm, recorder = _provider(gemini_bin, gemini_version)

    answer = llm.generate(_prompt("success"), system="You review code.")

    assert answer == "SCORE: 8\nThe change validates the port range and keeps the happy path."
    assert (llm.metrics["prompt_tokens"], llm.metrics["completion_tokens"]) == (96, 17)
    [request] = pointed.requests
    assert request.path == f"/models/{MODEL}:streamGenerateContent"
    assert request.body["systemInstruction"]["parts"] == [{"text": "You review code."}]
    assert request.body["tools"] == [{"functionDeclarations": []}]
    assert request.body["contents"][0]["parts"][-1] == {"text": _prompt("success")}
    assert "Directory Structure" in request.body["contents"][0]["parts"][0]["text"]
    _nothing_left(pointed, temp_root)
    record_or_compare(recorder.transcripts[-1], CASSETTES / "success.json")


def test_stream(gemini_bin: str, gemini_version: str, pointed: GeminiWireServer, temp_root: Path) -> None:
    pointed.queue(Answer(pieces=["Hel", "lo", " there"]))
    llm, recorder = _provider(gemini_bin, gemini_version)

    assert list(llm.generate_stream(_prompt("stream"))) == ["Hel", "lo", " there"]

    assert llm.metrics["completion_tokens"] == 17
    _nothing_left(pointed, temp_root)
    record_or_compare(recorder.transcripts[-1], CASSETTES / "stream.json")


def test_temperature_and_max_tokens_reach_the_request(
    gemini_bin: str, gemini_version: str, pointed: GeminiWireServer, temp_root: Path
) -> None:
    llm, recorder = _provider(gemini_bin, gemini_version, temperature=0.2)

    llm.generate(_prompt("options"), max_tokens=64)

    config = pointed.requests[0].body["generationConfig"]
    assert (config["temperature"], config["maxOutputTokens"]) == (0.2, 64)
    _nothing_left(pointed, temp_root)
    record_or_compare(recorder.transcripts[-1], CASSETTES / "options.json")


@pytest.mark.parametrize(
    ("scenario", "reply", "expected", "retryable", "exit_code"),
    [
        ("rate_limited", rate_limited(), RateLimitError, True, 173),
        ("daily_quota", per_day_quota(), RateLimitError, False, 173),
        ("overloaded", unavailable(), LLMResponseException, True, 247),
        ("server_error", ApiError(500, "INTERNAL", "The stub failed on purpose."), LLMResponseException, True, 244),
        ("service_disabled", service_disabled(), AuthenticationError, False, 147),
        ("mid_stream_error", MidStreamError(["Hel"], unavailable()), LLMResponseException, True, 1),
        ("stream_cut", Answer(pieces=["Hello ", "wor"], finish_reason=""), LLMResponseException, True, 0),
    ],
)
def test_failures(
    gemini_bin: str,
    gemini_version: str,
    pointed: GeminiWireServer,
    temp_root: Path,
    scenario: str,
    reply: Reply,
    expected: type[LLMException],
    retryable: bool,
    exit_code: int,
) -> None:
    pointed.queue(reply)
    llm, recorder = _provider(gemini_bin, gemini_version)

    with pytest.raises(expected) as caught:
        llm.generate(_prompt(scenario))

    assert type(caught.value) is expected
    assert caught.value.retryable is retryable
    assert caught.value.exit_code == exit_code
    assert len(pointed.requests) == 1, "the CLI retried on its own"
    assert llm.metrics["errors"] == 1
    _nothing_left(pointed, temp_root)
    record_or_compare(recorder.transcripts[-1], CASSETTES / f"{scenario}.json")


def test_a_cut_stream_is_not_an_answer_when_streaming(
    gemini_bin: str, gemini_version: str, pointed: GeminiWireServer, temp_root: Path
) -> None:
    pointed.queue(Answer(pieces=["Hello ", "wor"], finish_reason=""))
    llm, _ = _provider(gemini_bin, gemini_version, retry_attempts=3)
    pieces: list[str] = []

    with pytest.raises(LLMResponseException, match="finish reason"):
        pieces.extend(llm.generate_stream(_prompt("stream cut")))

    assert pieces == ["Hello ", "wor"]
    assert len(pointed.requests) == 1, "a stream that already gave pieces is not retried"
    _nothing_left(pointed, temp_root)


def test_refused_key(
    gemini_bin: str, gemini_version: str, pointed: GeminiWireServer, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "not-the-stub-key")
    llm, recorder = _provider(gemini_bin, gemini_version)

    with pytest.raises(AuthenticationError, match="GEMINI_API_KEY") as caught:
        llm.generate(_prompt("refused key"))

    assert (caught.value.exit_code, caught.value.status_code) == (144, 400)
    assert "not-the-stub-key" not in str(caught.value)
    assert all("not-the-stub-key" not in line.line for line in recorder.transcripts[-1].stdout)
    _nothing_left(pointed, temp_root)
    record_or_compare(recorder.transcripts[-1], CASSETTES / "refused_key.json")


def test_model_not_found(gemini_bin: str, gemini_version: str, pointed: GeminiWireServer, temp_root: Path) -> None:
    llm, recorder = _provider(gemini_bin, gemini_version, model="gemini-nope")

    with pytest.raises(ModelNotFoundError, match="gemini-nope") as caught:
        llm.generate(_prompt("model not found"))

    assert caught.value.exit_code == 1
    _nothing_left(pointed, temp_root)
    record_or_compare(recorder.transcripts[-1], CASSETTES / "model_not_found.json")


def test_unreachable_api(
    gemini_bin: str, gemini_version: str, keyless: Path, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with GeminiWireServer() as closed:
        base = closed.url.removesuffix("/v1beta")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", base)
    monkeypatch.setenv("GEMINI_API_KEY", VALID_KEY)
    llm, _ = _provider(gemini_bin, gemini_version)

    with pytest.raises(LLMConnectionException, match="fetch failed") as caught:
        llm.generate(_prompt("unreachable"))

    assert caught.value.retryable is True
    assert list(temp_root.iterdir()) == []


def test_server_never_answers(gemini_bin: str, gemini_version: str, pointed: GeminiWireServer, temp_root: Path) -> None:
    pointed.queue(Hang(60))
    llm, recorder = _provider(gemini_bin, gemini_version, timeout=20)
    started = time.monotonic()

    with pytest.raises(LLMTimeoutException):
        llm.generate(_prompt("hang"))

    assert time.monotonic() - started < 25
    assert len(pointed.requests) == 1, "the CLI reached the server, which never answered"
    assert llm.metrics["timeouts"] == 1
    _nothing_left(pointed, temp_root)
    # What the CLI printed before it was killed depends on how fast it started: not compared.
    record_or_compare(attrs.evolve(recorder.transcripts[-1], stdout=()), CASSETTES / "timeout.json")


def test_no_credentials_fail_fast_naming_the_fix(gemini_bin: str, gemini_version: str, keyless: Path) -> None:
    llm, recorder = _provider(gemini_bin, gemini_version)

    problem = llm.availability_problem()

    assert problem is not None
    assert "GEMINI_API_KEY" in problem
    assert "Sign in with Google" in problem
    with pytest.raises(AuthenticationError, match="GEMINI_API_KEY"):
        llm.generate(_prompt("no credentials"))
    assert recorder.transcripts == [], "nothing is run without credentials"


def test_demo_quality_check(
    gemini_bin: str, gemini_version: str, keyless: Path, stub: GeminiWireServer, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transcript ``obra-llm demo`` replays: the quality check, the key from the config alone."""
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", stub.url.removesuffix("/v1beta"))
    llm, recorder = _provider(gemini_bin, gemini_version, **DEMO_CONFIGS["gemini-cli"])

    answer = llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)

    assert answer.startswith("SCORE: 8")
    assert stub.requests[0].headers["x-goog-api-key"] == VALID_KEY
    assert llm.metrics["total_tokens"] == 113
    _nothing_left(stub, temp_root)
    record_or_compare(recorder.transcripts[-1], CASSETTES / "demo.json")


def test_available_and_model_info(gemini_bin: str, gemini_version: str, pointed: GeminiWireServer) -> None:
    llm, _ = _provider(gemini_bin, gemini_version)
    started = time.monotonic()

    assert llm.is_available()

    assert time.monotonic() - started < 1
    info = llm.get_model_info()
    assert (info["provider"], info["model_name"], info["version"]) == ("gemini-cli", MODEL, gemini_version)


def test_structured_score_by_instructions(gemini_bin: str, gemini_version: str, pointed: GeminiWireServer, temp_root: Path) -> None:
    """Gemini CLI has no schema option: the schema goes into the prompt, the answer is validated."""
    llm, recorder = _provider(gemini_bin, gemini_version)

    assert generate_as(llm, _prompt("structured"), Score) == Score(8, Verdict.ACCEPT, [ANSWER_TEXT])

    [request] = pointed.requests
    assert "responseJsonSchema" not in request.body.get("generationConfig", {})
    assert "conforms to this JSON Schema:" in request.body["contents"][-1]["parts"][-1]["text"]
    _nothing_left(pointed, temp_root)
    record_or_compare(recorder.transcripts[-1], CASSETTES / "structured.json")
