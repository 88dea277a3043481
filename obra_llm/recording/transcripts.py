"""Transcripts of CLI runs: a recorder wrapping a real ``ProcessRunner`` and a replayer that is one.

A transcript is one JSON file per run: the normalized argv (the binary reduced to its name,
temporary paths to ``<TMP>``), stdin, stdout lines with their time since the start, the
stderr tail, the exit code or signal, the duration, whether the run timed out, and its
provenance (what produced it, which CLI version, when). Normalization also replaces
loopback ports, and whatever each tool's ``rules`` declare (``CliIdentity.transcript_rules``:
ids a tool makes up per run), so a fresh run compares equal to the committed one.
Nothing of the environment is stored: no API key can end up in a transcript.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from obra_llm.recording.mode import RecordMode, resolve_record_mode
from obra_llm.transports.process import ProcessExit, ProcessRunner, ProcessTimeoutError, RunItems

__all__ = [
    "FORMAT",
    "Provenance",
    "StdoutLine",
    "Transcript",
    "TranscriptRecorder",
    "TranscriptReplayer",
    "Rules",
    "UnrecordedRunError",
    "normalize_text",
    "transcript_runner",
]

FORMAT = "obra-llm-cli-transcript/1"

_PORT = (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:<PORT>")

#: A tool's own normalization rules: ``(regex, replacement)`` pairs, applied after the shared ones.
Rules = Sequence[tuple[str, str]]


def _temp_rule() -> tuple[re.Pattern[str], str]:
    roots = {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir())}
    alternatives = "|".join(re.escape(root) for root in sorted(roots, key=len, reverse=True))
    return re.compile(rf"(?:{alternatives})/[^\s'\"=,)]*"), "<TMP>"


def normalize_text(text: str, substitutions: Mapping[str, str] | None = None, rules: Rules = ()) -> str:
    """``text`` with run-specific parts replaced: given literals first, then temp paths, ports, the tool's rules."""
    for literal, placeholder in (substitutions or {}).items():
        text = text.replace(literal, placeholder)
    for pattern, replacement in (_temp_rule(), _PORT, *_compiled(rules)):
        text = pattern.sub(replacement, text)
    return text


