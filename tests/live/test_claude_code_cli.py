"""The real Claude Code CLI against a real model: llama-server's Anthropic Messages API with SmolLM2-135M.

The CLI is pointed at the server with ``ANTHROPIC_BASE_URL`` and a placeholder key (the server
checks none), from an empty ``HOME``. Its default coding-agent prompt is replaced by the
provider's system prompt, and the answer is capped (``max_tokens``, the CLI's
``CLAUDE_CODE_MAX_OUTPUT_TOKENS``): a 135M model would otherwise write up to the CLI's 32,000.
The assertions are on structure and usage, not on the model's words.

In record mode (``--record-mode=all`` or ``OBRA_LLM_RECORD_MODE=all``) each run is saved as a
real transcript (``cassettes/cli/claude-code/live_*.json``, provenance ``real Claude Code
<version> + real server: llama.cpp <build> + SmolLM2-135M-Instruct``); tests/providers/test_claude_code.py
replays them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from obra_llm.errors import LLMResponseException
from obra_llm.llama_server import LOCAL_KEY
from obra_llm.providers.claude_code import ClaudeCodeCLI
from obra_llm.recording.mode import RecordMode
from obra_llm.recording.transcripts import TranscriptRecorder
from obra_llm.transports.process import SubprocessRunner
from tests.contract.conftest import REPO, claude_home, recording
from tests.support.live_server import (
    CLAUDE_MAX_TOKENS,
    CLAUDE_SETTINGS,
    CLAUDE_SYSTEM,
    QUESTION,
    STREAM_QUESTION,
    LiveServer,
    assert_one_call_counted,
    skip_unless_installed,
    tokenize,
)

pytestmark = pytest.mark.live
skip_unless_installed()

CASSETTES = REPO / "cassettes" / "cli" / "claude-code"
#: Seconds per run, for a busy 2-core machine.
TIMEOUT = 300


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live: LiveServer) -> Path:
    return claude_home(tmp_path, monkeypatch, base_url=live.url, key=LOCAL_KEY)


def _claude(claude_bin: str, version: str, live: LiveServer, **extra: object) -> tuple[ClaudeCodeCLI, TranscriptRecorder]:
    recorder = TranscriptRecorder(
        SubprocessRunner(),
        source=f"real Claude Code {version.split()[0]} + {live.label}",
        tool_version=version,
        rules=ClaudeCodeCLI.identity.transcript_rules,
        substitutions={LOCAL_KEY: "<KEY>"},
    )
    llm = ClaudeCodeCLI(runner=recorder)
    llm.initialize({"claude_command": claude_bin, "timeout": TIMEOUT, **CLAUDE_SETTINGS, **extra})
    return llm, recorder


def _counted(llm: ClaudeCodeCLI, live: LiveServer, answer: str) -> None:
    system = tokenize(live, CLAUDE_SYSTEM) or len(CLAUDE_SYSTEM.split())  # a server without a tokenizer: a word is a token at least
    assert_one_call_counted(llm.metrics, live, answer, prompt_over=system, completion_cap=CLAUDE_MAX_TOKENS)


def test_generate_through_the_messages_api(
    claude_bin: str, claude_version: str, home: Path, live: LiveServer, record_mode: RecordMode
) -> None:
    llm, recorder = _claude(claude_bin, claude_version, live)

    answer = llm.generate(QUESTION, system=CLAUDE_SYSTEM)

    assert answer.strip(), "a real model answers something"
    _counted(llm, live, answer)
    assert list(home.iterdir()) == [], "the CLI wrote only into its own, removed, config dir"
    [run] = recorder.transcripts
    assert run.exit_code == 0 and not run.timed_out
    if recording(CASSETTES / "live_generate.json", record_mode):
        run.save(CASSETTES / "live_generate.json")


def test_stream_through_the_messages_api(
    claude_bin: str, claude_version: str, home: Path, live: LiveServer, record_mode: RecordMode
) -> None:
    llm, recorder = _claude(claude_bin, claude_version, live)

    pieces = list(llm.generate_stream(STREAM_QUESTION, system=CLAUDE_SYSTEM))

    assert len(pieces) > 1, "a real server streams token by token, and the CLI passes each piece on"
    assert "".join(pieces).strip()
    _counted(llm, live, "".join(pieces))
    [run] = recorder.transcripts
    assert run.exit_code == 0 and not run.timed_out
    if recording(CASSETTES / "live_stream.json", record_mode):
        run.save(CASSETTES / "live_stream.json")


def test_an_answer_past_max_tokens_fails_naming_the_cap(
    claude_bin: str, claude_version: str, home: Path, live: LiveServer
) -> None:
    """Claude Code does not hand back a cut answer: a model stopped by the cap is its error, not retried.

    Retries are on here: under load this run has twice ended with the CLI's transient "Connection
    dropped (ECONNRESET)" instead (cause not found yet), which obra_llm rightly retries.
    """
    llm, _ = _claude(claude_bin, claude_version, live, retry_attempts=3)

    with pytest.raises(LLMResponseException, match="exceeded the 8 output token maximum") as caught:
        llm.generate("Write a long story about a lighthouse keeper and the sea.", system=CLAUDE_SYSTEM, max_tokens=8)

    assert caught.value.retryable is False, "the cap is not retried: the same request would be cut again"
    assert llm.metrics["calls"] == 1 and llm.metrics["errors"] == 1
