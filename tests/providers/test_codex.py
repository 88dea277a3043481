"""The openai-codex provider, replayed offline from transcripts of the real CLI.

The transcripts under ``cassettes/cli/codex/`` were recorded by ``tests/contract`` from
codex-cli 0.169.0 against the local Responses stub; no codex binary is needed here.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from obra_llm.errors import (
    AuthenticationError,
    ConfigError,
    LLMConnectionException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    RateLimitError,
)
from obra_llm.llama_server import provider_config
from obra_llm.protocol import LLMPlugin
from obra_llm.providers.codex import CodexCLI, CodexSettings, build_argv
from obra_llm.recording.transcripts import Transcript, TranscriptReplayer, UnrecordedRunError
from obra_llm.structured import generate_as
from obra_llm.transports.process import ProcessExit, RunItems
from tests.support.fakes import FakeClock
from tests.support.live_server import LIVE_REPLAY_URL, QUESTION, STREAM_QUESTION
from tests.support.structured_answers import ANSWER_TEXT, Score, Verdict

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "cli" / "codex"
KEYED = {"OPENAI_API_KEY": "sk-test-not-real", "CODEX_HOME": "/nonexistent"}


def _prompt(scenario: str) -> str:
    return f"contract scenario: {scenario}"


@pytest.fixture(scope="module")
def transcripts() -> list[Transcript]:
    return [Transcript.load(path) for path in sorted(CASSETTES.glob("*.json"))]


class CapturingRunner:
    """A function-backed runner: records each call and answers with canned stdout lines and exit."""

    def __init__(self, lines: Sequence[str] = (), end: ProcessExit | None = None) -> None:
        self.calls: list[tuple[list[str], str, float, bool]] = []
        self._lines = list(lines)
        self._end = end or ProcessExit(exit_code=0, signal=None, stderr="", duration=0.1)

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        workdir = argv[argv.index("-C") + 1] if "-C" in argv else ""
        self.calls.append((list(argv), stdin, timeout, os.path.isdir(workdir)))
        return self._replay()

    def _replay(self) -> RunItems:
        yield from self._lines
        yield self._end


_OK_LINES = (
    '{"type":"thread.started","thread_id":"t"}',
    '{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"Hi"}}',
    '{"type":"turn.completed","usage":{"input_tokens":3,"output_tokens":2}}',
)


def _codex(runner: Any, *, environ: dict[str, str] | None = None, sleeps: list[float] | None = None, **config: Any) -> CodexCLI:
    llm = CodexCLI(
        runner=runner,
        which=lambda name: f"/opt/codex/bin/{os.path.basename(name)}",
        environ=KEYED if environ is None else environ,
        sleep=(sleeps if sleeps is not None else []).append,
    )
    llm.initialize({"codex_command": "codex", **config})
    return llm


def test_the_provider_is_an_llm_plugin() -> None:
    plugin: LLMPlugin = _codex(CapturingRunner())
    assert isinstance(plugin, LLMPlugin)


def test_generate_replays_the_real_success(transcripts: list[Transcript]) -> None:
    llm = _codex(TranscriptReplayer(transcripts))

    assert llm.generate(_prompt("success")) == "Hello"

    metrics = llm.metrics
    assert (metrics["calls"], metrics["prompt_tokens"], metrics["completion_tokens"], metrics["total_tokens"]) == (1, 42, 7, 49)
    assert (metrics["errors"], metrics["timeouts"], metrics["retries"]) == (0, 0, 0)


@pytest.mark.parametrize(("recording", "question", "streamed"), [("live_generate", QUESTION, False), ("live_stream", STREAM_QUESTION, True)])
def test_a_real_model_answer_replays(transcripts: list[Transcript], recording: str, question: str, streamed: bool) -> None:
    """codex-cli against a real model (llama-server + SmolLM2-135M as committed; recorded by tests/live/test_codex_cli.py): what the real run printed."""
    recorded = Transcript.load(CASSETTES / f"{recording}.json")
    source = recorded.provenance.source
    assert source.startswith("real codex-cli ") and " + real server: " in source, "the real CLI against a real model server (any: docs/recording.md)"
    events = [json.loads(line.line) for line in recorded.stdout]
    said = [event["item"]["text"] for event in events if event["type"] == "item.completed" and event["item"]["type"] == "agent_message"]
    [usage] = [event["usage"] for event in events if event["type"] == "turn.completed"]
    llm = _codex(TranscriptReplayer(transcripts), environ={}, **provider_config("openai-codex", LIVE_REPLAY_URL))

    answer = "".join(llm.generate_stream(question)) if streamed else llm.generate(question)

    assert answer == said[-1] and answer.strip()
    assert (llm.metrics["prompt_tokens"], llm.metrics["completion_tokens"]) == (usage["input_tokens"], usage["output_tokens"])
    assert llm.metrics["prompt_tokens"] > 1000, "the CLI's own agent prompt reached the real model"


def test_structured_score_replays_the_real_run_with_output_schema(transcripts: list[Transcript]) -> None:
    llm = _codex(TranscriptReplayer(transcripts))

    score = generate_as(llm, _prompt("structured"), Score)

    assert score == Score(8, Verdict.ACCEPT, [ANSWER_TEXT])
    assert llm.get_model_info()["details"]["structured"] == "native:--output-schema"
    assert (llm.metrics["calls"], llm.metrics["structured_repairs"], llm.metrics["errors"]) == (1, 0, 0)


def test_the_schema_file_holds_the_schema_and_is_removed() -> None:
    seen: list[tuple[str, object]] = []
    answer = '{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"{\\"score\\": 3}"}}'

    class SchemaReader(CapturingRunner):
        def run(
            self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
        ) -> RunItems:
            path = argv[argv.index("--output-schema") + 1]
            with open(path, encoding="utf-8") as handle:
                seen.append((path, json.load(handle)))
            return super().run(argv, stdin=stdin, timeout=timeout, cwd=cwd, env=env)

    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    llm = _codex(SchemaReader([_OK_LINES[0], answer, _OK_LINES[2]]))
    assert llm.generate_structured("Rate it.", schema) == {"score": 3}
    (path, written), = seen
    assert written == schema and not os.path.exists(path)


def test_the_model_metadata_warning_is_logged_not_raised(transcripts: list[Transcript], caplog: pytest.LogCaptureFixture) -> None:
    llm = _codex(TranscriptReplayer(transcripts))

    with caplog.at_level(logging.WARNING, logger="obra_llm.providers.codex"):
        llm.generate(_prompt("success"))

    assert "Model metadata for `stub-model` not found" in caplog.text


def test_generate_stream_replays_the_real_stream(transcripts: list[Transcript]) -> None:
    llm = _codex(TranscriptReplayer(transcripts))

    assert list(llm.generate_stream(_prompt("stream"))) == ["Hello"]
    assert llm.metrics["total_tokens"] == 49


@pytest.mark.parametrize(
    ("scenario", "expected", "attempts", "text"),
    [
        ("server_error", LLMResponseException, 3, "high demand"),
        ("rate_limited", RateLimitError, 3, "429 Too Many Requests"),
        ("stream_cut", LLMResponseException, 3, "stream disconnected"),
        ("unauthorized", AuthenticationError, 1, "run `codex login`, or set OPENAI_API_KEY"),
        ("model_not_found", ModelNotFoundError, 1, "does not exist"),
    ],
)
def test_failures_are_classified_and_retried_only_when_transient(
    transcripts: list[Transcript], scenario: str, expected: type[Exception], attempts: int, text: str
) -> None:
    sleeps: list[float] = []
    llm = _codex(TranscriptReplayer(transcripts), sleeps=sleeps, retry_attempts=3)

    with pytest.raises(expected, match=text) as caught:
        llm.generate(_prompt(scenario))

    assert type(caught.value) is expected
    assert getattr(caught.value, "provider", None) == "openai-codex"
    assert getattr(caught.value, "exit_code", None) == 1
    assert len(sleeps) == attempts - 1
    assert (llm.metrics["calls"], llm.metrics["errors"], llm.metrics["retries"]) == (1, 1, attempts - 1)


def test_a_cut_stream_raises_after_the_message_it_already_gave(transcripts: list[Transcript]) -> None:
    sleeps: list[float] = []
    llm = _codex(TranscriptReplayer(transcripts), sleeps=sleeps, retry_attempts=3)
    stream = llm.generate_stream(_prompt("stream_cut"))

    assert next(stream) == "Hello"
    with pytest.raises(LLMResponseException, match="stream disconnected"):
        next(stream)
    assert sleeps == []


def test_a_timed_out_transcript_raises_at_once(transcripts: list[Transcript]) -> None:
    llm = _codex(TranscriptReplayer(transcripts), retry_attempts=1)
    started = time.monotonic()

    with pytest.raises(LLMTimeoutException, match="did not finish within") as caught:
        llm.generate(_prompt("hang"))

    assert time.monotonic() - started < 0.5
    assert caught.value.provider == "openai-codex"
    assert llm.metrics["timeouts"] == 1


def test_is_available_and_model_info_from_the_real_version(transcripts: list[Transcript]) -> None:
    llm = _codex(TranscriptReplayer(transcripts))

    assert llm.is_available()
    info = llm.get_model_info()

    assert (info["provider"], info["type"], info["execution_mode"], info.get("version")) == (
        "openai-codex",
        "cli",
        "subprocess",
        "codex-cli 0.169.0",
    )


def test_not_logged_in_is_unavailable_and_fails_fast(transcripts: list[Transcript], tmp_path: Path) -> None:
    llm = _codex(TranscriptReplayer(transcripts), environ={"CODEX_HOME": str(tmp_path)})

    problem = llm.availability_problem()

    assert problem is not None
    assert "codex login" in problem
    with pytest.raises(AuthenticationError, match="not logged in"):
        llm.generate("anything")


def test_a_config_toml_with_a_custom_provider_needs_no_login(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('profile = "local"\n[profiles.local]\nmodel_provider = "ollama"\n')
    runner = CapturingRunner(_OK_LINES)
    llm = _codex(runner, environ={"CODEX_HOME": str(tmp_path)})

    assert llm.generate("hi") == "Hi"
    assert [call[0][1] for call in runner.calls] == ["exec"]


def test_an_unrecorded_run_fails_naming_argv_and_stdin(transcripts: list[Transcript]) -> None:
    llm = _codex(TranscriptReplayer(transcripts), model="gpt-5")

    with pytest.raises(UnrecordedRunError, match=r"'-m', 'gpt-5'.*stdin 'never recorded'"):
        llm.generate("never recorded")


# -- argv -------------------------------------------------------------------------------------


def test_the_prompt_is_on_stdin_never_in_argv_and_defaults_are_safe() -> None:
    runner = CapturingRunner(_OK_LINES)
    llm = _codex(runner)
    prompt = "a secret prompt --sandbox danger-full-access"

    llm.generate(prompt)

    argv, stdin, _, workdir_existed = runner.calls[0]
    assert stdin == prompt
    assert all(prompt not in item for item in argv)
    assert argv[argv.index("--sandbox") + 1] == "read-only"
    assert {"--json", "--ephemeral", "--skip-git-repo-check"} <= set(argv)
    assert argv[-1] == "-"
    assert workdir_existed
    assert not os.path.exists(argv[argv.index("-C") + 1])
    assert not any("dangerously" in item or item == "--ignore-user-config" for item in argv)


def test_the_full_argv(snapshot: SnapshotAssertion) -> None:
    settings = CodexSettings(
        model="gpt-5-codex",
        profile="work",
        sandbox="workspace-write",
        config_overrides={
            "model_reasoning_effort": "high",
            "sandbox_workspace_write": {"network_access": False, "writable roots": ["/srv/a"]},
            "request_max_retries": 0,
            "tool_output_token_limit": 1.5,
        },
        extra_args=["--oss"],
    )

    argv = build_argv(settings, binary="/usr/bin/codex", sandbox="workspace-write", workdir="/work/repo", system='Say "hi"\n')

    assert argv == snapshot


def test_working_dir_replaces_the_fresh_directory() -> None:
    runner = CapturingRunner(_OK_LINES)
    llm = _codex(runner, working_dir="/srv/project")

    llm.generate("hi")

    argv = runner.calls[0][0]
    assert argv[argv.index("-C") + 1] == "/srv/project"


def test_system_and_timeout_options_are_honoured() -> None:
    runner = CapturingRunner(_OK_LINES)
    llm = _codex(runner, timeout=50)

    llm.generate("hi", system="be terse", timeout=7)

    argv, _, timeout, _ = runner.calls[0]
    assert 'developer_instructions="be terse"' in argv
    assert timeout == 7


@pytest.mark.parametrize("option", [{"temperature": 0.2}, {"max_tokens": 10}, {"stop": ["x"]}, {"seed": 1}])
def test_options_codex_cannot_honour_are_rejected_by_name(option: dict[str, Any]) -> None:
    runner = CapturingRunner(_OK_LINES)
    llm = _codex(runner)

    with pytest.raises(ConfigError, match=f"option {next(iter(option))!r} is not supported by openai-codex"):
        llm.generate("hi", **option)
    assert runner.calls == []


# -- configuration ------------------------------------------------------------------------------


def test_legacy_approval_mode_maps_to_a_sandbox_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    runner = CapturingRunner(_OK_LINES)

    with caplog.at_level(logging.WARNING, logger="obra_llm.providers.codex"):
        llm = _codex(runner, approval_mode="full-auto")
    llm.generate("hi")

    argv = runner.calls[0][0]
    assert argv[argv.index("--sandbox") + 1] == "workspace-write"
    assert "approval_mode='full-auto'" in caplog.text


def test_config_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        _codex(
            CapturingRunner(),
            temperature=0.5,
            max_tokens=5,
            sandbox="read-only",
            approval_mode="auto-edit",
            config_overrides={"bad": None},
        )

    problems = "\n".join(caught.value.problems)
    for fragment in ("$.temperature", "$.max_tokens", "$.approval_mode", "$.config_overrides.bad"):
        assert fragment in problems


def test_an_unknown_sandbox_and_key_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"(?s)did you mean 'profile'.*one of.*\$\.sandbox"):
        _codex(CapturingRunner(), sandbox="full", profil="x")


def test_a_missing_cli_says_how_to_install_it() -> None:
    llm = CodexCLI(runner=CapturingRunner(), which=lambda name: None)

    with pytest.raises(LLMConnectionException, match="npm install -g @openai/codex") as caught:
        llm.initialize({"codex_command": "codex"})
    assert caught.value.retryable is False


def test_calls_before_initialize_say_what_to_do() -> None:
    with pytest.raises(RuntimeError, match=r"call initialize\(config\) first"):
        CodexCLI().generate("hi")


# -- event parsing ------------------------------------------------------------------------------


def test_non_json_lines_are_skipped_and_the_last_message_wins() -> None:
    lines = (
        "Reading additional input from stdin...",
        '{"type":"item.completed","item":{"type":"agent_message","text":"first"}}',
        '{"type":"error","message":"Reconnecting... 1/5 (stream disconnected)"}',
        '{"type":"item.completed","item":{"type":"agent_message","text":"second"}}',
        '{"type":"turn.completed","usage":{"input_tokens":10,"output_tokens":4}}',
    )
    llm = _codex(CapturingRunner(lines))

    assert llm.generate("hi") == "second"
    assert llm.metrics["total_tokens"] == 14


def test_a_run_without_an_answer_is_a_response_error() -> None:
    llm = _codex(CapturingRunner(['{"type":"turn.completed","usage":{}}']), retry_attempts=1)

    with pytest.raises(LLMResponseException, match="finished without an answer"):
        llm.generate("hi")


def test_a_usage_error_is_permanent_and_quotes_stderr() -> None:
    end = ProcessExit(exit_code=2, signal=None, stderr="error: unexpected argument '--quiet' found\n\nUsage: codex exec\n", duration=0.1)
    sleeps: list[float] = []
    llm = _codex(CapturingRunner((), end), sleeps=sleeps, extra_args=["--quiet"])

    with pytest.raises(LLMResponseException, match="unexpected argument '--quiet'") as caught:
        llm.generate("hi")

    assert (caught.value.retryable, caught.value.exit_code, sleeps) == (False, 2, [])


def test_a_killed_cli_is_retryable() -> None:
    end = ProcessExit(exit_code=None, signal=9, stderr="", duration=0.1)
    llm = _codex(CapturingRunner((), end), retry_attempts=1)

    with pytest.raises(LLMResponseException, match="signal 9") as caught:
        llm.generate("hi")
    assert caught.value.retryable


def test_an_exhausted_quota_is_not_retried() -> None:
    lines = ('{"type":"turn.failed","error":{"message":"insufficient_quota: You exceeded your current quota"}}',)
    end = ProcessExit(exit_code=1, signal=None, stderr="", duration=0.1)
    llm = _codex(CapturingRunner(lines, end), retry_attempts=3)

    with pytest.raises(RateLimitError) as caught:
        llm.generate("hi")
    assert caught.value.retryable is False


def test_estimate_tokens_works_offline() -> None:
    assert _codex(CapturingRunner()).estimate_tokens("hello world") == 2


# -- the CLI base: lifecycle, input checks, metrics, secrets ---------------------------------------


def test_close_and_the_context_manager_end_the_provider() -> None:
    runner = CapturingRunner(_OK_LINES)
    with _codex(runner) as llm:
        assert llm.generate("hi") == "Hi"
        assert repr(llm) == "CodexCLI(model='', binary='/opt/codex/bin/codex')"

    with pytest.raises(RuntimeError, match=r"CodexCLI is closed: call initialize\(config\) first"):
        llm.generate("hi")
    llm.initialize({"codex_command": "codex"})
    assert llm.generate("hi") == "Hi"


def test_an_unencodable_prompt_fails_before_any_run() -> None:
    runner = CapturingRunner(_OK_LINES)
    llm = _codex(runner)

    with pytest.raises(ConfigError, match=r"prompt for openai-codex cannot be encoded as UTF-8: '\\udcff' at index 4"):
        llm.generate("bad \udcff prompt")
    with pytest.raises(ConfigError, match="lone surrogate"):
        llm.generate_stream("\ud800")

    assert runner.calls == []


def test_a_failed_login_check_is_counted_as_a_failed_call(transcripts: list[Transcript], tmp_path: Path) -> None:
    llm = _codex(TranscriptReplayer(transcripts), environ={"CODEX_HOME": str(tmp_path)})

    with pytest.raises(AuthenticationError):
        llm.generate("anything")
    with pytest.raises(AuthenticationError):
        list(llm.generate_stream("anything"))

    assert (llm.metrics["calls"], llm.metrics["errors"], llm.metrics["retries"]) == (2, 2, 0)


SECRET = "sk-proj-Secret0123456789abcdefXYZ"


@pytest.mark.parametrize(
    "form",
    [SECRET, base64.b64encode(f"user:{SECRET}".encode()).decode(), urllib.parse.quote(SECRET, safe="")],
    ids=["bare", "base64", "url-encoded"],
)
def test_a_key_the_cli_prints_is_masked_everywhere(form: str, caplog: pytest.LogCaptureFixture) -> None:
    lines = (
        json.dumps({"type": "item.completed", "item": {"type": "error", "message": f"warning about {form}"}}),
        json.dumps({"type": "turn.failed", "error": {"message": f"unexpected status 400: bad key {form}"}}),
    )
    end = ProcessExit(exit_code=1, signal=None, stderr=f"debug: key={form}\n", duration=0.1)
    llm = _codex(CapturingRunner(lines, end), environ={"OPENAI_API_KEY": SECRET}, retry_attempts=1)

    with caplog.at_level(logging.DEBUG), pytest.raises(LLMResponseException) as caught:
        llm.generate("hi")

    shown = f"{caught.value} {caught.value!r} {caplog.text}"
    assert "****" in shown
    assert SECRET not in shown
    assert form not in shown


def test_availability_runs_within_the_bound_on_the_injected_clock() -> None:
    clock = FakeClock()
    timeouts: dict[str, float] = {}

    class SlowVersion:
        """``--version`` takes 0.85 s of the clock; ``login status`` says not logged in."""

        def run(
            self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
        ) -> RunItems:
            timeouts[argv[1]] = timeout
            if argv[1] == "--version":
                clock.advance(0.85)
                yield "codex-cli 0.169.0"
            yield ProcessExit(exit_code=0 if argv[1] == "--version" else 1, signal=None, stderr="", duration=0.1)

    llm = CodexCLI(runner=SlowVersion(), which=lambda name: name, environ={"CODEX_HOME": "/nonexistent"}, clock=clock)
    llm.initialize({})

    problem = llm.availability_problem()

    assert problem is not None and "not logged in" in problem
    # login status got what was left of the 0.9 s on the injected clock (at least 0.1 s).
    assert timeouts == {"--version": 0.9, "login": pytest.approx(0.1)}
