"""One ``CliFaultKit`` per CLI provider: how its fake CLI speaks, for the shared fault suite.

The fault tests (``test_cli_faults.py``) run small fake CLIs, Python scripts written to
``tmp_path``, through the real ``SubprocessRunner``. The script's common part (logging each
run, reading the prompt from stdin) is the suite's; a kit supplies the part in the tool's
own output format: Python source defining the functions the tests script with, and the
facts the tests check against (what a 429 and a 401 look like, the usage-error exit code).

Functions a kit's ``events`` source must define (``emit(event)`` writes one JSON line):

- ``begin()``: the events a run prints before any answer (session start);
- ``piece(text)``: one piece of the answer, as a stream would give it;
- ``finish(input_tokens, output_tokens)``: the events ending a successful run, with usage;
- ``fail(message)``: the tool's report of a failed run, then its failure exit;
- ``junk()``: events of the tool's format that are malformed (no answer can come of them);
- ``noise()``: one event line of about 1 KB that is no part of the answer;
- ``cut(text)``: an answer event cut in the middle of its line.

A new CLI provider adds its kit to ``CLI_KITS`` and gets the whole suite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from obra_llm.providers.claude_code import ClaudeCodeCLI
from obra_llm.providers.cli_base import CliLLM
from obra_llm.providers.codex import CodexCLI
from obra_llm.providers.gemini_cli import GeminiCLI

__all__ = ["CLI_KITS", "CliFaultKit"]


@attrs.frozen(kw_only=True)
class CliFaultKit:
    """Everything the shared CLI fault tests need to know about one CLI provider."""

    provider_type: type[CliLLM[Any]]
    #: The settings key naming the command to run (the fake's path goes there).
    command_key: str
    #: The environment that passes the provider's auth pre-check; its secrets must never be shown.
    environ: Mapping[str, str]
    #: Python source of the functions listed in the module docstring.
    events: str
    #: A failure message the tool prints when its API answered 429, and one for a 401.
    rate_limited: str
    unauthorized: str
    #: Text the ``AuthenticationError`` for ``unauthorized`` must contain (the fix).
    auth_fix: str
    #: The exit code ``fail`` ends with, and the one meaning a usage error.
    failure_exit_code: int = 1
    usage_exit_code: int = 2
    #: Whether the answer is kept when the run's closing events (usage) never come.
    answer_survives_a_missing_finish: bool = True

    @property
    def name(self) -> str:
        return self.provider_type.identity.name

    @property
    def secret(self) -> str | None:
        """The key the provider reads from ``environ`` (the fakes print it in the secrets tests); ``None``: keyless."""
        return next((self.environ[name] for name in self.provider_type.identity.key_variables if name in self.environ), None)


CODEX = CliFaultKit(
    provider_type=CodexCLI,
    command_key="codex_command",
    environ={"OPENAI_API_KEY": "sk-dummy-for-the-fake-cli-0123456789"},
    events='''
def begin():
    emit({"type": "thread.started", "thread_id": "t-1"})
    emit({"type": "turn.started"})


def piece(text):
    emit({"type": "item.completed", "item": {"id": "item_0", "type": "agent_message", "text": text}})


def finish(input_tokens=11, output_tokens=5):
    emit({"type": "turn.completed", "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}})


def fail(message):
    begin()
    emit({"type": "error", "message": message})
    emit({"type": "turn.failed", "error": {"message": message}})
    sys.exit(1)


def junk():
    emit({"type": "item.completed", "item": ["not", "an", "item"]})
    emit({"type": "item.completed", "item": {"type": "agent_message", "text": 42}})


def noise():
    emit({"type": "item.completed", "item": {"id": "r", "type": "reasoning", "text": "r" * 1000}})


def cut(text):
    sys.stdout.write(json.dumps({"type": "item.completed", "item": {"type": "agent_message", "text": text}})[:-10])
''',
    rate_limited="exceeded retry limit, last status: 429 Too Many Requests",
    unauthorized="unexpected status 401 Unauthorized: Incorrect API key provided., url: http://127.0.0.1:9/v1/responses",
    auth_fix="codex login",
)

#: The Gemini CLI's stream-json, as 0.61.0 prints it (see cassettes/cli/gemini/ for real runs).
#: Its failures here exit 1 (as a missing model does) so that the error text alone classifies
#: them; the real exit code is the HTTP status mod 256.
GEMINI = CliFaultKit(
    provider_type=GeminiCLI,
    command_key="gemini_command",
    environ={"GEMINI_API_KEY": "AIza-dummy-for-the-fake-cli-0123456789", "HOME": "/nonexistent"},
    events='''
def begin():
    emit({"type": "init", "timestamp": "2026-12-01T00:00:00.000Z", "session_id": "s-1", "model": "gemini-2.5-flash"})
    emit({"type": "message", "timestamp": "2026-12-01T00:00:00.001Z", "role": "user", "content": "the prompt"})


def piece(text):
    emit({"type": "message", "timestamp": "2026-12-01T00:00:00.002Z", "role": "assistant", "content": text, "delta": True})


def finish(input_tokens=11, output_tokens=5):
    stats = {"total_tokens": input_tokens + output_tokens, "input_tokens": input_tokens, "output_tokens": output_tokens}
    emit({"type": "result", "timestamp": "2026-12-01T00:00:00.003Z", "status": "success", "stats": stats})


def fail(message):
    begin()
    emit({"type": "result", "status": "error", "error": {"type": "unknown", "message": message}, "stats": {}})
    sys.exit(1)


def junk():
    emit({"type": "message", "role": "assistant", "content": ["not", "text"], "delta": True})
    emit({"type": "result", "status": "success", "stats": "not stats"})


def noise():
    emit({"type": "message", "role": "user", "content": "u" * 1000})


def cut(text):
    sys.stdout.write(json.dumps({"type": "message", "role": "assistant", "content": text, "delta": True})[:-10])
''',
    rate_limited="[API Error: You exceeded your current quota, please check your plan and billing details (HTTP 429).]",
    unauthorized="[API Error: API key not valid. Please pass a valid API key.]",
    auth_fix="set GEMINI_API_KEY",
    usage_exit_code=1,
    answer_survives_a_missing_finish=False,
)

CLAUDE_CODE = CliFaultKit(
    provider_type=ClaudeCodeCLI,
    command_key="claude_command",
    environ={"ANTHROPIC_API_KEY": "sk-ant-api03-dummy-for-the-fake-cli-0123456789"},
    # ``claude -p --output-format stream-json --include-partial-messages``, as 2.1.332 prints it.
    events='''
PIECES = []
# The HTTP status the real CLI reports beside its wording (``api_error_status``).
STATUS = {"Request rejected (429)": 429, "Invalid API key": 401}


def begin():
    emit({"type": "system", "subtype": "init", "session_id": "s-1", "tools": [], "model": "claude-sonnet-4-5"})
    emit({"type": "stream_event", "event": {"type": "message_start", "message": {"usage": {"input_tokens": 11}}}})


def piece(text):
    PIECES.append(text)
    delta = {"type": "text_delta", "text": text}
    emit({"type": "stream_event", "event": {"type": "content_block_delta", "index": 0, "delta": delta}})


def result(is_error, text, status=None, input_tokens=0, output_tokens=0):
    usage = {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "output_tokens": output_tokens}
    emit({"type": "result", "subtype": "success", "is_error": is_error, "result": text, "api_error_status": status,
          "num_turns": 1, "stop_reason": "stop_sequence" if is_error else "end_turn", "total_cost_usd": 0.0001,
          "usage": usage, "terminal_reason": "api_error" if is_error else "completed"})


def finish(input_tokens=11, output_tokens=5):
    result(False, "".join(PIECES), input_tokens=input_tokens, output_tokens=output_tokens)


def fail(message):
    begin()
    status = next((code for marker, code in STATUS.items() if marker in message), None)
    result(True, message, status)
    sys.exit(1)


def junk():
    emit({"type": "stream_event", "event": ["not", "an", "event"]})
    emit({"type": "stream_event", "event": {"type": "content_block_delta", "delta": {"type": "text_delta", "text": 42}}})


def noise():
    delta = {"type": "thinking_delta", "thinking": "t" * 1000}
    emit({"type": "stream_event", "event": {"type": "content_block_delta", "index": 0, "delta": delta}})


def cut(text):
    delta = {"type": "text_delta", "text": text}
    sys.stdout.write(json.dumps({"type": "stream_event", "event": {"type": "content_block_delta", "delta": delta}})[:-10])
''',
    rate_limited="API Error: Request rejected (429) · This request would exceed your organization's rate limit.",
    unauthorized="Invalid API key · Fix external API key",
    auth_fix="claude setup-token",
    usage_exit_code=1,
    # The answer is what the result event confirms: pieces without it may be a cut stream.
    answer_survives_a_missing_finish=False,
)

#: Every CLI provider's kit: the fault suite runs each test once per kit.
CLI_KITS: tuple[CliFaultKit, ...] = (CODEX, GEMINI, CLAUDE_CODE)
