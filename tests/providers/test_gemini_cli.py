"""The gemini-cli provider, replayed offline from transcripts of the real CLI.

The transcripts under ``cassettes/cli/gemini/`` were recorded by ``tests/contract`` from
@google/gemini-cli 0.61.0 against the local Gemini wire server; no gemini binary is
needed here. A capturing runner checks what each run is given: argv, stdin, environment
and the files of its fresh CLI home, while it runs and after.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from obra_llm.errors import (
    AuthenticationError,
    ConfigError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    RateLimitError,
)
from obra_llm.protocol import LLMPlugin
from obra_llm.providers.gemini_cli import GeminiCLI
from obra_llm.recording.transcripts import Transcript, TranscriptReplayer
from obra_llm.structured import generate_as
from obra_llm.transports.process import ProcessExit, RunItems
from tests.support.structured_answers import ANSWER_TEXT, Score, Verdict

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "cli" / "gemini"
KEY = "gemini-test-key-not-real"
KEYED = {"GEMINI_API_KEY": KEY, "HOME": "/nonexistent"}


def _prompt(scenario: str) -> str:
    return f"contract scenario: {scenario}"


@pytest.fixture(scope="module")
def transcripts() -> list[Transcript]:
    return [Transcript.load(path) for path in sorted(CASSETTES.glob("*.json"))]


@attrs.frozen
class Seen:
    """One run as the CLI would have seen it: argv, stdin, its extra environment and its CLI home's files."""

    argv: list[str]
    stdin: str
    env: Mapping[str, str]
    files: Mapping[str, str]
    modes: Mapping[str, int]
    cwd_entries: list[str] | None


class CapturingRunner:
    """A function-backed runner: records each run, answers with canned stdout lines and an exit."""

    def __init__(self, lines: Sequence[str] = (), end: ProcessExit | None = None) -> None:
        self.seen: list[Seen] = []
        self._lines = list(lines)
        self._end = end or ProcessExit(exit_code=0, signal=None, stderr="", duration=0.1)

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        extra = dict(env or {})
        files: dict[str, str] = {}
        modes: dict[str, int] = {}
        scratch = os.path.dirname(extra["GEMINI_CLI_HOME"]) if "GEMINI_CLI_HOME" in extra else None
        for folder, _, names in os.walk(scratch) if scratch else ():
            for name in names:
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, scratch)
                files[relative] = Path(path).read_text(encoding="utf-8")
                modes[relative] = stat.S_IMODE(os.stat(path).st_mode)
        entries = sorted(os.listdir(cwd)) if cwd and os.path.isdir(cwd) else None
        self.seen.append(Seen(list(argv), stdin, extra, files, modes, entries))
        return self._replay()

    def _replay(self) -> RunItems:
        yield from self._lines
        yield self._end


def _event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "timestamp": "2026-12-01T00:00:00.000Z", **fields})


_OK_LINES = (
    _event("init", session_id="s", model="gemini-2.5-flash"),
    _event("message", role="user", content="hi"),
    _event("message", role="assistant", content="Hi", delta=True),
    _event("message", role="assistant", content=" there", delta=True),
    _event("result", status="success", stats={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}),
)


def _calls(runner: CapturingRunner) -> list[Seen]:
    """The answering runs, without the ``--version`` probes of a binary outside an npm package."""
    return [seen for seen in runner.seen if seen.argv[1:] != ["--version"]]


def _gemini(runner: Any, *, environ: Mapping[str, str] | None = None, sleeps: list[float] | None = None, **config: Any) -> GeminiCLI:
    llm = GeminiCLI(
        runner=runner,
        which=lambda name: f"/opt/gemini/bin/{os.path.basename(name)}",
        environ=KEYED if environ is None else environ,
        sleep=(sleeps if sleeps is not None else []).append,
    )
    llm.initialize({"gemini_command": "gemini", "model": "gemini-2.5-flash", **config})
    return llm


def test_the_provider_is_an_llm_plugin() -> None:
    plugin: LLMPlugin = _gemini(CapturingRunner())
    assert isinstance(plugin, LLMPlugin)


# -- replayed from the real CLI ------------------------------------------------------------------


def test_generate_replays_the_real_success(transcripts: list[Transcript]) -> None:
    llm = _gemini(TranscriptReplayer(transcripts))

    assert llm.generate(_prompt("success"), system="You review code.") == (
        "SCORE: 8\nThe change validates the port range and keeps the happy path."
    )

    metrics = llm.metrics
    assert (metrics["calls"], metrics["prompt_tokens"], metrics["completion_tokens"], metrics["total_tokens"]) == (1, 96, 17, 113)
    assert (metrics["errors"], metrics["timeouts"], metrics["retries"]) == (0, 0, 0)


