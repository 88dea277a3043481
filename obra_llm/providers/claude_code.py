"""Anthropic's Claude Code CLI (``claude -p``) as a provider: translation over ``CliLLM``.

Wire facts this module relies on (measured on Claude Code 2.1.332, ``docs/providers/claude-code.md``):
with ``-p`` the prompt is read from stdin; ``--output-format stream-json --verbose
--include-partial-messages`` prints one JSON event per line: ``stream_event`` wrapping each raw
SSE event (the answer arrives as ``text_delta`` pieces), then one ``result`` object. A failed
call also exits 1 with a ``result`` whose ``is_error`` is true (its ``subtype`` still says
"success"), the CLI's wording in ``result`` and the HTTP status in ``api_error_status``; a
spent subscription allowance adds a ``rate_limit_event`` saying ``rejected`` and when it
resets. A bad command line exits 1 with ``error: ...`` on stderr and no event. The CLI
retries on its own (10 times, ~3 minutes, even a 401) and falls back to a non-streaming
request when a stream breaks; both are switched off so that obra_llm's retries and deadline
are the only ones. ``--json-schema <schema>`` (inline JSON; ``claude --help``: "JSON Schema for
structured output validation") offers the model one tool, ``StructuredOutput``, whose
``input_schema`` is the schema (no ``tool_choice``: it is told to call it); the model's call ends
the run in one request and turn, and ``result`` is its input as compact JSON (also
``structured_output``). A model that answers text instead gets the CLI's "You MUST call the
StructuredOutput tool" turn, which ``--max-turns 1`` does not allow: the run fails
(``terminal_reason: max_turns``) and obra_llm repairs it like any non-conforming answer.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Generator, Iterator, Mapping
from typing import Any

import attrs

from obra_llm.calls import StreamEnd, token_count
from obra_llm.config.constraints import header_value
from obra_llm.config.secret import Secret
from obra_llm.errors import LLMException, LLMResponseException, RateLimitError
from obra_llm.options import Call
from obra_llm.providers.anthropic import input_tokens
from obra_llm.providers.cli_base import CliIdentity, CliLLM, CliSettings, CliWire, FailureWording, Probe, RunOutcome, RunSetup
from obra_llm.structured import native
from obra_llm.transports.process import ProcessExit

__all__ = ["CLAUDE_CODE", "ClaudeCodeCLI", "ClaudeCodeSettings", "ClaudeCodeWire"]

logger = logging.getLogger(__name__)

_UUID = r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"

CLAUDE_CODE = CliIdentity(
    name="claude-code",
    label="Claude Code",
    tool="claude",
    install_hint="install it with `npm install -g @anthropic-ai/claude-code`, or set claude_command to its full path",
    auth_hint=(
        "run `claude setup-token` and export CLAUDE_CODE_OAUTH_TOKEN (a Claude Pro/Max subscription), "
        "or `claude auth login`, or set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN)"
    ),
    key_variables=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
    replay_folder="claude-code",
    docs="docs/providers/claude-code.md",
    estimate_model="claude-sonnet-4-5",
    # Ids, clocks and durations the CLI makes up per run (durations become 0: lines stay JSON);
    # none matches its own placeholder.
    transcript_rules=(
        (_UUID, "<UUID>"),
        (r'("[a-z_]*(?:_ms|Ms)":)[1-9]\d*', r"\g<1>0"),
        (r'("timestamp":")\d{4}-\d\d-\d\dT[^"]+(")', r"\1<TIME>\2"),
    ),
    # Recorded against the local Messages stub (tests/support/claude_code_stub.py).
    demo_config={"type": "claude-code", "model": "claude-sonnet-4-5", "api_key": "test-key-not-a-secret"},
)

#: The flags of every run (see the docs page for why each one is there).
_FIXED_FLAGS = (
    *("-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"),
    *("--tools", "", "--strict-mcp-config", "--setting-sources", "", "--no-session-persistence"),
    *("--disable-slash-commands", "--max-turns", "1"),
)
#: The environment every run gets on top of the caller's.
_FIXED_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # no telemetry, update checks or error reports
    "CLAUDE_CODE_MAX_RETRIES": "0",  # obra_llm retries, under its deadline
    "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",  # a cut stream fails instead of being asked again
}
#: Variables that make the CLI use a cloud provider's own credentials instead of a login.
_CLOUD_VARIABLES = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY")
#: The file ``claude auth login`` keeps the login in on Linux and Windows (macOS: the keychain).
_SAVED_LOGIN = ".credentials.json"


@attrs.frozen(kw_only=True)
class ClaudeCodeSettings(CliSettings):
    """Keys of the ``claude-code`` provider.

    ``model`` empty means the CLI's default model; ``max_tokens`` caps the answer
    (``CLAUDE_CODE_MAX_OUTPUT_TOKENS``); ``api_key`` is given to the CLI as
    ``ANTHROPIC_API_KEY`` (empty: the key or login the CLI finds itself); ``extra_args`` are
    appended to the command line. ``temperature`` cannot be honoured by ``claude -p`` and is
    rejected.
    """

    claude_command: str = CLAUDE_CODE.binary
    api_key: Secret | None = attrs.field(default=None, metadata=header_value())


class ClaudeCodeWire(CliWire[ClaudeCodeSettings]):
    """``claude -p`` with stream-json output: argv, environment, events, failure wording, login check."""

    identity = CLAUDE_CODE
    settings_type = ClaudeCodeSettings
    supported_options = frozenset({"system", "timeout", "max_tokens", "json_schema"})
    #: ``--json-schema``: the CLI's StructuredOutput tool, whose input is the schema (the module docstring).
    structured_mode = native("--json-schema(StructuredOutput tool)")
    #: Claude Code exits 1 for a bad command line too; without a result event that is not retried anyway.
    usage_exit_codes = frozenset({1})
    #: The CLI's wording of failures (``result`` text) beyond the common phrases, for runs whose status does not say.
    wording = FailureWording(
        auth="not logged in|/login|oauth token|authentication",
        spent=r"hit your .{0,40}limit|usage limit|credit balance|spend limit",
        model="issue with the selected model",
        timeout="timed out",
    )

    def command(self, settings: ClaudeCodeSettings) -> str:
        return settings.claude_command

    def setting_problems(self, settings: ClaudeCodeSettings) -> list[str]:
        if settings.temperature is None:
            return []
        reason = "cannot be honoured by `claude -p` (it has no such option); remove it"
        return [f"temperature={settings.temperature!r} {reason} @ $.temperature"]

    def secrets(self, settings: ClaudeCodeSettings) -> list[str]:
        return [settings.api_key.reveal()] if settings.api_key else []

    def argv(
        self, settings: ClaudeCodeSettings, call: Call, *, binary: str, workdir: str, schema_file: str | None = None
    ) -> list[str]:
        # An empty system prompt replaces the CLI's 6 kB coding-agent prompt too.
        argv = [binary, *_FIXED_FLAGS, "--system-prompt", call.system or ""]
        if settings.model:
            argv += ["--model", settings.model]
        if call.json_schema is not None:
            argv += ["--json-schema", json.dumps(call.json_schema, separators=(",", ":"))]
        return [*argv, *settings.extra_args]

    def run_setup(
        self, settings: ClaudeCodeSettings, call: Call, *, scratch: str, environ: Mapping[str, str]
    ) -> RunSetup:
        """A fresh config and temp directory in ``scratch`` (removed after the run), the CLI's own retries off."""
        env = {
            **_FIXED_ENV,
            "CLAUDE_CONFIG_DIR": os.path.join(scratch, "config"),
            "TMPDIR": scratch,
            "API_TIMEOUT_MS": str(max(1, math.ceil(call.timeout * 1000))),
        }
        if call.max_tokens is not None:
            env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(call.max_tokens)
        if settings.api_key:
            env["ANTHROPIC_API_KEY"] = settings.api_key.reveal()
        elif not _has_credentials(environ):
            token = _saved_login_token(environ)
            if token:
                env["CLAUDE_CODE_OAUTH_TOKEN"] = token
        return RunSetup(env=env)

    def process_events(self, events: Iterator[Mapping[str, Any]]) -> Generator[str, None, RunOutcome]:
        """Each ``text_delta``; usage, stop reason and failure from the ``result`` event."""
        streamed: list[str] = []
        result: Mapping[str, Any] | None = None
        resets_at: float | None = None
        for event in events:
            kind = event.get("type")
            if kind == "stream_event":
                text = _text_delta(event.get("event"))
                if text:
                    streamed.append(text)
                    yield text
            elif kind == "result":
                result = event
            elif kind == "rate_limit_event":
                resets_at = _rejected_until(event.get("rate_limit_info")) or resets_at
            elif kind == "system" and event.get("subtype") == "api_retry":
                logger.debug("claude retried a request: %s", event.get("error"))
        if result is None:
            return RunOutcome(failed=True)  # pieces without the closing result may be a cut stream
        if result.get("subtype") == "error_max_turns" and streamed:
            # Under --json-schema the model wrote text instead of calling StructuredOutput, and the CLI's
            # enforcing turn is past --max-turns 1: that text is the answer (validation repairs or rejects it).
            return RunOutcome(_end(result), answered=True)
        if result.get("is_error") is not False:
            raise self._result_failure(result, resets_at)
        answer = result.get("result")
        if not isinstance(answer, str) or result.get("num_turns") == 0:
            raise _no_model_answer(answer)
        done = "".join(streamed)
        if not answer.startswith(done):
            msg = f"claude's result differs from the text it streamed ({len(done)} characters): the answer was restarted"
            raise LLMResponseException(msg, retryable=False)
        if len(answer) > len(done):
            yield answer[len(done) :]
        logger.debug("claude result: stop reason %s, the CLI's cost estimate USD %s", result.get("stop_reason"), result.get("total_cost_usd"))
        return RunOutcome(_end(result))

    def _result_failure(self, result: Mapping[str, Any], resets_at: float | None) -> LLMException:
        """The exception for a ``result`` with ``is_error``: from ``api_error_status`` first, then the wording."""
        raw_status = result.get("api_error_status")
        status = raw_status if isinstance(raw_status, int) and not isinstance(raw_status, bool) else None
        text = str(result.get("result") or "no message")[:500]
        fields: dict[str, Any] = {"status_code": status, "exit_code": 1}
        says = self.wording.says
        if status in (401, 403) or (status is None and says("auth", text)):
            return self.worded_failure("auth", text, **fields)
        if resets_at is not None or says("spent", text):
            wait = None if resets_at is None else max(resets_at - time.time(), 0.0)
            return RateLimitError(f"the Claude usage limit is reached: {text}", retryable=False, retry_after=wait, **fields)
        if status == 429:
            return self.worded_failure("rate", text, **fields)
        if status == 404 or says("model", text):
            return self.worded_failure("model", text, **fields)
        if status is None and says("timeout", text):
            return self.worded_failure("timeout", text, **fields)
        transient = (status is not None and status >= 500) or (status is None and says("transient", text))
        return self.worded_failure("transient" if transient else None, text, **fields)

    def classify_failure(self, message: str | None, end: ProcessExit, settings: ClaudeCodeSettings) -> LLMException:
        """A run without a ``result`` event (the wording of those that have one is read in ``process_events``)."""
        if message is None and end.exit_code == 0:
            msg = "claude exited without its result event: no answer (what it streamed may be cut)"
            return LLMResponseException(msg, exit_code=0, retryable=False)
        return super().classify_failure(message, end, settings)

    def auth_problem(
        self, settings: ClaudeCodeSettings, environ: Mapping[str, str], probe: Probe, timeout: float
    ) -> str | None:
        """A key or token variable, a cloud provider, or a saved login will do; the CLI would say "Not logged in"."""
        if settings.api_key or _has_credentials(environ):
            return None
        saved = _saved_login(environ)
        if saved is None:
            return f"Claude Code has no login and no key is set: {CLAUDE_CODE.auth_hint}"
        if _saved_login_token(environ) is None:
            return f"the Claude Code login saved in {saved} has expired or cannot be read: {CLAUDE_CODE.auth_hint}"
        return None

    def model_details(self, settings: ClaudeCodeSettings) -> dict[str, Any]:
        return {"tools": [], "session_persisted": False, "cost": "the CLI's list-price estimate (logged, not billed)"}


