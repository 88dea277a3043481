"""The Gemini CLI (``gemini`` headless, ``--output-format stream-json``) as a provider, on the CLI base.

Wire facts this module relies on (measured on @google/gemini-cli 0.61.0 against a local
stub, ``docs/providers/gemini-cli.md``): with stdin not a terminal the prompt is read from
it; settings come from ``$GEMINI_CLI_HOME/.gemini/settings.json`` (auth type, usage
statistics, tools, the CLI's own attempts); stdout is JSONL: ``init``, ``message`` (user,
then assistant pieces with ``delta``), ``error`` events, and one ``result`` with ``status``
and ``stats``. The exit code is the HTTP status mod 256 (400 -> 144 ... 503 -> 247), 1 for
other failures (a missing model too), 41 for auth, 42 input, 52 settings, 55 an untrusted
folder. A stream cut before its finish reason exits 0 with ``result.status`` ``error``, and
SIGTERM makes the CLI exit 0 too: only a ``success`` result is an answer.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Generator, Iterator, Mapping
from typing import Any, ClassVar

import attrs

from obra_llm.calls import StreamEnd, token_count
from obra_llm.config.secret import Secret
from obra_llm.errors import LLMException, LLMResponseException
from obra_llm.options import Call
from obra_llm.providers.cli_base import (
    CliIdentity,
    CliLLM,
    CliSettings,
    CliWire,
    FailureWording,
    Probe,
    RunOutcome,
    RunSetup,
    last_line,
)
from obra_llm.transports.process import ProcessExit

__all__ = ["GeminiCLI", "GeminiCliSettings", "GeminiCliWire"]

logger = logging.getLogger(__name__)

_PACKAGE = "@google/gemini-cli"
_KEY_VARIABLE = "GEMINI_API_KEY"
_AUTH_HINT = "set GEMINI_API_KEY (or api_key in the llm config), or run `gemini` once and choose \"Sign in with Google\""
#: The user's Google login, as the CLI stores it by default (``$GEMINI_CLI_HOME`` or ``~``).
_LOGIN_FILE = os.path.join(".gemini", "oauth_creds.json")
_SETTINGS_FILE = os.path.join("home", ".gemini", "settings.json")
#: Exit codes of the CLI's own fatal errors (``FatalError`` subclasses in its bundle).
_FATAL_EXITS = {42: "rejected its input", 44: "could not start its sandbox", 52: "rejected its settings", 55: "refused an untrusted folder"}
_AUTH_EXIT = 41

_USAGE = re.compile(r"^Usage: ", re.MULTILINE)
_RETRY_AFTER = re.compile(r"retry (?:in|after) (\d+(?:\.\d+)?)s", re.IGNORECASE)


@attrs.frozen(kw_only=True)
class GeminiCliSettings(CliSettings):
    """Keys of the ``gemini-cli`` provider.

    ``model`` empty means the CLI's own choice (its ``auto`` routing, or ``GEMINI_MODEL``);
    ``api_key`` is handed to the CLI as ``GEMINI_API_KEY`` (default: the caller's own
    ``$GEMINI_API_KEY``, then the user's Google login); ``temperature`` and ``max_tokens``
    go to the CLI's model configuration; ``extra_args`` are appended to the command line.
    """

    gemini_command: str = "gemini"
    api_key: Secret | None = None


class GeminiCliWire(CliWire[GeminiCliSettings]):
    """Translation between obra_llm and ``gemini --output-format stream-json``."""

    identity: ClassVar[CliIdentity] = CliIdentity(
        name="gemini-cli",
        label="the Gemini CLI",
        tool="gemini",
        install_hint=f"install it with `npm install -g {_PACKAGE}`, or set gemini_command to its full path",
        auth_hint=_AUTH_HINT,
        key_variables=(_KEY_VARIABLE,),
        replay_folder="gemini",
        docs="docs/providers/gemini-cli.md",
        estimate_model="gemini-2.5-flash",
        transcript_rules=(
            (r'("timestamp":")\d{4}-\d\d-\d\dT[^"]*(")', r"\1<TIME>\2"),
            (r'("session_id":")[0-9a-f]{8}-[0-9a-f-]{27}(")', r"\1<SESSION_ID>\2"),
            (r'("duration_ms":)\d+', r'\1"<MS>"'),
            (r"projects/\d+", "projects/<PROJECT>"),
        ),
        # Recorded against the local Gemini wire server, whose dummy key this is.
        demo_config={"type": "gemini-cli", "model": "gemini-2.5-flash", "api_key": "test-key-not-a-secret"},
    )
    settings_type: ClassVar[type[Any]] = GeminiCliSettings
    #: ``json_schema`` goes into the prompt (``INSTRUCTIONS``, the default): Gemini CLI 0.61.0 has no
    #: schema option (``gemini --help``: ``--output-format`` text/json/stream-json only), the answer is validated.
    supported_options: ClassVar[frozenset[str]] = frozenset({"system", "timeout", "temperature", "max_tokens", "json_schema"})
    usage_exit_codes: ClassVar[frozenset[int]] = frozenset()
    #: The wording of the CLI's errors (the Gemini API's, and node's network errors) beyond the common phrases.
    wording: ClassVar[FailureWording] = FailureWording(
        auth="API[_ ]key not valid|API_KEY_INVALID|UNAUTHENTICATED|PERMISSION_DENIED",
        spent="daily quota|PerDay",
        rate="RESOURCE_EXHAUSTED|exceeded your current quota",
        model="ModelNotFoundError|is not found for API version",
        connection="fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|socket hang up",
        transient="Incomplete JSON segment|finish reason|INVALID_STREAM|UNAVAILABLE",
    )

    def command(self, settings: GeminiCliSettings) -> str:
        return settings.gemini_command

    def argv(self, settings: GeminiCliSettings, call: Call, *, binary: str, workdir: str, schema_file: str | None = None) -> list[str]:
        """Headless, structured output, no trust prompt; the prompt goes to stdin (there is no ``-p``)."""
        argv = [binary, "--output-format", "stream-json", "--skip-trust"]
        if settings.model:
            argv += ["-m", settings.model]
        return [*argv, *settings.extra_args]

    def run_setup(self, settings: GeminiCliSettings, call: Call, *, scratch: str, environ: Mapping[str, str]) -> RunSetup:
        """A fresh CLI home with the settings a one-shot answer needs; its temp files go beside it."""
        login = None if settings.api_key or environ.get(_KEY_VARIABLE) else _login_file(environ)
        env = {
            "GEMINI_CLI_HOME": os.path.join(scratch, "home"),
            # Where a failed run writes its error report: removed with the rest.
            "TMPDIR": scratch,
            # One process instead of a launcher re-executing node with a bigger heap.
            "GEMINI_CLI_NO_RELAUNCH": "true",
            "GEMINI_SANDBOX": "false",
            "GEMINI_FORCE_ENCRYPTED_FILE_STORAGE": "false",
        }
        files = {_SETTINGS_FILE: json.dumps(_map_settings(call, login=login is not None))}
        if settings.api_key:
            env[_KEY_VARIABLE] = settings.api_key.reveal()
        if call.system:
            env["GEMINI_SYSTEM_MD"] = os.path.join(scratch, "system.md")
            files["system.md"] = call.system
        copies = {os.path.join("home", _LOGIN_FILE): login} if login else {}
        return RunSetup(env=env, files=files, copies=copies)

    def process_events(self, events: Iterator[Mapping[str, Any]]) -> Generator[str, None, RunOutcome]:
        """Yield each assistant piece; the ``result`` event decides success and carries usage."""
        error: str | None = None
        result: Mapping[str, Any] | None = None
        for event in events:
            kind = event.get("type")
            if kind == "message" and event.get("role") == "assistant":
                content = event.get("content")
                if isinstance(content, str) and content:
                    yield content
            elif kind == "error":
                message = _text(event.get("message")) or "error event (no message)"
                if event.get("severity") == "warning":
                    logger.warning("gemini warning: %s", message)
                else:
                    error = message
            elif kind == "result":
                result = event
        if result is None:
            # Killed, or cut off: exit code 0 does not make that an answer.
            return RunOutcome(error=error, failed=True)
        stats = result.get("stats")
        usage = stats if isinstance(stats, dict) else {}
        end = StreamEnd(prompt_tokens=token_count(usage, "input_tokens"), completion_tokens=token_count(usage, "output_tokens"))
        if result.get("status") != "success":
            reported = result.get("error")
            said = _text(reported.get("message")) if isinstance(reported, dict) else None
            return RunOutcome(end=end, error=said or error or f"result status {result.get('status')!r}", failed=True)
        return RunOutcome(end=end, error=error)

    def classify_failure(self, message: str | None, end: ProcessExit, settings: GeminiCliSettings) -> LLMException:
        """From the exit code (the HTTP status mod 256, or the CLI's own codes) and the error text."""
        code = end.exit_code
        if end.signal is not None:
            return super().classify_failure(message, end, settings)
        text = message or last_line(end.stderr)
        status = code + 256 if code is not None and 144 <= code <= 255 else None
        fields: dict[str, Any] = {"exit_code": code, "status_code": status}
        usage = _usage_error(end.stderr) if message is None and code != 0 else None
        if usage:
            msg = f"gemini rejected its command line (exit code {code}, usage error): {usage}; check extra_args"
            return LLMResponseException(msg, retryable=False, **fields)
        says = self.wording.says
        if code == _AUTH_EXIT or status in (401, 403) or says("auth", text):
            return self.worded_failure("auth", text, **fields)
        if says("spent", text):
            return self.worded_failure("spent", text, **fields)
        if status == 429 or says("rate", text):
            wait = _RETRY_AFTER.search(text)
            return self.worded_failure("rate", text, retry_after=float(wait.group(1)) if wait else None, **fields)
        if status == 404 or says("model", text):
            return self.worded_failure("model", text, model=settings.model, **fields)
        if code in _FATAL_EXITS:
            hint = "; check extra_args" if settings.extra_args else ""
            return LLMResponseException(f"gemini {_FATAL_EXITS[code]} (exit code {code}): {text}{hint}", retryable=False, **fields)
        if says("connection", text):
            return self.worded_failure("connection", text, **fields)
        if code == 0 and message is None:
            msg = "gemini gave no answer: it exited 0 without a result event (killed from outside, or its output was cut)"
            return LLMResponseException(msg, retryable=False, **fields)
        transient = (status is not None and status >= 500) or says("transient", text)
        return self.worded_failure("transient" if transient else None, text, **fields)

    def auth_problem(self, settings: GeminiCliSettings, environ: Mapping[str, str], probe: Probe, timeout: float) -> str | None:
        """An API key, or the user's Google login file; otherwise the CLI would stop at a login prompt."""
        if settings.api_key or environ.get(_KEY_VARIABLE) or _login_file(environ):
            return None
        return f"the Gemini CLI has no credentials: {_AUTH_HINT}"

    def secrets(self, settings: GeminiCliSettings) -> list[str]:
        return [settings.api_key.reveal()] if settings.api_key else []

    def installed_version(self, binary: str) -> str | None:
        """From the npm package's ``package.json``: ``gemini --version`` alone takes 0.8-3 s to start."""
        return _package_version(binary)

    def model_details(self, settings: GeminiCliSettings) -> dict[str, Any]:
        return {"output_format": "stream-json", "tools": "none", "attempts_inside_cli": 1}


class GeminiCLI(CliLLM[GeminiCliSettings]):
    """The ``gemini-cli`` provider: one headless ``gemini`` run per attempt, prompt on stdin."""

    wire_type = GeminiCliWire


# -- request mapping (ours -> wire) ------------------------------------------------------------


def _map_settings(call: Call, *, login: bool) -> dict[str, Any]:
    """The CLI home's settings.json: auth, no telemetry, no tools, one attempt (obra_llm retries)."""
    settings: dict[str, Any] = {
        "security": {"auth": {"selectedType": "oauth-personal" if login else "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
        "tools": {"core": []},
        "general": {"maxAttempts": 1},
    }
    generation: dict[str, Any] = {}
    if call.temperature is not None:
        generation["temperature"] = call.temperature
    if call.max_tokens is not None:
        generation["maxOutputTokens"] = call.max_tokens
    if generation:
        override = {"match": {"overrideScope": "core"}, "modelConfig": {"generateContentConfig": generation}}
        settings["modelConfigs"] = {"customOverrides": [override]}
    return settings


def _login_file(environ: Mapping[str, str]) -> str | None:
    """The user's stored Google login, if there is one."""
    home = environ.get("GEMINI_CLI_HOME") or environ.get("HOME") or os.path.expanduser("~")
    path = os.path.join(home, _LOGIN_FILE)
    return path if os.path.isfile(path) else None


def _package_version(binary: str) -> str | None:
    """The version in the ``package.json`` of the npm package ``binary`` belongs to (it is a link into it)."""
    folder = os.path.dirname(os.path.realpath(binary))
    for _ in range(3):
        try:
            with open(os.path.join(folder, "package.json"), encoding="utf-8") as file:
                package = json.load(file)
        except (OSError, ValueError):
            package = None
        if isinstance(package, dict) and package.get("name") == _PACKAGE and isinstance(package.get("version"), str):
            return str(package["version"])
        folder = os.path.dirname(folder)
    return None


# -- response processing (wire -> ours) ----------------------------------------------------------


def _usage_error(stderr: str) -> str | None:
    """The complaint before the ``Usage:`` text the CLI prints for a bad command line (yargs)."""
    found = _USAGE.search(stderr)
    if found is None:
        return None
    before = [line.strip() for line in stderr[: found.start()].splitlines() if line.strip()]
    return before[-1][:500] if before else "(no complaint printed)"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
