"""Transcripts: normalization, file round trip, replay, and the record-mode switch."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import pytest

from obra_llm.errors import ConfigError
from obra_llm.recording.transcripts import (
    StdoutLine,
    Transcript,
    TranscriptRecorder,
    TranscriptReplayer,
    UnrecordedRunError,
    normalize_text,
    transcript_runner,
)
from obra_llm.transports.process import ProcessExit, ProcessTimeoutError, RunItems


class ScriptedRunner:
    """Answers every run with fixed lines, then an exit or a timeout; counts runs."""

    def __init__(self, lines: Sequence[str], *, timed_out: bool = False) -> None:
        self.lines = list(lines)
        self.timed_out = timed_out
        self.runs = 0

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        self.runs += 1
        yield from self.lines
        if self.timed_out:
            raise ProcessTimeoutError("late", stderr="stuck at /tmp/abc/x\n", duration=timeout)
        yield ProcessExit(exit_code=0, signal=None, stderr="warn\n", duration=0.25)


ARGV = ["/opt/bin/codex", "exec", "-C", "/tmp/obra-codex-1234", "-"]


def _drain(items: RunItems) -> list[str | ProcessExit]:
    return list(items)


RUN_ID_RULES = ((r'("run_id":")[0-9a-f]{8}(")', r"\1<RUN_ID>\2"),)


def test_normalization_replaces_volatile_parts() -> None:
    text = '{"run_id":"01a215e8"} url: http://127.0.0.1:35559/v1 in /tmp/pytest-of-x/home'

    assert normalize_text(text, {"/srv/mine": "<WORK>"}, RUN_ID_RULES) == '{"run_id":"<RUN_ID>"} url: http://127.0.0.1:<PORT>/v1 in <TMP>'
    assert normalize_text(text) == '{"run_id":"01a215e8"} url: http://127.0.0.1:<PORT>/v1 in <TMP>'
    assert normalize_text("cd /srv/mine/a", {"/srv/mine": "<WORK>"}) == "cd <WORK>/a"


def test_the_recorder_applies_the_tools_rules() -> None:
    recorder = TranscriptRecorder(ScriptedRunner(['{"run_id":"0123abcd"}']), source="unit test", rules=RUN_ID_RULES)

    _drain(recorder.run(ARGV, stdin="p", timeout=5))

    assert [line.line for line in recorder.transcripts[0].stdout] == ['{"run_id":"<RUN_ID>"}']


def test_a_recorded_run_round_trips_through_a_file_and_replays(tmp_path: Path) -> None:
    recorder = TranscriptRecorder(ScriptedRunner(["a", "b"]), source="unit test", tool_version="fake 1")
    original = _drain(recorder.run(ARGV, stdin="prompt", timeout=5))
    path = tmp_path / "run.json"
    recorder.transcripts[0].save(path)

    loaded = Transcript.load(path)
    replayed = _drain(TranscriptReplayer([loaded]).run(["/elsewhere/codex", "exec", "-C", "/tmp/obra-codex-zz", "-"], stdin="prompt", timeout=5))

    assert loaded == recorder.transcripts[0]
    assert loaded.argv == ("codex", "exec", "-C", "<TMP>", "-")
    assert (loaded.provenance.source, loaded.provenance.tool_version) == ("unit test", "fake 1")
    assert replayed == original


def test_replaying_a_timeout_raises_without_waiting() -> None:
    recorder = TranscriptRecorder(ScriptedRunner(["partial"], timed_out=True), source="unit test")
    with pytest.raises(ProcessTimeoutError):
        _drain(recorder.run(ARGV, stdin="p", timeout=30))
    transcript = recorder.transcripts[0]
    seen: list[str | ProcessExit] = []
    started = time.monotonic()

    with pytest.raises(ProcessTimeoutError) as caught:
        for item in TranscriptReplayer([transcript]).run(ARGV, stdin="p", timeout=30):
            seen.append(item)

    assert time.monotonic() - started < 0.1
    assert seen == ["partial"]
    assert (transcript.timed_out, transcript.duration, caught.value.stderr) == (True, 30, "stuck at <TMP>\n")


def test_speed_replays_the_recorded_gaps() -> None:
    recorder = TranscriptRecorder(ScriptedRunner(["a"]), source="unit test")
    _drain(recorder.run(ARGV, stdin="p", timeout=5))
    slept: list[float] = []
    transcript = recorder.transcripts[0]
    late = attrs.evolve(transcript, stdout=(StdoutLine(2.0, "a"),))

    _drain(TranscriptReplayer([late], speed=0.5, sleep=slept.append).run(ARGV, stdin="p", timeout=5))

    assert slept == [1.0]


def test_an_unmatched_run_names_what_was_asked() -> None:
    with pytest.raises(UnrecordedRunError, match=r"\['codex', 'exec', '-C', '<TMP>', '-'\] with stdin 'other'"):
        TranscriptReplayer([]).run(ARGV, stdin="other", timeout=1)


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"format": "something/2"}')

    with pytest.raises(ValueError, match="re-record it"):
        Transcript.load(path)


@pytest.mark.parametrize(
    ("mode", "exists", "runs_real"),
    [("none", True, 0), ("once", True, 0), ("once", False, 1), ("new_episodes", True, 0), ("all", True, 1)],
)
def test_the_record_mode_switch(tmp_path: Path, mode: str, exists: bool, runs_real: int) -> None:
    path = tmp_path / "codex" / "run.json"
    if exists:
        seed = TranscriptRecorder(ScriptedRunner(["old"]), source="seed")
        _drain(seed.run(ARGV, stdin="p", timeout=5))
        seed.transcripts[0].save(path)
    real = ScriptedRunner(["new"])

    runner = transcript_runner(path, real=real, source="test", mode=mode, environ={})
    lines = [item for item in _drain(runner.run(ARGV, stdin="p", timeout=5)) if isinstance(item, str)]

    assert real.runs == runs_real
    assert lines == (["new"] if runs_real else ["old"])
    assert [line.line for line in Transcript.load(path).stdout] == lines


def test_new_episodes_records_what_does_not_match(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    seed = TranscriptRecorder(ScriptedRunner(["old"]), source="seed", on_record=lambda t: t.save(path))
    _drain(seed.run(ARGV, stdin="p", timeout=5))
    real = ScriptedRunner(["new"])

    runner = transcript_runner(path, real=real, source="test", mode="new_episodes", environ={})
    _drain(runner.run(ARGV, stdin="a different prompt", timeout=5))

    assert real.runs == 1
    assert Transcript.load(path).stdin == "a different prompt"


def test_none_mode_without_a_file_fails_loudly(tmp_path: Path) -> None:
    runner = transcript_runner(tmp_path / "missing.json", real=ScriptedRunner([]), source="t", mode="none", environ={})

    with pytest.raises(UnrecordedRunError, match="OBRA_LLM_RECORD_MODE=all"):
        runner.run(ARGV, stdin="p", timeout=1)


def test_recording_is_refused_under_ci(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="refused under CI"):
        transcript_runner(tmp_path / "x.json", real=ScriptedRunner([]), source="t", mode="all", environ={"CI": "1"})
