"""The demo's recordings, and the demo itself run the way a user runs it.

The recordings are made by ``tests/providers/test_http_contract.py::test_demo_recording``
(and the Codex contract tests); here every demo recording is replayed through ``run_demo``
and the real console script.
"""

from __future__ import annotations

import pytest

from obra_llm.demo import RECORDING_FOLDERS, run_demo
from obra_llm.recording.library import recordings_root
from obra_llm.recording.mode import RecordMode
from tests.support.console import obra_llm
from tests.support.recorded import RECORDED_TYPES


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
    done = obra_llm("demo", env={"OBRA_LLM_RECORD_MODE": "none"})
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[4:]}
    assert sorted(rows) == [name for name in RECORDED_TYPES if name not in RECORDING_FOLDERS]
    assert all("SCORE: 8" in row for row in rows.values())
    assert "synthesized" in rows["ollama"]
