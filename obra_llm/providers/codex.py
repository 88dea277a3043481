"""The OpenAI Codex CLI (``codex exec --json``) as a provider, over the process transport.

Wire facts this module relies on (measured on codex-cli 0.169.0, ``docs/providers/codex.md``):
the prompt is read from stdin when the prompt argument is ``-``; with ``--json`` stdout is
JSONL events; the answer is the last ``agent_message`` item, usage is on ``turn.completed``
(input and output, no total); an ``item.completed`` of type ``error`` is a warning; a
failure is a ``turn.failed`` (and ``error``) event on stdout with exit code 1, never stderr;
exit code 2 is a usage error (an unknown flag). With the default OpenAI provider and no
credentials the CLI does not fail but retries until killed, so calls check auth first.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Unpack

import attrs

from obra_llm.calls import CallRunner, Completion, StreamEnd, StreamItems, token_count
from obra_llm.config.constraints import one_of
from obra_llm.config.convert import parse_settings
from obra_llm.config.settings import CommonSettings
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
from obra_llm.metrics import Metrics
from obra_llm.options import validate_options
from obra_llm.protocol import GenerateOptions, MetricsSnapshot, ModelInfo, ProviderKind
from obra_llm.retry import RetryPolicy
from obra_llm.tokens import estimate_tokens
from obra_llm.transports.process import ProcessExit, ProcessRunner, ProcessTimeoutError, RunItems, SubprocessRunner

__all__ = ["CodexCLI", "CodexSettings", "build_argv"]

logger = logging.getLogger(__name__)

_PROVIDER = "openai-codex"
_INSTALL_HINT = "install it with `npm install -g @openai/codex`, or set codex_command to its full path"
_AUTH_HINT = "run `codex login`, or set OPENAI_API_KEY (or CODEX_API_KEY)"
#: How long ``is_available`` may take in all (``--version`` plus, maybe, ``login status``).
_PROBE_TIMEOUT = 0.9
#: The model used to pick a tokenizer when none is configured (codex's defaults are GPT-5 models).
_ESTIMATE_MODEL = "gpt-5"
#: Options codex exec can honour: ``system`` becomes developer instructions, ``timeout`` the run's.
_SUPPORTED_OPTIONS = frozenset({"system", "timeout"})

SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
#: The approval modes of the old TypeScript CLI, mapped to the sandbox giving the same file access.
_LEGACY_APPROVAL_MODES = {"suggest": "read-only", "auto-edit": "workspace-write", "full-auto": "workspace-write"}
_API_KEY_VARIABLES = ("OPENAI_API_KEY", "CODEX_API_KEY")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

# Error text of turn.failed / error events, as the CLI words them (see the module docstring).
_AUTH = re.compile(r"\b401\b|unauthori[sz]ed|invalid[_ ]api[_ ]key|not logged in", re.IGNORECASE)
_QUOTA = re.compile(r"insufficient_quota|quota exceeded|usage limit", re.IGNORECASE)
_RATE = re.compile(r"\b429\b|too many requests|rate limit", re.IGNORECASE)
_MODEL = re.compile(r"model[_ ]not[_ ]found|model `[^`]*` does not exist|model .{0,80} does not exist", re.IGNORECASE)
_TRANSIENT = re.compile(
    r"high demand|stream disconnected|\b5\d\d\b|timed? ?out|connection (?:reset|refused|closed)|temporar",
    re.IGNORECASE,
)


@attrs.frozen(kw_only=True)
class CodexSettings(CommonSettings):
    """Keys of the ``openai-codex`` provider.

    ``model`` empty means the model of the user's ``$CODEX_HOME/config.toml``. ``sandbox``
    defaults to ``read-only``; the legacy ``approval_mode`` is mapped to a sandbox.
    ``config_overrides`` become ``-c key=value`` (values TOML-encoded); ``extra_args`` go
    before the prompt argument unchanged; ``working_dir`` replaces the fresh empty directory
    each call otherwise runs in. ``temperature`` and ``max_tokens`` cannot be honoured by
    ``codex exec`` and are rejected.
    """

    model: str = ""
    codex_command: str = "codex"
    sandbox: str | None = attrs.field(default=None, metadata=one_of(SANDBOXES))
    approval_mode: str | None = attrs.field(default=None, metadata=one_of(_LEGACY_APPROVAL_MODES))
    config_overrides: dict[str, Any] = attrs.field(factory=dict)
    profile: str | None = None
    extra_args: list[str] = attrs.field(factory=list)
    working_dir: str | None = None


@attrs.frozen(kw_only=True)
class _Ready:
    """What ``initialize`` resolved once: settings, the binary's path and the fixed argv part."""

    settings: CodexSettings
    binary: str
    sandbox: str
    calls: CallRunner