def test_generate_stream_replays_the_real_pieces(transcripts: list[Transcript]) -> None:
    llm = _gemini(TranscriptReplayer(transcripts))

    assert list(llm.generate_stream(_prompt("stream"))) == ["Hel", "lo", " there"]
    assert llm.metrics["total_tokens"] == 113


@pytest.mark.parametrize(
    ("scenario", "expected", "attempts", "text"),
    [
        ("rate_limited", RateLimitError, 3, "exceeded your current quota"),
        ("daily_quota", RateLimitError, 1, "daily quota"),
        ("overloaded", LLMResponseException, 3, "overloaded"),
        ("server_error", LLMResponseException, 3, "failed on purpose"),
        ("service_disabled", AuthenticationError, 1, "set GEMINI_API_KEY"),
        ("refused_key", AuthenticationError, 1, "API key not valid"),
        ("mid_stream_error", LLMResponseException, 3, "Incomplete JSON segment"),
        ("stream_cut", LLMResponseException, 3, "without a finish reason"),
    ],
)
def test_failures_are_classified_and_retried_only_when_transient(
    transcripts: list[Transcript], scenario: str, expected: type[LLMException], attempts: int, text: str
) -> None:
    sleeps: list[float] = []
    llm = _gemini(TranscriptReplayer(transcripts), sleeps=sleeps, retry_attempts=3)

    with pytest.raises(expected, match=text) as caught:
        llm.generate(_prompt(scenario.replace("_", " ") if scenario == "refused_key" else scenario))

    assert type(caught.value) is expected
    assert caught.value.provider == "gemini-cli"
    assert len(sleeps) == attempts - 1
    assert (llm.metrics["calls"], llm.metrics["errors"], llm.metrics["retries"]) == (1, 1, attempts - 1)


def test_the_exit_code_gives_the_http_status(transcripts: list[Transcript]) -> None:
    llm = _gemini(TranscriptReplayer(transcripts), retry_attempts=1)

    with pytest.raises(RateLimitError) as caught:
        llm.generate(_prompt("rate_limited"))

    assert (caught.value.exit_code, caught.value.status_code, caught.value.retry_after) == (173, 429, 34.0)


def test_a_missing_model_is_named(transcripts: list[Transcript]) -> None:
    llm = _gemini(TranscriptReplayer(transcripts), model="gemini-nope")

    with pytest.raises(ModelNotFoundError, match="'gemini-nope'"):
        llm.generate(_prompt("model not found"))


def test_a_cut_stream_raises_after_the_pieces_it_gave(transcripts: list[Transcript]) -> None:
    sleeps: list[float] = []
    llm = _gemini(TranscriptReplayer(transcripts), sleeps=sleeps, retry_attempts=3)
    stream = llm.generate_stream(_prompt("stream_cut"))

    assert [next(stream), next(stream)] == ["Hello ", "wor"]
    with pytest.raises(LLMResponseException, match="finish reason"):
        next(stream)
    assert sleeps == []


def test_a_timed_out_transcript_raises_at_once(transcripts: list[Transcript]) -> None:
    llm = _gemini(TranscriptReplayer(transcripts), retry_attempts=1, timeout=8)
    started = time.monotonic()

    with pytest.raises(LLMTimeoutException, match="did not finish within"):
        llm.generate(_prompt("hang"))

    assert time.monotonic() - started < 0.5
    assert llm.metrics["timeouts"] == 1


# -- what one run is given -----------------------------------------------------------------------


def test_a_run_gets_stdin_a_fresh_home_and_safe_settings() -> None:
    runner = CapturingRunner(_OK_LINES)
    llm = _gemini(runner)
    prompt = "a secret prompt --yolo"

    assert llm.generate(prompt) == "Hi there"

    [seen] = runner.seen
    assert seen.stdin == prompt
    assert all(prompt not in item for item in seen.argv)
    assert seen.argv == ["/opt/gemini/bin/gemini", "--output-format", "stream-json", "--skip-trust", "-m", "gemini-2.5-flash"]
    assert seen.cwd_entries == []
    home = seen.env["GEMINI_CLI_HOME"]
    assert (seen.env["GEMINI_CLI_NO_RELAUNCH"], seen.env["TMPDIR"]) == ("true", os.path.dirname(home))
    assert "GEMINI_API_KEY" not in seen.env, "the key comes from the caller's environment, never set here"
    settings = json.loads(seen.files[os.path.join("home", ".gemini", "settings.json")])
    assert settings == {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
        "tools": {"core": []},
        "general": {"maxAttempts": 1},
    }
    assert set(seen.modes.values()) == {0o600}
    assert not os.path.exists(home), "the CLI home is removed after the run"


