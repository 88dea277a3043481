"""The demo's recordings, and the demo itself run the way a user runs it.

In a recording mode this (re)writes ``cassettes/http/ollama/demo.yaml``; in the default
mode it replays every demo recording through ``run_demo`` and the real console script.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from obra_llm.demo import DEMO_CONFIGS, RECORDING_FOLDERS, run_demo
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.providers.ollama import OllamaLLM
from obra_llm.recording.library import recordings_root
from obra_llm.recording.mode import RecordMode
from obra_llm.registry import REGISTRY
from tests.support.http_cases import ApiCase


@pytest.mark.cassette("demo")
def test_ollama_demo_recording(ollama_case: ApiCase) -> None:
    llm = OllamaLLM()
    llm.initialize(dict(DEMO_CONFIGS["ollama"]) | ollama_case.config)
    with llm:
        answer = llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)
    assert answer.startswith("SCORE:")


def test_demo_replays_every_recorded_provider(record_mode: RecordMode) -> None:
    if record_mode != "none":
        pytest.skip("the demo replays recordings; it has nothing to record")
    rows = {row.provider: row for row in run_demo(recordings_root())}
    assert "ollama" in rows
    for row in rows.values():
        assert row.answer.startswith("SCORE:"), row
        assert row.tokens > 0
        assert row.recording.split(" ")[0] in {"synthesized", "real-service"} or "stub" in row.recording


def test_demo_console_script_runs_offline(record_mode: RecordMode) -> None:
    if record_mode != "none":
        pytest.skip("the demo replays recordings; it has nothing to record")
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from obra_llm.cli import main; sys.exit(main(['demo']))"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OBRA_LLM_RECORD_MODE": "none"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[4:]}
    assert sorted(rows) == sorted(name for name in REGISTRY if name not in RECORDING_FOLDERS)
    assert all("SCORE: 8" in row for row in rows.values())
    assert "synthesized" in rows["ollama"]