class ClaudeCodeCLI(CliLLM[ClaudeCodeSettings]):
    """The ``claude-code`` provider: one ``claude -p`` run per attempt, prompt on stdin."""

    wire_type = ClaudeCodeWire


# -- environment -------------------------------------------------------------------------------


def _has_credentials(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for name in (*CLAUDE_CODE.key_variables, *_CLOUD_VARIABLES))


def _saved_login(environ: Mapping[str, str]) -> str | None:
    """The file ``claude auth login`` saved the user's login in, if there is one (macOS keeps it in the keychain)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    path = os.path.join(environ.get("CLAUDE_CONFIG_DIR") or os.path.join(home, ".claude"), _SAVED_LOGIN)
    return path if os.path.isfile(path) else None


def _saved_login_token(environ: Mapping[str, str]) -> str | None:
    """The saved login's access token while it is valid for another minute, else ``None``.

    The run gets it as ``CLAUDE_CODE_OAUTH_TOKEN``, which the CLI never refreshes: a refresh
    inside the run's throw-away config would spend the saved refresh token and log the user out.
    """
    path = _saved_login(environ)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            login = json.load(file).get("claudeAiOauth") or {}
    except (OSError, ValueError, AttributeError):
        return None
    token, expires_ms = login.get("accessToken"), login.get("expiresAt")
    if not isinstance(token, str) or not token or not isinstance(expires_ms, int | float):
        return None
    return token if expires_ms / 1000 > time.time() + 60 else None


# -- response processing (wire -> ours) ----------------------------------------------------------


def _text_delta(raw: Any) -> str | None:
    """The text of a ``content_block_delta`` / ``text_delta`` stream event (thinking deltas are not the answer)."""
    if not isinstance(raw, dict) or raw.get("type") != "content_block_delta":
        return None
    delta = raw.get("delta")
    if isinstance(delta, dict) and delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
        text: str = delta["text"]
        return text
    return None


def _rejected_until(info: Any) -> float | None:
    """When a rejected subscription allowance resets (epoch seconds), from a ``rate_limit_event``."""
    if isinstance(info, dict) and info.get("status") == "rejected" and isinstance(info.get("resetsAt"), int | float):
        return float(info["resetsAt"])
    return None


def _end(result: Mapping[str, Any]) -> StreamEnd:
    """Usage and stop reason from a ``result`` event."""
    reported = result.get("usage")
    usage: Mapping[str, Any] = reported if isinstance(reported, dict) else {}
    stop = result.get("stop_reason")
    return StreamEnd(input_tokens(usage), token_count(usage, "output_tokens"), stop if isinstance(stop, str) else None)


def _no_model_answer(answer: Any) -> LLMResponseException:
    """A successful ``result`` the model did not write: the prompt was taken as a ``/command``."""
    msg = (
        f"claude answered without asking the model ({str(answer)[:200]!r}): a prompt starting with '/' "
        "is taken as a slash command; start it with a space or a newline"
    )
    return LLMResponseException(msg, retryable=False)