def test_system_temperature_and_max_tokens_go_to_the_cli_home() -> None:
    runner = CapturingRunner(_OK_LINES)
    llm = _gemini(runner, temperature=0.4)

    llm.generate("hi", system="Be terse.\nAlways.", max_tokens=32)

    [seen] = runner.seen
    assert seen.files["system.md"] == "Be terse.\nAlways."
    assert seen.env["GEMINI_SYSTEM_MD"] == os.path.join(os.path.dirname(seen.env["GEMINI_CLI_HOME"]), "system.md")
    settings = json.loads(seen.files[os.path.join("home", ".gemini", "settings.json")])
    assert settings["modelConfigs"] == {
        "customOverrides": [
            {"match": {"overrideScope": "core"}, "modelConfig": {"generateContentConfig": {"temperature": 0.4, "maxOutputTokens": 32}}}
        ]
    }


def test_no_model_leaves_the_choice_to_the_cli_and_extra_args_come_last() -> None:
    runner = CapturingRunner(_OK_LINES)
    llm = _gemini(runner, model="", extra_args=["--debug"])

    llm.generate("hi")

    assert runner.seen[0].argv[1:] == ["--output-format", "stream-json", "--skip-trust", "--debug"]


def test_options_the_cli_cannot_honour_are_rejected_by_name() -> None:
    llm = _gemini(CapturingRunner(_OK_LINES))

    with pytest.raises(ConfigError, match="'stop' is not supported by gemini-cli"):
        llm.generate("hi", stop=["\n"])


def test_the_users_google_login_is_copied_into_the_run_and_removed(tmp_path: Path) -> None:
    login = tmp_path / ".gemini" / "oauth_creds.json"
    login.parent.mkdir()
    login.write_text('{"refresh_token": "r-not-real"}', encoding="utf-8")
    runner = CapturingRunner(_OK_LINES)
    llm = _gemini(runner, environ={"HOME": str(tmp_path)})

    assert llm.is_available()
    llm.generate("hi")

    [seen] = _calls(runner)
    copied = os.path.join("home", ".gemini", "oauth_creds.json")
    assert seen.files[copied] == '{"refresh_token": "r-not-real"}'
    assert seen.modes[copied] == 0o600
    settings = json.loads(seen.files[os.path.join("home", ".gemini", "settings.json")])
    assert settings["security"]["auth"]["selectedType"] == "oauth-personal"
    assert login.exists(), "the user's own file is left alone"
    assert not os.path.exists(seen.env["GEMINI_CLI_HOME"])


def test_no_key_and_no_login_fails_fast_naming_both_fixes(tmp_path: Path) -> None:
    runner = CapturingRunner(_OK_LINES)
    llm = _gemini(runner, environ={"HOME": str(tmp_path)})

    assert llm.availability_problem() == (
        "the Gemini CLI has no credentials: set GEMINI_API_KEY (or api_key in the llm config), "
        'or run `gemini` once and choose "Sign in with Google"'
    )
    with pytest.raises(AuthenticationError, match="GEMINI_API_KEY"):
        llm.generate("hi")
    assert _calls(runner) == []


# -- what a run's end means ----------------------------------------------------------------------


def _ended(code: int, stderr: str = "", lines: Sequence[str] = _OK_LINES[:2]) -> CapturingRunner:
    return CapturingRunner(lines, ProcessExit(exit_code=code, signal=None, stderr=stderr, duration=0.1))


@pytest.mark.parametrize(
    ("runner", "expected", "retryable", "text"),
    [
        (_ended(0), LLMResponseException, False, "exited 0 without a result"),
        (_ended(1, "Unknown arguments: bogus, bogus\nUsage: gemini [options] [command]\n"), LLMResponseException, False, "Unknown arg"),
        (_ended(41, "When using Gemini API, you must specify the GEMINI_API_KEY environment variable."), AuthenticationError, False, "must specify"),
        (_ended(52, "Error in settings.json: Settings file is not a valid JSON object."), LLMResponseException, False, "rejected its settings"),
        (_ended(55, "untrusted"), LLMResponseException, False, "untrusted folder"),
        (_ended(145, "Error: 401 Unauthorized"), AuthenticationError, False, "401"),
        (_ended(1, "Error: exception TypeError: fetch failed sending request"), LLMConnectionException, True, "fetch failed"),
        (_ended(1, "Error: something unexpected"), LLMResponseException, False, "something unexpected"),
    ],
    ids=["exit-0-no-result", "usage-error", "exit-41-auth", "exit-52-settings", "exit-55-trust", "exit-145-401", "fetch-failed", "exit-1"],
)
def test_how_a_run_without_an_answer_is_classified(
    runner: CapturingRunner, expected: type[LLMException], retryable: bool, text: str
) -> None:
    llm = _gemini(runner, retry_attempts=1)

    with pytest.raises(expected, match=text) as caught:
        llm.generate("hi")

    assert type(caught.value) is expected
    assert caught.value.retryable is retryable