class CodexCLI:
    """The ``openai-codex`` provider: one ``codex exec --json`` run per attempt, prompt on stdin."""

    settings_type: ClassVar[type[CodexSettings]] = CodexSettings
    kind: ClassVar[ProviderKind] = "cli"

    def __init__(
        self,
        *,
        runner: ProcessRunner | None = None,
        which: Callable[[str], str | None] = shutil.which,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._runner: ProcessRunner = runner if runner is not None else SubprocessRunner()
        self._which = which
        self._environ = environ
        self._clock = clock
        self._sleep = sleep
        self._ready_state: _Ready | None = None
        self._version: str | None = None
        self._auth_ok = False

    def __repr__(self) -> str:
        if self._ready_state is None:
            return "CodexCLI(uninitialized)"
        ready = self._ready_state
        return f"CodexCLI(model={ready.settings.model!r}, binary={ready.binary!r}, sandbox={ready.sandbox!r})"

    # -- the LLMPlugin interface -------------------------------------------------------

    def initialize(self, config: Mapping[str, Any], /) -> None:
        """Validate ``config`` and find the ``codex`` binary on PATH; nothing is run."""
        settings = parse_settings(CodexSettings, config, provider=_PROVIDER)
        problems = _unsupported_settings(settings)
        if problems:
            lines = "\n".join(f"  - {problem}" for problem in problems)
            msg = f"invalid {_PROVIDER} configuration:\n{lines}"
            raise ConfigError(msg, problems=problems)
        sandbox = _map_sandbox(settings)
        binary = self._which(settings.codex_command)
        if binary is None:
            msg = f"the Codex CLI ({settings.codex_command!r}) is not installed or not on PATH: {_INSTALL_HINT}"
            raise LLMConnectionException(msg, provider=_PROVIDER, retryable=False)
        policy = RetryPolicy.from_settings(settings, timeout=settings.timeout)
        calls = CallRunner(policy, clock=self._clock, sleep=self._sleep)
        self._ready_state = _Ready(settings=settings, binary=binary, sandbox=sandbox, calls=calls)
        self._version = None
        self._auth_ok = False
        logger.debug("openai-codex provider ready: %s, sandbox %s", binary, sandbox)

    def generate(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> str:
        """The answer to ``prompt``: the last agent message of one ``codex exec`` run (retried per policy)."""
        ready = self._ready()
        checked = validate_options(options, provider=_PROVIDER, supported=_SUPPORTED_OPTIONS)
        self._check_auth(ready)

        def attempt(left: float) -> Completion:
            answer: str | None = None
            end = StreamEnd()
            for item in self._run(ready, prompt, checked, left):
                if isinstance(item, StreamEnd):
                    end = item
                else:
                    answer = item
            if answer is None:
                msg = "codex finished without an agent message (no answer)"
                raise LLMResponseException(msg, provider=_PROVIDER)
            return Completion(answer, end.prompt_tokens, end.completion_tokens, end.stop_reason)

        return ready.calls.complete(attempt, timeout=checked.get("timeout", ready.settings.timeout)).text

    def generate_stream(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> Generator[str, None, None]:
        """Yield each agent message as soon as codex reports it complete.

        Best effort: ``codex exec --json`` reports whole messages, not tokens, so an answer
        made of one message arrives in one piece at the end. A failure before the first
        message is retried; after it, it is raised.
        """
        ready = self._ready()
        checked = validate_options(options, provider=_PROVIDER, supported=_SUPPORTED_OPTIONS)
        self._check_auth(ready)
        timeout = checked.get("timeout", ready.settings.timeout)
        return ready.calls.stream(lambda left: self._run(ready, prompt, checked, left), timeout=timeout)

    def is_available(self) -> bool:
        """Whether ``codex --version`` runs and credentials (or a keyless provider) are set, within 1 s."""
        problem = self.availability_problem()
        if problem:
            logger.info("openai-codex is not available: %s", problem)
        return problem is None

    def availability_problem(self) -> str | None:
        """Why calls cannot succeed now (with the fix), or ``None`` when they can."""
        ready = self._ready()
        started = time.monotonic()
        try:
            self._version = self._probe_version(ready, _PROBE_TIMEOUT)
        except LLMException as error:
            return f"`{ready.settings.codex_command} --version` failed: {error.message}"
        left = _PROBE_TIMEOUT - (time.monotonic() - started)
        return self._auth_problem(ready, max(left, 0.1))

    def get_model_info(self) -> ModelInfo:
        """Provider, model (empty: codex's configured default), CLI version and safety flags."""
        ready = self._ready()
        if self._version is None:
            try:
                self._version = self._probe_version(ready, _PROBE_TIMEOUT)
            except LLMException as error:
                logger.debug("codex --version failed: %s", error)
        settings = ready.settings
        return {
            "provider": _PROVIDER,
            "model_name": settings.model,
            "type": self.kind,
            "execution_mode": "subprocess",
            "context_length": None,
            "version": self._version or "unknown",
            "details": {"binary": ready.binary, "sandbox": ready.sandbox, "profile": settings.profile},
        }

    @property
    def metrics(self) -> MetricsSnapshot:
        """Counters since ``initialize``: calls, tokens, latency, errors, timeouts, retries."""
        return (self._ready_state.calls.metrics if self._ready_state else Metrics()).snapshot()

    def estimate_tokens(self, text: str, /) -> int:
        """Offline tiktoken estimate for the configured model (GPT-5's encoding by default)."""
        ready = self._ready_state
        return estimate_tokens(text, (ready.settings.model if ready else "") or _ESTIMATE_MODEL)

    # -- plumbing ------------------------------------------------------------------------

    def _ready(self) -> _Ready:
        if self._ready_state is None:
            msg = "CodexCLI is not initialized: call initialize(config) first"
            raise RuntimeError(msg)
        return self._ready_state

    def _run(self, ready: _Ready, prompt: str, options: GenerateOptions, left: float) -> StreamItems:
        """One attempt: run codex in a fresh directory and translate its events."""
        settings = ready.settings
        budget = min(options.get("timeout", settings.timeout), left)
        system = options.get("system", settings.system)
        with _workdir(settings.working_dir) as workdir:
            argv = build_argv(settings, binary=ready.binary, sandbox=ready.sandbox, workdir=workdir, system=system)
            try:
                yield from _process_events(self._runner.run(argv, stdin=prompt, timeout=budget))
            except ProcessTimeoutError as error:
                msg = f"codex did not finish within {budget:g} s (timeout); its processes were killed"
                raise LLMTimeoutException(msg, provider=_PROVIDER, retryable=True) from error
            except LLMException as error:
                error.provider = error.provider or _PROVIDER
                raise

    def _probe_version(self, ready: _Ready, timeout: float) -> str:
        lines, end = _collect(self._runner.run([ready.binary, "--version"], stdin="", timeout=timeout))
        if end.exit_code != 0 or not lines:
            msg = f"exit code {end.exit_code}: {_last_line(end.stderr)}"
            raise LLMResponseException(msg, provider=_PROVIDER, exit_code=end.exit_code)
        return lines[0].strip()

    def _check_auth(self, ready: _Ready) -> None:
        """Fail fast where codex would otherwise retry forever: the default provider without credentials."""
        if self._auth_ok:
            return
        problem = self._auth_problem(ready, _PROBE_TIMEOUT)
        if problem:
            raise AuthenticationError(problem, provider=_PROVIDER)

    def _auth_problem(self, ready: _Ready, timeout: float) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        if any(environ.get(name) for name in _API_KEY_VARIABLES) or _selects_keyless_provider(ready.settings, environ):
            self._auth_ok = True
            return None
        try:
            _, end = _collect(self._runner.run([ready.binary, "login", "status"], stdin="", timeout=timeout))
        except LLMException as error:
            return f"could not check codex login ({error.message}); {_AUTH_HINT}"
        if end.exit_code == 0:
            self._auth_ok = True
            return None
        return f"codex is not logged in and no API key is set: {_AUTH_HINT}"


# -- request mapping (ours -> wire) ------------------------------------------------------------


def build_argv(settings: CodexSettings, *, binary: str, sandbox: str, workdir: str, system: str | None = None) -> list[str]:
    """The ``codex exec`` command line; the prompt is never in it (``-`` reads stdin)."""
    argv = [binary, "exec", "--json", "--sandbox", sandbox, "--ephemeral", "--skip-git-repo-check", "--color", "never"]
    if settings.model:
        argv += ["-m", settings.model]
    if settings.profile:
        argv += ["-p", settings.profile]
    overrides = dict(settings.config_overrides)
    if system:
        overrides["developer_instructions"] = system
    for key, value in overrides.items():
        argv += ["-c", f"{key}={_toml_value(value)}"]
    argv += ["-C", workdir, *settings.extra_args, "-"]
    return argv


def _unsupported_settings(settings: CodexSettings) -> list[str]:
    problems = [
        f"{name}={value!r} cannot be honoured by `codex exec` (it has no such option); remove it @ $.{name}"
        for name, value in (("temperature", settings.temperature), ("max_tokens", settings.max_tokens))
        if value is not None
    ]
    for key, value in settings.config_overrides.items():
        try:
            _toml_value(value)
        except ValueError as error:
            problems.append(f"{value!r} cannot be passed as TOML: {error} @ $.config_overrides.{key}")
    if settings.sandbox and settings.approval_mode and _LEGACY_APPROVAL_MODES[settings.approval_mode] != settings.sandbox:
        problems.append(
            f"approval_mode={settings.approval_mode!r} means sandbox "
            f"{_LEGACY_APPROVAL_MODES[settings.approval_mode]!r}, which contradicts sandbox={settings.sandbox!r}; "
            "keep only sandbox @ $.approval_mode"
        )
    return problems


def _map_sandbox(settings: CodexSettings) -> str:
    if settings.sandbox:
        return settings.sandbox
    if settings.approval_mode:
        mapped = _LEGACY_APPROVAL_MODES[settings.approval_mode]
        logger.warning(
            "openai-codex: approval_mode=%r is a setting of the old Codex CLI; using sandbox=%r instead "
            "(set sandbox: %s to silence this warning)",
            settings.approval_mode,
            mapped,
            mapped,
        )
        return mapped
    return "read-only"


def _toml_value(value: Any) -> str:
    """``value`` as a TOML value, the way ``codex -c key=value`` parses it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = "TOML floats here must be finite"
            raise ValueError(msg)
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        pairs = (f"{_toml_key(str(key))} = {_toml_value(item)}" for key, item in value.items())
        return "{" + ", ".join(pairs) + "}"
    msg = f"a {type(value).__name__} has no TOML form (use strings, numbers, booleans, lists or mappings)"
    raise ValueError(msg)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


@contextmanager
def _workdir(configured: str | None) -> Iterator[str]:
    """The configured directory, or a fresh empty one removed after the run."""
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="obra-codex-") as fresh:
        yield fresh


def _selects_keyless_provider(settings: CodexSettings, environ: Mapping[str, str]) -> bool:
    """Whether config selects a model provider other than OpenAI's (``--oss``, custom providers)."""
    if "--oss" in settings.extra_args:
        return True
    chosen = settings.config_overrides.get("model_provider")
    if chosen is None:
        chosen = _user_config_provider(settings.profile, environ)
    return chosen is not None and chosen != "openai"


def _user_config_provider(profile: str | None, environ: Mapping[str, str]) -> Any:
    home = environ.get("CODEX_HOME") or os.path.join(os.path.expanduser("~"), ".codex")
    try:
        with open(os.path.join(home, "config.toml"), "rb") as file:
            config = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    profile = profile or config.get("profile")
    profiles = config.get("profiles")
    if profile and isinstance(profiles, dict) and isinstance(profiles.get(profile), dict):
        chosen = profiles[profile].get("model_provider")
        if chosen is not None:
            return chosen
    return config.get("model_provider")


# -- response processing (wire -> ours) ----------------------------------------------------------


def _process_events(items: RunItems) -> StreamItems:
    """Yield each agent message, then a ``StreamEnd`` with usage; raise the run's failure."""
    failure: str | None = None
    last_error: str | None = None
    usage: Mapping[str, Any] = {}
    for item in items:
        if isinstance(item, ProcessExit):
            # ``error`` events also report reconnects the CLI recovered from: only a failed
            # turn or a non-zero exit fails the run.
            if failure or item.exit_code != 0:
                raise _classify_failure(failure or last_error, item)
            yield StreamEnd(prompt_tokens=token_count(usage, "input_tokens"), completion_tokens=token_count(usage, "output_tokens"))
            return
        event = _parse_event(item)
        kind = event.get("type")
        if kind == "item.completed":
            text = _process_item(event.get("item"))
            if text is not None:
                yield text
        elif kind == "turn.completed":
            reported = event.get("usage")
            usage = reported if isinstance(reported, dict) else {}
        elif kind == "turn.failed":
            failure = _message(event.get("error")) or "turn failed (no message)"
        elif kind == "error":
            last_error = _message(event) or "error event (no message)"
            logger.debug("codex error event: %s", last_error)
    msg = "the codex run ended without an exit status"
    raise LLMResponseException(msg, provider=_PROVIDER)


def _parse_event(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        if line.strip():
            logger.debug("codex: skipping a stdout line that is not a JSON event: %.200s", line)
        return {}
    return event


def _process_item(item: Any) -> str | None:
    """The text of an ``agent_message`` item; warnings (``error`` items) are logged."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind == "agent_message" and isinstance(item.get("text"), str):
        text: str = item["text"]
        return text
    if kind == "error":
        logger.warning("codex warning: %s", _message(item) or item)
    return None


def _classify_failure(message: str | None, end: ProcessExit) -> LLMException:
    """The exception for a failed run: from the event text first, then exit code and stderr."""
    code = end.exit_code
    if message is None:
        if end.signal is not None:
            msg = f"codex was killed by signal {end.signal}: {_last_line(end.stderr)}"
            return LLMResponseException(msg, provider=_PROVIDER, retryable=True)
        if code == 2:
            msg = f"codex rejected its command line (exit code 2, usage error): {_last_line(end.stderr)}; check extra_args, config_overrides and profile"
            return LLMResponseException(msg, provider=_PROVIDER, exit_code=code, retryable=False)
        msg = f"codex exited with code {code} without an error event: {_last_line(end.stderr)}"
        return LLMResponseException(msg, provider=_PROVIDER, exit_code=code, retryable=False)
    fields: dict[str, Any] = {"provider": _PROVIDER, "exit_code": code}
    if _AUTH.search(message):
        return AuthenticationError(f"codex was refused authentication: {message}; {_AUTH_HINT}", **fields)
    if _QUOTA.search(message):
        return RateLimitError(f"codex quota is exhausted: {message}", retryable=False, **fields)
    if _RATE.search(message):
        return RateLimitError(f"codex was rate limited: {message}", **fields)
    if _MODEL.search(message):
        return ModelNotFoundError(f"codex model not found: {message}; check model (or -m in your profile)", **fields)
    if _TRANSIENT.search(message):
        return LLMResponseException(f"codex failed (transient): {message}", retryable=True, **fields)
    return LLMResponseException(f"codex failed: {message}", retryable=False, **fields)


def _message(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        text: str = value["message"]
        return text
    return None


def _collect(items: RunItems) -> tuple[list[str], ProcessExit]:
    lines: list[str] = []
    for item in items:
        if isinstance(item, ProcessExit):
            return lines, item
        lines.append(item)
    msg = "the codex run ended without an exit status"
    raise LLMResponseException(msg, provider=_PROVIDER)


def _last_line(text: str) -> str:
    """The most telling stderr line: the last one mentioning an error, else the last one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    chosen = errors[-1] if errors else lines[-1] if lines else "(stderr is empty)"
    return chosen[:500]
