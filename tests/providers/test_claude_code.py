"""The claude-code provider, replayed offline from transcripts of the real CLI, and its translation.

The transcripts under ``cassettes/cli/claude-code/`` were recorded by ``tests/contract`` from
Claude Code 2.1.332 against the local Messages stub; no claude binary is needed here. The
rest drives the wire through a function-backed runner: argv, the run's environment and
scratch directory, the saved-login loan, and how each ``result`` is read.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from obra_llm.errors import (
    AuthenticationError,
    ConfigError,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    RateLimitError,
    StructuredAnswerError,
)
from obra_llm.protocol import LLMPlugin
from obra_llm.providers.claude_code import ClaudeCodeCLI
from obra_llm.recording.transcripts import Transcript, TranscriptReplayer
from obra_llm.registry import create_llm
from obra_llm.structured import generate_as
from obra_llm.transports.process import ProcessExit, RunItems
from tests.support.live_server import CLAUDE_SETTINGS, CLAUDE_SYSTEM, QUESTION, STREAM_QUESTION
from tests.support.structured_answers import ANSWER_TEXT, Score, Verdict

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "cli" / "claude-code"
KEY = "sk-ant-api03-test-not-real-0123456789"
KEYED = {"ANTHROPIC_API_KEY": KEY}


@pytest.fixture(scope="module")
def transcripts() -> list[Transcript]:
    return [Transcript.load(path) for path in sorted(CASSETTES.glob("*.json"))]


def _replayed(transcripts: list[Transcript], **config: Any) -> ClaudeCodeCLI:
    llm = ClaudeCodeCLI(runner=TranscriptReplayer(transcripts), which=lambda name: name, environ=KEYED)
    llm.initialize({"model": "claude-sonnet-4-5", "retry_attempts": 1, **config})
    return llm


class CapturingRunner:
    """A function-backed runner: records each run (argv, stdin, env, whether its dirs exist) and answers canned lines."""

    def __init__(self, lines: Sequence[str] = (), end: ProcessExit | None = None) -> None:
        self.runs: list[dict[str, Any]] = []
        self._lines = list(lines)
        self._end = end or ProcessExit(exit_code=0, signal=None, stderr="", duration=0.1)

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        extra = dict(env or {})
        scratch = extra.get("TMPDIR", "")
        self.runs.append(
            {
                "argv": list(argv),
                "stdin": stdin,
                "env": extra,
                "cwd_was_empty": cwd is not None and os.listdir(cwd) == [],
                "scratch_exists": os.path.isdir(scratch),
            }
        )
        return self._replay()

    def _replay(self) -> RunItems:
        yield from self._lines
        yield self._end


def _event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


def _delta(text: str, kind: str = "text_delta") -> str:
    key = "thinking" if kind == "thinking_delta" else "text"
    return _event("stream_event", event={"type": "content_block_delta", "index": 0, "delta": {"type": kind, key: text}})


def _result(text: str, *, is_error: bool = False, status: int | None = None, **fields: Any) -> str:
    usage = {"input_tokens": 3, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 7, "output_tokens": 2}
    defaults = {"subtype": "success", "num_turns": 1, "stop_reason": "end_turn", "usage": usage, "total_cost_usd": 0.01}
    return _event("result", **{**defaults, "is_error": is_error, "result": text, "api_error_status": status, **fields})


def _claude(runner: Any, *, environ: Mapping[str, str] = KEYED, **config: Any) -> ClaudeCodeCLI:
    llm = ClaudeCodeCLI(runner=runner, which=lambda name: f"/opt/claude/bin/{os.path.basename(name)}", environ=environ)
    llm.initialize({"retry_attempts": 1, **config})
    return llm


# -- replayed from the real CLI --------------------------------------------------------------------


def test_the_provider_is_an_llm_plugin_built_by_the_registry() -> None:
    llm = create_llm({"type": "claude-code", "claude_command": "/bin/sh"})

    assert isinstance(llm, LLMPlugin)
    assert isinstance(llm, ClaudeCodeCLI)


def test_generate_replays_the_real_success(transcripts: list[Transcript]) -> None:
    llm = _replayed(transcripts)

    assert llm.generate("contract scenario: success", system="Answer in one line.") == "Hello from the stub"

    assert (llm.metrics["prompt_tokens"], llm.metrics["completion_tokens"], llm.metrics["errors"]) == (42, 7, 0)


def test_generate_stream_replays_the_real_pieces(transcripts: list[Transcript]) -> None:
    llm = _replayed(transcripts)

    assert list(llm.generate_stream("contract scenario: stream")) == ["Hello", " from", " the stub"]

    assert llm.metrics["total_tokens"] == 49


@pytest.mark.parametrize(("recording", "question", "streamed"), [("live_generate", QUESTION, False), ("live_stream", STREAM_QUESTION, True)])
def test_a_real_model_answer_replays(transcripts: list[Transcript], recording: str, question: str, streamed: bool) -> None:
    """Claude Code against a real model (llama-server + SmolLM2-135M as committed; recorded by tests/live/test_claude_code_cli.py): what the real run printed."""
    recorded = Transcript.load(CASSETTES / f"{recording}.json")
    source = recorded.provenance.source
    assert source.startswith("real Claude Code ") and " + real server: " in source, "the real CLI against a real model server (any: docs/recording.md)"
    [result] = [event for event in map(json.loads, (line.line for line in recorded.stdout)) if event["type"] == "result"]
    llm = _replayed(transcripts, **CLAUDE_SETTINGS)

    pieces = list(llm.generate_stream(question, system=CLAUDE_SYSTEM)) if streamed else [llm.generate(question, system=CLAUDE_SYSTEM)]

    assert "".join(pieces) == result["result"] and result["result"].strip()
    assert len(pieces) > 1 or not streamed, "the real server streamed token by token"
    assert llm.metrics["completion_tokens"] == result["usage"]["output_tokens"] > 0
    assert llm.metrics["prompt_tokens"] > 0


@pytest.mark.parametrize(
    ("scenario", "expected", "retryable", "status"),
    [
        ("unauthorized", AuthenticationError, False, 401),
        ("rate_limited", RateLimitError, True, 429),
        ("server_error", LLMResponseException, True, 500),
        ("overloaded", LLMResponseException, True, 529),
        ("stream_cut", LLMResponseException, True, None),
    ],
)
def test_real_failures_are_classified(
    transcripts: list[Transcript], scenario: str, expected: type[LLMException], retryable: bool, status: int | None
) -> None:
    llm = _replayed(transcripts)

    with pytest.raises(expected) as caught:
        llm.generate(f"contract scenario: {scenario}")

    assert type(caught.value) is expected
    assert (caught.value.retryable, caught.value.status_code, caught.value.exit_code) == (retryable, status, 1)
    assert caught.value.provider == "claude-code"


def test_a_spent_subscription_says_when_it_resets(transcripts: list[Transcript]) -> None:
    llm = _replayed(transcripts, retry_attempts=3)

    with pytest.raises(RateLimitError, match="You've hit your 5-hour limit") as caught:
        llm.generate("contract scenario: usage limit")

    assert caught.value.retry_after is not None
    assert abs(time.time() + caught.value.retry_after - 1893456000) < 60  # the stub's reset, 2030-01-01
    assert llm.metrics["retries"] == 0


def test_a_missing_model_is_named(transcripts: list[Transcript]) -> None:
    llm = _replayed(transcripts, model="claude-nope-1")

    with pytest.raises(ModelNotFoundError, match=r"claude-nope-1.*check model"):
        llm.generate("contract scenario: model not found")


def test_max_tokens_replays_with_its_own_recording(transcripts: list[Transcript]) -> None:
    assert _replayed(transcripts).generate("contract scenario: max tokens", max_tokens=500) == "Hello from the stub"


def test_a_timed_out_transcript_raises_at_once(transcripts: list[Transcript]) -> None:
    llm = _replayed(transcripts, timeout=2)
    started = time.monotonic()

    with pytest.raises(LLMTimeoutException, match="did not finish within 2 s"):
        llm.generate("contract scenario: hang")

    assert time.monotonic() - started < 1
    assert llm.metrics["timeouts"] == 1


def test_model_info_from_the_real_version(transcripts: list[Transcript]) -> None:
    llm = _replayed(transcripts)

    assert llm.availability_problem() is None
    info = llm.get_model_info()

    assert (info["provider"], info["model_name"], info["type"], info["version"]) == (
        "claude-code",
        "claude-sonnet-4-5",
        "cli",
        "2.1.332 (Claude Code)",
    )
    assert info["details"]["tools"] == []
    assert llm.estimate_tokens("hello world") == 2


# -- what each run gets --------------------------------------------------------------------------------

_OK = (_delta("Hi"), _delta(" there"), _result("Hi there"))


def test_the_full_argv_and_the_prompt_on_stdin() -> None:
    runner = CapturingRunner(_OK)
    llm = _claude(runner, model="claude-haiku-4-5", extra_args=["--effort", "low"])

    assert llm.generate("rate this --flag", system="You review code.") == "Hi there"

    [run] = runner.runs
    assert run["argv"] == [
        "/opt/claude/bin/claude",
        *("-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"),
        *("--tools", "", "--strict-mcp-config", "--setting-sources", "", "--no-session-persistence"),
        *("--disable-slash-commands", "--max-turns", "1", "--system-prompt", "You review code."),
        *("--model", "claude-haiku-4-5", "--effort", "low"),
    ]
    assert run["stdin"] == "rate this --flag"
    assert run["cwd_was_empty"] is True


def test_without_system_the_cli_prompt_is_still_replaced() -> None:
    runner = CapturingRunner(_OK)

    _claude(runner).generate("hi")

    argv = runner.runs[0]["argv"]
    assert argv[argv.index("--system-prompt") + 1] == ""
    assert "--model" not in argv


def test_each_run_gets_a_fresh_private_config_removed_afterwards() -> None:
    runner = CapturingRunner(_OK)
    llm = _claude(runner, timeout=42.5)

    llm.generate("one")
    llm.generate("two", max_tokens=300)

    first, second = (run["env"] for run in runner.runs)
    assert {key: first[key] for key in ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "CLAUDE_CODE_MAX_RETRIES")} == {
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    assert first["CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK"] == "1"
    assert first["API_TIMEOUT_MS"] == "42500"
    assert first["CLAUDE_CONFIG_DIR"] == os.path.join(first["TMPDIR"], "config")
    assert "CLAUDE_CODE_MAX_OUTPUT_TOKENS" not in first and second["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "300"
    assert first["TMPDIR"] != second["TMPDIR"]
    assert all(run["scratch_exists"] for run in runner.runs)
    assert not any(os.path.exists(env["TMPDIR"]) for env in (first, second))
    assert "ANTHROPIC_API_KEY" not in first  # the environment's own key reaches the CLI unchanged


def test_an_api_key_in_config_goes_to_the_cli_and_is_masked() -> None:
    secret = "sk-ant-api03-from-config-0123456789abcdef"
    end = ProcessExit(exit_code=1, signal=None, stderr="", duration=0.1)
    runner = CapturingRunner([_result(f"API Error: 400 bad key {secret}", is_error=True, status=400)], end)
    llm = _claude(runner, environ={}, api_key=secret)

    with pytest.raises(LLMResponseException) as caught:
        llm.generate("hi")

    assert runner.runs[-1]["env"]["ANTHROPIC_API_KEY"] == secret
    assert secret not in f"{caught.value} {caught.value!r}"


def _saved_login(home: Path, *, expires_in: float, token: str = "sk-ant-oat01-saved") -> dict[str, str]:
    folder = home / ".claude"
    folder.mkdir(parents=True)
    expires_ms = (time.time() + expires_in) * 1000
    login = {"claudeAiOauth": {"accessToken": token, "refreshToken": "sk-ant-ort01-x", "expiresAt": expires_ms}}
    (folder / ".credentials.json").write_text(json.dumps(login), encoding="utf-8")
    return {"HOME": str(home)}


def test_a_valid_saved_login_is_lent_as_a_token(tmp_path: Path) -> None:
    runner = CapturingRunner(_OK)
    llm = _claude(runner, environ=_saved_login(tmp_path, expires_in=3600))

    assert llm.generate("hi") == "Hi there"

    assert runner.runs[0]["env"]["CLAUDE_CODE_OAUTH_TOKEN"] == "sk-ant-oat01-saved"
    assert not (Path(runner.runs[0]["env"]["CLAUDE_CONFIG_DIR"]) / ".credentials.json").exists()


def test_a_key_in_the_environment_wins_over_the_saved_login(tmp_path: Path) -> None:
    runner = CapturingRunner(_OK)
    environ = {**_saved_login(tmp_path, expires_in=3600), **KEYED}

    _claude(runner, environ=environ).generate("hi")

    assert "CLAUDE_CODE_OAUTH_TOKEN" not in runner.runs[0]["env"]


def test_an_expired_saved_login_fails_fast_naming_the_fix(tmp_path: Path) -> None:
    runner = CapturingRunner(_OK)
    llm = _claude(runner, environ=_saved_login(tmp_path, expires_in=30))

    with pytest.raises(AuthenticationError, match=r"\.credentials\.json has expired.*claude setup-token"):
        llm.generate("hi")

    assert runner.runs == []


@pytest.mark.parametrize("environ", [{}, {"HOME": "/nonexistent"}], ids=["empty", "no-saved-login"])
def test_no_login_fails_fast_naming_the_fix(environ: dict[str, str]) -> None:
    runner = CapturingRunner(_OK)
    llm = _claude(runner, environ=environ)

    with pytest.raises(AuthenticationError, match="claude setup-token.*ANTHROPIC_API_KEY") as caught:
        llm.generate("hi")

    assert caught.value.retryable is False
    assert runner.runs == []
    assert (llm.metrics["calls"], llm.metrics["errors"]) == (1, 1)


@pytest.mark.parametrize("variable", ["ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK"])
def test_other_credentials_need_no_login(variable: str) -> None:
    runner = CapturingRunner(_OK)

    assert _claude(runner, environ={"HOME": "/nonexistent", variable: "credential-0123456789"}).generate("hi") == "Hi there"


def test_options_the_cli_cannot_honour_are_rejected_by_name() -> None:
    with pytest.raises(ConfigError, match=r"temperature=0\.2 cannot be honoured by `claude -p`"):
        _claude(CapturingRunner(), temperature=0.2)
    llm = _claude(CapturingRunner())
    for option in ({"temperature": 0.1}, {"stop": ["x"]}, {"seed": 1}):
        with pytest.raises(ConfigError, match=f"option '{next(iter(option))}' is not supported by claude-code"):
            options: Any = option  # deliberately outside GenerateOptions' types
            llm.generate("hi", **options)


# -- how the events are read -----------------------------------------------------------------------------


def test_usage_counts_cache_tokens_and_thinking_is_not_the_answer() -> None:
    lines = (_delta("hmm", "thinking_delta"), *_OK)
    llm = _claude(CapturingRunner(lines))

    assert llm.generate("hi") == "Hi there"

    assert (llm.metrics["prompt_tokens"], llm.metrics["completion_tokens"]) == (15, 2)


def test_a_result_without_deltas_is_the_answer_in_one_piece() -> None:
    llm = _claude(CapturingRunner([_result("Whole answer")]))

    assert list(llm.generate_stream("hi")) == ["Whole answer"]


def test_a_result_longer_than_the_stream_gives_the_rest() -> None:
    llm = _claude(CapturingRunner([_delta("Hel"), _result("Hello")]))

    assert list(llm.generate_stream("hi")) == ["Hel", "lo"]


def test_a_result_that_contradicts_the_stream_is_an_error() -> None:
    llm = _claude(CapturingRunner([_delta("Hello"), _result("Goodbye")]), retry_attempts=3)

    with pytest.raises(LLMResponseException, match="differs from the text it streamed") as caught:
        llm.generate("hi")

    assert caught.value.retryable is False


def test_a_prompt_run_as_a_slash_command_is_not_an_answer() -> None:
    lines = [_result("/cost isn't available in this environment.", num_turns=0, stop_reason=None)]
    llm = _claude(CapturingRunner(lines), retry_attempts=3)

    with pytest.raises(LLMResponseException, match="slash command; start it with a space") as caught:
        llm.generate("/cost")

    assert caught.value.retryable is False


def test_pieces_without_a_result_are_no_answer() -> None:
    llm = _claude(CapturingRunner([_delta("Hel")]), retry_attempts=3)

    with pytest.raises(LLMResponseException, match="without its result event: no answer"):
        llm.generate("hi")
    stream = llm.generate_stream("hi")
    assert next(stream) == "Hel"
    with pytest.raises(LLMResponseException, match="no answer"):
        next(stream)


@pytest.mark.parametrize(
    ("text", "status", "expected", "retryable"),
    [
        ("Not logged in · Please run /login", None, AuthenticationError, False),
        ("Forbidden", 403, AuthenticationError, False),
        ("Your credit balance is too low to access the Anthropic API.", 400, RateLimitError, False),
        ("Request timed out. Set API_TIMEOUT_MS above 5000.", None, LLMTimeoutException, True),
        ("API Error: Connection error.", None, LLMResponseException, True),
        ("API Error: 400 messages: bad request", 400, LLMResponseException, False),
        ("something new", None, LLMResponseException, False),
    ],
)
def test_result_errors_by_status_then_wording(
    text: str, status: int | None, expected: type[LLMException], retryable: bool
) -> None:
    end = ProcessExit(exit_code=1, signal=None, stderr="", duration=0.1)
    llm = _claude(CapturingRunner([_result(text, is_error=True, status=status)], end))

    with pytest.raises(expected) as caught:
        llm.generate("hi")

    assert type(caught.value) is expected
    assert caught.value.retryable is retryable
    assert text[:40] in caught.value.message


def test_structured_score_replays_the_real_run_with_json_schema(transcripts: list[Transcript]) -> None:
    llm = _replayed(transcripts)

    score = generate_as(llm, "contract scenario: structured", Score)

    assert score == Score(8, Verdict.ACCEPT, [ANSWER_TEXT])
    assert llm.get_model_info()["details"]["structured"] == "native:--json-schema(StructuredOutput tool)"
    assert (llm.metrics["calls"], llm.metrics["structured_repairs"], llm.metrics["errors"]) == (1, 0, 0)


def test_a_text_answer_under_json_schema_is_repaired_once_then_raised(transcripts: list[Transcript]) -> None:
    llm = _replayed(transcripts)

    with pytest.raises(StructuredAnswerError, match="not JSON") as caught:
        generate_as(llm, "contract scenario: structured_text", Score)

    assert caught.value.raw_text == "Hello from the stub"
    assert (llm.metrics["calls"], llm.metrics["structured_repairs"], llm.metrics["errors"]) == (1, 1, 1)