def test_a_result_that_is_not_success_fails_even_with_exit_0() -> None:
    lines = (*_OK_LINES[:3], _event("result", status="error", error={"type": "X", "message": "went wrong"}))
    llm = _gemini(_ended(0, lines=lines), retry_attempts=1)

    with pytest.raises(LLMResponseException, match="went wrong"):
        llm.generate("hi")


def test_warnings_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    lines = (*_OK_LINES[:3], _event("error", severity="warning", message="loop detected"), _OK_LINES[-1])
    llm = _gemini(CapturingRunner(lines))

    with caplog.at_level(logging.WARNING, logger="obra_llm.providers.gemini_cli"):
        assert llm.generate("hi") == "Hi"

    assert "loop detected" in caplog.text


def test_the_key_is_masked_in_what_the_cli_prints() -> None:
    lines = (*_OK_LINES[:2], _event("result", status="error", error={"message": f"bad key {KEY}"}))
    llm = _gemini(_ended(145, lines=lines), retry_attempts=1)

    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hi")

    assert KEY not in str(caught.value)


# -- version ---------------------------------------------------------------------------------------


def test_the_version_comes_from_the_npm_package_without_running_it(tmp_path: Path) -> None:
    package = tmp_path / "lib" / "node_modules" / "@google" / "gemini-cli"
    (package / "bundle").mkdir(parents=True)
    (package / "package.json").write_text('{"name": "@google/gemini-cli", "version": "9.8.7"}', encoding="utf-8")
    (package / "bundle" / "gemini.js").write_text("", encoding="utf-8")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "gemini").symlink_to(package / "bundle" / "gemini.js")
    runner = CapturingRunner()
    llm = GeminiCLI(runner=runner, which=lambda name: str(tmp_path / "bin" / "gemini"), environ=KEYED)
    llm.initialize({"model": "gemini-2.5-flash"})

    assert llm.get_model_info()["version"] == "9.8.7"
    assert runner.seen == []


def test_a_binary_outside_an_npm_package_is_asked_its_version() -> None:
    runner = CapturingRunner(["0.61.0"])
    llm = _gemini(runner)

    assert llm.get_model_info()["version"] == "0.61.0"
    assert runner.seen[0].argv == ["/opt/gemini/bin/gemini", "--version"]


def test_a_missing_binary_names_the_install_command() -> None:
    llm = GeminiCLI(which=lambda name: None, environ=KEYED)

    with pytest.raises(LLMConnectionException, match="npm install -g @google/gemini-cli"):
        llm.initialize({"model": "gemini-2.5-flash"})


def test_a_configured_key_goes_to_the_run_environment_and_is_masked() -> None:
    lines = (*_OK_LINES[:2], _event("result", status="error", error={"message": "API key not valid: config-key-not-real-123"}))
    runner = _ended(144, lines=lines)
    llm = _gemini(runner, environ={"HOME": "/nonexistent"}, api_key="config-key-not-real-123", retry_attempts=1)

    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hi")

    assert _calls(runner)[0].env["GEMINI_API_KEY"] == "config-key-not-real-123"
    assert "config-key-not-real-123" not in str(caught.value)
    assert "config-key-not-real-123" not in repr(llm)


def test_structured_score_replays_the_real_run_by_instructions(transcripts: list[Transcript]) -> None:
    llm = _gemini(TranscriptReplayer(transcripts))

    score = generate_as(llm, _prompt("structured"), Score)

    assert score == Score(8, Verdict.ACCEPT, [ANSWER_TEXT])
    assert (llm.metrics["calls"], llm.metrics["structured_repairs"], llm.metrics["errors"]) == (1, 0, 0)
    assert GeminiCLI.wire_type.structured_mode.name == "instructions", "get_model_info reports it (the replay has no --version run)"
