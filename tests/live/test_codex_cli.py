"""The real Codex CLI against a real model: llama-server's Responses API with SmolLM2-135M.

The CLI gets the server as a keyless custom model provider (``provider_config("openai-codex", ...)``):
no login, no key, its own retries off. It sends its own agent prompt (about 4,600 tokens) and
cannot cap the answer, so the live server caps every answer (``OUTPUT_CAP``) and each run gets a
generous timeout: the first run evaluates the whole prompt, later ones reuse the server's prompt
cache. A 135M model's words are not a contract: the assertions are on structure and usage.

In record mode (``--record-mode=all`` or ``OBRA_LLM_RECORD_MODE=all``) each run is saved as a
real transcript (``cassettes/cli/codex/live_*.json``, provenance ``real codex-cli <version> +
real server: llama.cpp <build> + SmolLM2-135M-Instruct``); tests/providers/test_codex.py replays them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from obra_llm.providers.codex import CodexCLI
from obra_llm.recording.mode import RecordMode
from obra_llm.recording.transcripts import TranscriptRecorder
from obra_llm.transports.process import SubprocessRunner
from tests.contract.conftest import REPO, recording
from tests.support.live_server import (
    QUESTION,
    STREAM_QUESTION,
    LiveServer,
    assert_one_call_counted,
    skip_unless_installed,
)

pytestmark = pytest.mark.live
skip_unless_installed()

CASSETTES = REPO / "cassettes" / "cli" / "codex"
#: Seconds per run: the first one evaluates the CLI's whole prompt, minutes on two busy cores.
TIMEOUT = 900
#: The CLI's own instructions and tool definitions are most of every prompt.
MIN_AGENT_PROMPT = 1000


def _codex(codex_bin: str, version: str, live: LiveServer) -> tuple[CodexCLI, TranscriptRecorder]:
    recorder = TranscriptRecorder(
        SubprocessRunner(), source=f"real {version} + {live.label}", tool_version=version, rules=CodexCLI.identity.transcript_rules
    )
    llm = CodexCLI(runner=recorder)
    llm.initialize(live.config("openai-codex", codex_command=codex_bin, timeout=TIMEOUT))
    return llm, recorder


def _counted(llm: CodexCLI, live: LiveServer, answer: str) -> None:
    assert_one_call_counted(llm.metrics, live, answer, prompt_over=MIN_AGENT_PROMPT, completion_cap=live.output_cap)


def test_generate_through_the_responses_api(
    codex_bin: str, codex_version: str, codex_home: Path, live: LiveServer, record_mode: RecordMode
) -> None:
    llm, recorder = _codex(codex_bin, codex_version, live)

    answer = llm.generate(QUESTION)

    assert answer.strip(), "a real model answers something"
    _counted(llm, live, answer)
    [run] = recorder.transcripts
    assert run.exit_code == 0 and not run.timed_out
    assert any('"type":"turn.completed"' in line.line for line in run.stdout)
    if recording(CASSETTES / "live_generate.json", record_mode):
        run.save(CASSETTES / "live_generate.json")


def test_stream_through_the_responses_api(
    codex_bin: str, codex_version: str, codex_home: Path, live: LiveServer, record_mode: RecordMode
) -> None:
    llm, recorder = _codex(codex_bin, codex_version, live)

    pieces = list(llm.generate_stream(STREAM_QUESTION))

    assert pieces and all(isinstance(piece, str) for piece in pieces)
    assert "".join(pieces).strip()
    _counted(llm, live, "".join(pieces))
    [run] = recorder.transcripts
    assert run.exit_code == 0 and not run.timed_out
    if recording(CASSETTES / "live_stream.json", record_mode):
        run.save(CASSETTES / "live_stream.json")