@functools.cache
def _compiled_rule(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _compiled(rules: Rules) -> list[tuple[re.Pattern[str], str]]:
    return [(_compiled_rule(pattern), replacement) for pattern, replacement in rules]


def _normalize_argv(argv: Sequence[str], substitutions: Mapping[str, str] | None) -> list[str]:
    if not argv:
        return []
    return [os.path.basename(argv[0]), *(normalize_text(item, substitutions) for item in argv[1:])]


@attrs.frozen
class Provenance:
    """What produced a transcript: e.g. ``real <tool> <version> + local <API> stub``."""

    source: str
    tool_version: str | None
    recorded_at: str


@attrs.frozen
class StdoutLine:
    """One stdout line and the seconds since the run started when it arrived."""

    t: float
    line: str


@attrs.frozen(kw_only=True)
class Transcript:
    """One recorded run (see the module docstring)."""

    provenance: Provenance
    argv: tuple[str, ...]
    stdin: str
    stdout: tuple[StdoutLine, ...]
    stderr: str
    exit_code: int | None
    signal: int | None
    duration: float
    timed_out: bool

    def to_json(self) -> dict[str, Any]:
        """The transcript as a JSON object (the file format)."""
        return {"format": FORMAT, **attrs.asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "<memory>") -> Transcript:
        """Read a transcript object; a wrong or missing ``format`` names the file and the expected one."""
        if data.get("format") != FORMAT:
            msg = f"{source} is not a CLI transcript of format {FORMAT!r} (found {data.get('format')!r}); re-record it"
            raise ValueError(msg)
        try:
            return cls(
                provenance=Provenance(**data["provenance"]),
                argv=tuple(data["argv"]),
                stdin=data["stdin"],
                stdout=tuple(StdoutLine(**line) for line in data["stdout"]),
                stderr=data["stderr"],
                exit_code=data["exit_code"],
                signal=data["signal"],
                duration=data["duration"],
                timed_out=data["timed_out"],
            )
        except (KeyError, TypeError) as error:
            msg = f"{source} is a damaged CLI transcript ({error!r}); re-record it"
            raise ValueError(msg) from error

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the transcript as indented JSON (stable key order, so diffs stay small)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Transcript:
        """Read a transcript file written by ``save``."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")), source=str(path))


class UnrecordedRunError(LookupError):
    """A replayed run asked for a command no transcript holds (not an ``LLMException``: never retried)."""


class TranscriptRecorder:
    """Wraps a real runner, passes every run through, and keeps a normalized ``Transcript`` of it.

    ``rules`` are the tool's own normalization rules; ``on_record`` is called with each
    finished transcript (e.g. to save it); ``transcripts`` keeps them all, in order.
    """

    def __init__(
        self,
        inner: ProcessRunner,
        *,
        source: str,
        tool_version: str | None = None,
        substitutions: Mapping[str, str] | None = None,
        rules: Rules = (),
        on_record: Callable[[Transcript], None] | None = None,
    ) -> None:
        self._inner = inner
        self._source = source
        self._tool_version = tool_version
        self._substitutions = dict(substitutions or {})
        self._rules = tuple(rules)
        self._on_record = on_record
        self.transcripts: list[Transcript] = []

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        """Run ``argv`` with the wrapped runner, recording what it does."""
        started = time.monotonic()
        lines: list[StdoutLine] = []
        normalize = self._normalize
        try:
            for item in self._inner.run(argv, stdin=stdin, timeout=timeout, cwd=cwd, env=env):
                if isinstance(item, ProcessExit):
                    self._keep(argv, stdin, lines, item.stderr, item.exit_code, item.signal, item.duration, timed_out=False)
                else:
                    lines.append(StdoutLine(round(time.monotonic() - started, 4), normalize(item)))
                yield item
        except ProcessTimeoutError as error:
            self._keep(argv, stdin, lines, error.stderr, None, None, error.duration, timed_out=True)
            raise

    def _normalize(self, text: str) -> str:
        return normalize_text(text, self._substitutions, self._rules)

    def _keep(
        self,
        argv: Sequence[str],
        stdin: str,
        lines: list[StdoutLine],
        stderr: str,
        exit_code: int | None,
        signal: int | None,
        duration: float,
        *,
        timed_out: bool,
    ) -> None:
        transcript = Transcript(
            provenance=Provenance(
                source=self._source,
                tool_version=self._tool_version,
                recorded_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            ),
            argv=tuple(_normalize_argv(argv, self._substitutions)),
            stdin=self._normalize(stdin),
            stdout=tuple(lines),
            stderr=self._normalize(stderr),
            exit_code=exit_code,
            signal=signal,
            duration=round(duration, 4),
            timed_out=timed_out,
        )
        self.transcripts.append(transcript)
        if self._on_record is not None:
            self._on_record(transcript)


class TranscriptReplayer:
    """A ``ProcessRunner`` that answers from transcripts matched on normalized argv and stdin.

    Lines come at once unless ``speed`` is set (1.0 replays the recorded timing). A timed-out
    transcript raises ``ProcessTimeoutError`` right after its lines, without waiting.
    """

    def __init__(
        self,
        transcripts: Sequence[Transcript],
        *,
        substitutions: Mapping[str, str] | None = None,
        speed: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._transcripts = list(transcripts)
        self._substitutions = dict(substitutions or {})
        self._speed = speed
        self._sleep = sleep

    def find(self, argv: Sequence[str], stdin: str) -> Transcript | None:
        """The transcript recorded for this command, if any."""
        wanted = (tuple(_normalize_argv(argv, self._substitutions)), normalize_text(stdin, self._substitutions))
        for transcript in self._transcripts:
            if (transcript.argv, transcript.stdin) == wanted:
                return transcript
        return None

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        """Replay the matching transcript; raise ``UnrecordedRunError`` naming the run when none matches."""
        transcript = self.find(argv, stdin)
        if transcript is None:
            raise UnrecordedRunError(self._unmatched_message(argv, stdin))
        return self._replay(transcript)

    def _replay(self, transcript: Transcript) -> RunItems:
        previous = 0.0
        for line in transcript.stdout:
            if self._speed > 0 and line.t > previous:
                self._sleep((line.t - previous) * self._speed)
            previous = line.t
            yield line.line
        if transcript.timed_out:
            msg = f"{transcript.argv[0] if transcript.argv else 'the command'} timed out (replayed from a transcript)"
            raise ProcessTimeoutError(msg, stderr=transcript.stderr, duration=transcript.duration)
        yield ProcessExit(
            exit_code=transcript.exit_code,
            signal=transcript.signal,
            stderr=transcript.stderr,
            duration=transcript.duration,
        )

    def _unmatched_message(self, argv: Sequence[str], stdin: str) -> str:
        asked = _normalize_argv(argv, self._substitutions)
        shown_stdin = normalize_text(stdin, self._substitutions)
        recorded = "; ".join(f"{list(t.argv)} stdin={t.stdin[:80]!r}" for t in self._transcripts) or "none"
        return (
            f"no transcript records the run {asked} with stdin {shown_stdin[:200]!r}. Recorded runs: {recorded}. "
            "Re-record with OBRA_LLM_RECORD_MODE=all (see docs/recording.md)"
        )


class _ReplayOrRecord:
    """``new_episodes``: replay what matches, record (and save) the rest."""

    def __init__(self, replayer: TranscriptReplayer, recorder: TranscriptRecorder) -> None:
        self._replayer = replayer
        self._recorder = recorder

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        if self._replayer.find(argv, stdin) is not None:
            return self._replayer.run(argv, stdin=stdin, timeout=timeout, cwd=cwd, env=env)
        return self._recorder.run(argv, stdin=stdin, timeout=timeout, cwd=cwd, env=env)


def transcript_runner(
    path: str | os.PathLike[str],
    *,
    real: ProcessRunner,
    source: str,
    tool_version: str | None = None,
    mode: str | None = None,
    environ: Mapping[str, str] | None = None,
    substitutions: Mapping[str, str] | None = None,
    rules: Rules = (),
) -> ProcessRunner:
    """The runner for one transcript file under the shared record mode.

    ``none`` replays only; ``once`` records when the file does not exist yet; ``new_episodes``
    replays a matching run and records any other; ``all`` always runs ``real`` and rewrites
    the file. A file holds one run: when several runs are recorded, the last one is kept.
    """
    chosen: RecordMode = resolve_record_mode(mode, environ)
    target = Path(path)
    recorder = TranscriptRecorder(
        real,
        source=source,
        tool_version=tool_version,
        substitutions=substitutions,
        rules=rules,
        on_record=lambda transcript: transcript.save(target),
    )
    exists = target.exists()
    replayer = TranscriptReplayer([Transcript.load(target)] if exists else [], substitutions=substitutions)
    if chosen == "all" or (chosen == "once" and not exists):
        return recorder
    if chosen == "new_episodes":
        return _ReplayOrRecord(replayer, recorder)
    return replayer

