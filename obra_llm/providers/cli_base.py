"""The ``LLMPlugin`` methods once, for every CLI provider; each provider supplies a ``CliWire``.

A ``CliWire`` is pure translation between obra_llm and one command-line tool: its identity
(a ``CliIdentity`` record), the command line for a call, how to read its stdout events,
how it words a failure, and how to tell whether it is logged in. ``CliLLM`` does the rest
the same way for every tool: settings, finding the binary, retries and metrics, a fresh
working directory per run, secrets masked in everything the tool prints, availability
within its bound, model info, closing. A provider module then holds its wire and a short
class binding it::

    class CodexCLI(CliLLM[CodexSettings]):
        wire_type = CodexWire

The wire declares the identity and the settings type once; the class reads them from it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, Literal, NamedTuple, TypedDict, TypeVar, Unpack, get_args

import attrs

from obra_llm import errors
from obra_llm.calls import CallRunner, Completion, StreamEnd, StreamItems
from obra_llm.config.convert import parse_settings
from obra_llm.config.settings import CommonSettings
from obra_llm.options import Call, resolve_call, validate_options
from obra_llm.protocol import GenerateOptions, ModelInfo, ProviderKind
from obra_llm.providers.lifecycle import PROBE_TIMEOUT, Lifecycle
from obra_llm.redaction import Redactor
from obra_llm.retry import RetryPolicy
from obra_llm.structured import INSTRUCTIONS, Answer, StructuredMode, refuse_streamed, structured_call
from obra_llm.tokens import estimate_tokens
from obra_llm.transports.process import (
    ProcessExit,
    ProcessRunner,
    ProcessTimeoutError,
    RunItems,
    SubprocessRunner,
    encode_stdin,
)

__all__ = [
    "PROBE_TIMEOUT",
    "CliIdentity",
    "CliLLM",
    "CliSeams",
    "CliSettings",
    "CliWire",
    "FailureKind",
    "FailureWording",
    "Probe",
    "RunOutcome",
    "RunSetup",
    "last_line",
]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound="CliSettings")

#: The kinds of failure a tool's wording tells apart; ``spent``: a quota or allowance used up.
FailureKind = Literal["auth", "spent", "rate", "model", "timeout", "connection", "transient"]

#: What the APIs behind every tool say, whichever tool relays it; each tool's wording adds to it.
_COMMON_WORDING: Mapping[FailureKind, str] = {
    "auth": r"\b401\b|unauthori[sz]ed|invalid[_ ]api[_ ]key",
    "rate": r"\b429\b|too many requests|rate limit",
    "model": r"model .{0,80}(?:not found|does not exist)",
    "transient": r"overloaded|temporar|timed? ?out|connection",
}


@attrs.frozen(kw_only=True)
class CliIdentity:
    """Who a CLI provider is: the facts the shared code, the demo and the recordings read.

    ``binary`` is the default command, the ``tool``'s own name unless given.
    ``transcript_rules`` are ``(regex, replacement)`` pairs that make a fresh recording of
    the tool compare equal to the committed one (ids it makes up per run, for instance).
    ``demo_config`` is the configuration its demo transcript was recorded with.
    """

    name: str
    label: str
    tool: str
    binary: str = attrs.field(default=attrs.Factory(lambda identity: identity.tool, takes_self=True))
    install_hint: str
    auth_hint: str
    key_variables: tuple[str, ...] = ()
    replay_folder: str
    docs: str
    estimate_model: str
    transcript_rules: tuple[tuple[str, str], ...] = ()
    demo_config: Mapping[str, Any] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class FailureWording:
    """How a tool words each kind of failure: its own phrases (regexes), matched case-insensitively.

    A kind's pattern is the tool's phrases joined to the common ones (``401``, ``rate limit``,
    ``model ... does not exist``, ``overloaded``...). ``kind_of`` tries the kinds in the order
    of the fields; a wire that also reads a status or an exit code asks ``says`` kind by kind.
    """

    auth: str = ""
    spent: str = ""
    rate: str = ""
    model: str = ""
    timeout: str = ""
    connection: str = ""
    transient: str = ""
    _patterns: Mapping[FailureKind, re.Pattern[str]] = attrs.field(init=False, repr=False, eq=False)

    @_patterns.default
    def _compile(self) -> Mapping[FailureKind, re.Pattern[str]]:
        patterns: dict[FailureKind, re.Pattern[str]] = {}
        for kind in get_args(FailureKind):
            phrases = "|".join(filter(None, (getattr(self, kind), _COMMON_WORDING.get(kind))))
            if phrases:
                patterns[kind] = re.compile(phrases, re.IGNORECASE)
        return patterns

    def says(self, kind: FailureKind, text: str) -> bool:
        """Whether ``text`` words a failure of ``kind``."""
        pattern = self._patterns.get(kind)
        return pattern is not None and pattern.search(text) is not None

    def kind_of(self, text: str) -> FailureKind | None:
        """The first kind ``text`` words, in the order of the fields (``None``: none of them)."""
        return next((kind for kind, pattern in self._patterns.items() if pattern.search(text)), None)


@attrs.frozen(kw_only=True)
class CliSettings(CommonSettings):
    """Keys every CLI provider accepts besides the common ones.

    ``working_dir`` replaces the fresh empty directory each call otherwise runs in;
    ``extra_args`` are passed to the tool unchanged (the wire says where).
    """

    model: str = ""
    working_dir: str | None = None
    extra_args: list[str] = attrs.field(factory=list)


class RunSetup(NamedTuple):
    """What one run needs besides its command line, laid out in its private scratch directory.

    ``env`` is set for the run only; ``files`` (path relative to the scratch directory ->
    text) are written and ``copies`` (relative path -> a file to copy) copied before it
    starts, readable by the user alone. The directory is removed after the run, whatever ends it.
    """

    env: Mapping[str, str] = {}
    files: Mapping[str, str] = {}
    copies: Mapping[str, str] = {}


class RunOutcome(NamedTuple):
    """What a run's events said once they ended: usage, and the tool's account of a failure.

    ``failed`` means the tool reported the run as failed (whatever its exit code);
    ``error`` is the last error message it printed, quoted if the run fails;
    ``answered`` means the events gave a whole answer although the tool exits non-zero.
    """

    end: StreamEnd = StreamEnd()
    error: str | None = None
    failed: bool = False
    answered: bool = False


#: Runs the tool's binary with short helper arguments (``args``, ``timeout``): its stdout lines and exit.
Probe = Callable[[Sequence[str], float], tuple[list[str], ProcessExit]]


class CliWire(Generic[S]):
    """Translation between obra_llm and one CLI: no I/O, ``CliLLM`` runs the processes.

    Subclasses set ``identity`` and ``settings_type`` and implement ``command``, ``argv``
    and ``process_events``; every other method has a default that fits a JSONL tool.
    """

    identity: ClassVar[CliIdentity]
    settings_type: ClassVar[type[Any]]
    #: The ``generate`` options the tool can honour; others are rejected by name.
    supported_options: ClassVar[frozenset[str]] = frozenset({"system", "timeout", "json_schema"})
    #: How a call's ``json_schema`` reaches the tool: its own option (``native``), or the prompt.
    structured_mode: ClassVar[StructuredMode] = INSTRUCTIONS
    #: The tool reads the schema from a file: ``argv`` then gets ``schema_file``, a fresh one per run.
    takes_schema_file: ClassVar[bool] = False
    #: Exit codes meaning the tool rejected its command line (nothing was run: not retried).
    usage_exit_codes: ClassVar[frozenset[int]] = frozenset({2})
    #: How the tool words its failures, for ``classify_failure``.
    wording: ClassVar[FailureWording] = FailureWording()

    def command(self, settings: S) -> str:
        """The configured command (a name on PATH or a path)."""
        raise NotImplementedError

    def setting_problems(self, settings: S) -> list[str]:
        """Settings the tool cannot honour, as ``reason @ $.key`` lines (none by default)."""
        return []

    def argv(self, settings: S, call: Call, *, binary: str, workdir: str, schema_file: str | None = None) -> list[str]:
        """The command line of one run; the prompt goes to stdin, never here.

        ``schema_file`` holds ``call.json_schema`` when the wire ``takes_schema_file``.
        """
        raise NotImplementedError

    def secrets(self, settings: S) -> list[str]:
        """Credentials held in the settings, masked like the key variables in all the tool prints."""
        return []

    def run_setup(self, settings: S, call: Call, *, scratch: str, environ: Mapping[str, str]) -> RunSetup:
        """The environment and files of one run (none by default); ``scratch`` is its private directory."""
        return RunSetup()

    def parse_line(self, line: str) -> Mapping[str, Any] | None:
        """One stdout line as an event: a JSON object, else ``None`` (noise, logged at debug)."""
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if isinstance(event, dict):
            return event
        if line.strip():
            logger.debug("%s: skipping a stdout line that is not a JSON event: %.200s", self.identity.tool, line)
        return None

    def process_events(self, events: Iterator[Mapping[str, Any]]) -> Generator[str, None, RunOutcome]:
        """Yield the answer's text pieces as the events give them; return what the run said."""
        raise NotImplementedError

    def answer(self, pieces: Sequence[str]) -> str | None:
        """The whole answer from a run's pieces (``None``: the run gave no answer)."""
        return "".join(pieces) if pieces else None

    def classify_failure(self, message: str | None, end: ProcessExit, settings: S) -> errors.LLMException:
        """The exception for a failed run: from a signal or a usage error, else the tool's ``wording`` of ``message``."""
        tool = self.identity.tool
        code = end.exit_code
        if end.signal is not None:
            msg = f"{tool} was killed by signal {end.signal}: {message or last_line(end.stderr)}"
            return errors.LLMResponseException(msg, retryable=True)
        if message is not None:
            return self.worded_failure(self.wording.kind_of(message), message, model=settings.model, exit_code=code)
        if code in self.usage_exit_codes:
            msg = f"{tool} rejected its command line (exit code {code}, usage error): {last_line(end.stderr)}; check extra_args"
            return errors.LLMResponseException(msg, exit_code=code, retryable=False)
        detail = f"exited with code {code} without an error event: {last_line(end.stderr)}"
        return errors.LLMResponseException(f"{tool} failed: {detail}", exit_code=code, retryable=False)

    def worded_failure(self, kind: FailureKind | None, text: str, *, model: str = "", **fields: Any) -> errors.LLMException:
        """The exception for a failure of ``kind`` (``None``: none it names) that the tool described as ``text``.

        One message per kind for every tool; ``fields`` go to the exception (``exit_code``,
        ``status_code``, ``retry_after``), ``model`` into the hint of a missing model.
        """
        tool = self.identity.tool
        if kind == "auth":
            return errors.AuthenticationError(f"{tool} was refused authentication: {text}; {self.identity.auth_hint}", **fields)
        if kind == "spent":
            return errors.RateLimitError(f"{tool}'s quota is spent (retrying soon will not help): {text}", retryable=False, **fields)
        if kind == "rate":
            return errors.RateLimitError(f"{tool} was rate limited: {text}", **fields)
        if kind == "model":
            return errors.ModelNotFoundError(f"{tool} model not found: {text}; check model{f' {model!r}' if model else ''}", **fields)
        if kind == "timeout":
            return errors.LLMTimeoutException(f"{tool}'s request timed out: {text}", retryable=True, **fields)
        if kind == "connection":
            return errors.LLMConnectionException(f"{tool} could not reach the API: {text}", retryable=True, **fields)
        transient = kind == "transient"
        return errors.LLMResponseException(f"{tool} failed{' (transient)' if transient else ''}: {text}", retryable=transient, **fields)

    #: The arguments that make the tool print its version (as its first stdout line).
    version_args: ClassVar[tuple[str, ...]] = ("--version",)

    def installed_version(self, binary: str) -> str | None:
        """The tool's version read without running it (``None``: run ``version_args``); for slow starters."""
        return None

    def auth_problem(self, settings: S, environ: Mapping[str, str], probe: Probe, timeout: float) -> str | None:
        """Why the tool cannot authenticate (with the fix), or ``None``; by default any key variable will do."""
        variables = self.identity.key_variables
        if not variables or any(environ.get(name) for name in variables):
            return None
        return f"{self.identity.label} has no credentials: {self.identity.auth_hint}"

    def model_details(self, settings: S) -> dict[str, Any]:
        """Tool-specific facts for ``get_model_info()["details"]``."""
        return {}


class CliSeams(TypedDict, total=False):
    """What tests (and unusual deployments) may inject into a CLI provider."""

    runner: ProcessRunner
    which: Callable[[str], str | None]
    environ: Mapping[str, str]
    clock: Callable[[], float]
    sleep: Callable[[float], None]


@attrs.frozen
class _Ready(Generic[S]):
    """What ``initialize`` resolves once: settings, the binary's path, the call runner, the mask."""

    settings: S
    binary: str
    calls: CallRunner
    redact: Redactor
    environ: Mapping[str, str]


class CliLLM(Lifecycle["_Ready[S]"], Generic[S]):
    """A CLI provider: the ``LLMPlugin`` methods over one ``CliWire``, one process per attempt.

    The constructor does no I/O; ``initialize`` validates the config and finds the binary;
    every call runs the tool in a fresh empty directory (removed afterwards) with the prompt
    on stdin, retried per policy and counted in ``metrics`` once, whatever ends it.
    """

    #: The wire this provider translates with; ``settings_type`` and ``identity`` are its.
    wire_type: ClassVar[type[CliWire[Any]]]
    settings_type: ClassVar[type[CommonSettings]]
    identity: ClassVar[CliIdentity]
    kind: ClassVar[ProviderKind] = "cli"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        wire_type = cls.__dict__.get("wire_type")
        if wire_type is not None:
            cls.settings_type = wire_type.settings_type
            cls.identity = wire_type.identity

    def __init__(self, **seams: Unpack[CliSeams]) -> None:
        self._wire: CliWire[S] = self.wire_type()
        self._runner: ProcessRunner = seams.get("runner") or SubprocessRunner()
        self._which = seams.get("which", shutil.which)
        self._environ = seams.get("environ")
        self._clock = seams.get("clock", time.monotonic)
        self._sleep = seams.get("sleep", time.sleep)
        self._state: _Ready[S] | None = None
        self._closed = False
        self._version: str | None = None
        self._auth_ok = False

    def __repr__(self) -> str:
        name = type(self).__name__
        if self._state is None:
            return f"{name}(uninitialized)"
        return f"{name}(model={self._state.settings.model!r}, binary={self._state.binary!r})"

    # -- the LLMPlugin interface -------------------------------------------------------

    def initialize(self, config: Mapping[str, Any], /) -> None:
        """Validate ``config`` and find the binary on PATH; nothing is run."""
        wire = self._wire
        identity = wire.identity
        settings = parse_settings(wire.settings_type, config, provider=identity.name)
        problems = wire.setting_problems(settings)
        if problems:
            lines = "\n".join(f"  - {problem}" for problem in problems)
            msg = f"invalid {identity.name} configuration:\n{lines}"
            raise errors.ConfigError(msg, problems=problems)
        command = wire.command(settings)
        binary = self._which(command)
        if binary is None:
            msg = f"{identity.label} ({command!r}) is not installed or not on PATH: {identity.install_hint}"
            raise errors.LLMConnectionException(msg, provider=identity.name, retryable=False)
        environ = os.environ if self._environ is None else self._environ
        policy = RetryPolicy.from_settings(settings, timeout=settings.timeout)
        calls = CallRunner(policy, clock=self._clock, sleep=self._sleep)
        redact = Redactor([*(environ.get(name) for name in identity.key_variables), *wire.secrets(settings)])
        self._state = _Ready(settings, binary, calls, redact, environ)
        self._closed = False
        self._version = None
        self._auth_ok = False
        logger.debug("%s provider ready: %s", identity.name, binary)

    def generate(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> str:
        """The whole answer to ``prompt`` from one run of the tool (retried per policy)."""
        state, call = self._prepare(prompt, options)
        if call.json_schema is None:
            return state.calls.complete(self._attempt(state, call, prompt), timeout=call.timeout).text
        return self._structured(state, call, call.json_schema, prompt).text

    def generate_structured(self, prompt: str, schema: Mapping[str, Any], /, **options: Unpack[GenerateOptions]) -> Any:
        """The parsed JSON value of an answer conforming to ``schema`` (``SupportsStructured``)."""
        state, call = self._prepare(prompt, {**options, "json_schema": schema})
        return self._structured(state, call, schema, prompt).value

    def _structured(self, state: _Ready[S], call: Call, schema: Mapping[str, Any], prompt: str) -> Answer:
        return structured_call(
            state.calls, schema, prompt, mode=self._wire.structured_mode, repairs=state.settings.structured_repairs,
            provider=self._wire.identity.name, timeout=call.timeout, ask=lambda text: self._attempt(state, call, text),
        )

    def generate_stream(self, prompt: str, /, **options: Unpack[GenerateOptions]) -> Generator[str, None, None]:
        """Yield the answer's pieces as the tool reports them (a failure before the first is retried)."""
        state, call = self._prepare(prompt, options)
        refuse_streamed(call.json_schema, self._wire.identity.name)
        return state.calls.stream(lambda left: self._run(state, prompt, call, left), timeout=call.timeout)

    def _attempt(self, state: _Ready[S], call: Call, prompt: str) -> Callable[[float], Completion]:
        """One run's whole answer to ``prompt``."""
        wire = self._wire

        def attempt(left: float) -> Completion:
            pieces: list[str] = []
            end = StreamEnd()
            for item in self._run(state, prompt, call, left):
                if isinstance(item, StreamEnd):
                    end = item
                else:
                    pieces.append(item)
            answer = wire.answer(pieces)
            if answer is None:
                msg = f"{wire.identity.tool} finished without an answer (no answer event)"
                raise errors.LLMResponseException(msg, provider=wire.identity.name)
            return Completion(answer, end.prompt_tokens, end.completion_tokens, end.stop_reason)

        return attempt

    @property
    def provider_name(self) -> str:
        return self._wire.identity.name

    def availability_problem(self) -> str | None:
        """Why calls cannot succeed now (with the fix), or ``None`` when they can."""
        state = self._ready()
        started = self._clock()
        try:
            self._version = self._probe_version(state, PROBE_TIMEOUT)
        except errors.LLMException as error:
            args = " ".join(self._wire.version_args)
            return f"`{self._wire.command(state.settings)} {args}` failed: {error.message}"
        left = PROBE_TIMEOUT - (self._clock() - started)
        return self._auth_problem(state, max(left, 0.1))

    def get_model_info(self) -> ModelInfo:
        """Provider, model (empty: the tool's own default), the tool's version and details."""
        state = self._ready()
        if self._version is None:
            try:
                self._version = self._probe_version(state, PROBE_TIMEOUT)
            except errors.LLMException as error:
                logger.debug("%s --version failed: %s", self._wire.identity.tool, error)
        return {
            "provider": self._wire.identity.name,
            "model_name": state.settings.model,
            "type": self.kind,
            "execution_mode": "subprocess",
            "context_length": None,
            "version": self._version or "unknown",
            "details": {
                "binary": state.binary,
                "structured": self._wire.structured_mode.name,
                **self._wire.model_details(state.settings),
            },
        }

    def estimate_tokens(self, text: str, /) -> int:
        """Offline tiktoken estimate for the configured model (the tool's usual model otherwise)."""
        model = self._state.settings.model if self._state else ""
        return estimate_tokens(text, model or self.identity.estimate_model)

    @classmethod
    def count_tokens(cls, text: str, config: Mapping[str, Any], /) -> int:
        """``estimate_tokens`` for ``config``'s model without ``initialize``: no binary, no login needed."""
        settings = parse_settings(cls.settings_type, config, provider=cls.identity.name)
        return estimate_tokens(text, settings.model or cls.identity.estimate_model)

    # -- plumbing ------------------------------------------------------------------------

    def _prepare(self, prompt: str, options: GenerateOptions) -> tuple[_Ready[S], Call]:
        """The ready state and this call's record; bad options or an unsendable prompt fail before any run."""
        state = self._ready()
        name = self._wire.identity.name
        checked = validate_options(options, provider=name, supported=self._wire.supported_options)
        encode_stdin(prompt, what=f"the prompt for {name}")
        return state, resolve_call(state.settings, checked)

    def _run(self, state: _Ready[S], prompt: str, call: Call, left: float) -> StreamItems:
        """One attempt: check auth, run the tool in a fresh directory (its own files in another), translate its events."""
        wire = self._wire
        identity = wire.identity
        budget = min(call.timeout, left)
        try:
            self._check_auth(state)
            with _workdir(state.settings.working_dir, identity.tool) as workdir, _scratch(identity.tool) as scratch:
                setup = wire.run_setup(state.settings, call, scratch=scratch, environ=state.environ)
                _lay_out(scratch, setup)
                schema_file = _schema_file(wire, call, scratch)
                extra = {"schema_file": schema_file} if schema_file else {}
                argv = wire.argv(state.settings, call, binary=state.binary, workdir=workdir, **extra)
                items = self._runner.run(argv, stdin=prompt, timeout=budget, cwd=workdir, env=setup.env or None)
                yield from self._translate(state, items)
        except ProcessTimeoutError as error:
            error.stderr = state.redact(error.stderr)
            msg = f"{identity.tool} did not finish within {budget:g} s (timeout); its processes were killed"
            raise errors.LLMTimeoutException(msg, provider=identity.name, retryable=True) from error
        except errors.LLMException as error:
            error.provider = error.provider or identity.name
            raise

    def _translate(self, state: _Ready[S], items: RunItems) -> StreamItems:
        """Text pieces then a ``StreamEnd`` from a run; the run's failure raised. Secrets are masked on entry."""
        ended: list[ProcessExit] = []
        outcome = yield from self._wire.process_events(self._events(state, items, ended))
        if not ended:
            msg = f"the {self._wire.identity.tool} run ended without an exit status"
            raise errors.LLMResponseException(msg)
        end = ended[0]
        if outcome.failed or (end.exit_code != 0 and not outcome.answered):
            raise self._wire.classify_failure(outcome.error, end, state.settings)
        yield outcome.end

    def _events(self, state: _Ready[S], items: RunItems, ended: list[ProcessExit]) -> Iterator[Mapping[str, Any]]:
        """The run's events, each line masked before it is parsed; its exit (stderr masked) goes to ``ended``."""
        redact = state.redact
        parse = self._wire.parse_line
        for item in items:
            if isinstance(item, ProcessExit):
                ended.append(attrs.evolve(item, stderr=redact(item.stderr)) if redact else item)
                return
            event = parse(redact(item) if redact else item)
            if event is not None:
                yield event

    def _probe(self, state: _Ready[S]) -> Probe:
        def probe(args: Sequence[str], timeout: float) -> tuple[list[str], ProcessExit]:
            lines: list[str] = []
            for item in self._runner.run([state.binary, *args], stdin="", timeout=timeout):
                if isinstance(item, ProcessExit):
                    return lines, attrs.evolve(item, stderr=state.redact(item.stderr))
                lines.append(state.redact(item))
            msg = f"`{self._wire.identity.tool} {' '.join(args)}` ended without an exit status"
            raise errors.LLMResponseException(msg, provider=self._wire.identity.name)

        return probe

    def _probe_version(self, state: _Ready[S], timeout: float) -> str:
        installed = self._wire.installed_version(state.binary)
        if installed:
            return installed
        lines, end = self._probe(state)(self._wire.version_args, timeout)
        if end.exit_code != 0 or not lines:
            msg = f"exit code {end.exit_code}: {last_line(end.stderr)}"
            raise errors.LLMResponseException(msg, provider=self._wire.identity.name, exit_code=end.exit_code)
        return lines[0].strip()

    def _check_auth(self, state: _Ready[S]) -> None:
        """Fail fast where the tool might otherwise wait forever for a login (inside the call: it is counted)."""
        if self._auth_ok:
            return
        problem = self._auth_problem(state, PROBE_TIMEOUT)
        if problem:
            raise errors.AuthenticationError(problem, provider=self._wire.identity.name)

    def _auth_problem(self, state: _Ready[S], timeout: float) -> str | None:
        problem = self._wire.auth_problem(state.settings, state.environ, self._probe(state), timeout)
        self._auth_ok = problem is None
        return problem


def last_line(text: str) -> str:
    """The most telling stderr line: the last one mentioning an error, else the last one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    chosen = errors[-1] if errors else lines[-1] if lines else "(stderr is empty)"
    return chosen[:500]


@contextmanager
def _workdir(configured: str | None, tool: str) -> Iterator[str]:
    """The configured directory, or a fresh empty one removed after the run."""
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix=f"obra-{tool}-") as fresh:
        yield fresh


@contextmanager
def _scratch(tool: str) -> Iterator[str]:
    """A fresh private directory for one run's own files (a CLI home, its temp files), removed after it."""
    with tempfile.TemporaryDirectory(prefix=f"obra-{tool}-run-") as fresh:
        yield fresh


def _lay_out(scratch: str, setup: RunSetup) -> None:
    """Write and copy ``setup``'s files under ``scratch``, readable by the user alone (they may hold credentials)."""
    try:
        for relative, text in setup.files.items():
            _write_private(os.path.join(scratch, relative), text.encode())
        for relative, source in setup.copies.items():
            with open(source, "rb") as original:
                _write_private(os.path.join(scratch, relative), original.read())
    except OSError as error:
        msg = f"could not prepare the run's files: {error.strerror or error} ({error.filename})"
        raise errors.LLMResponseException(msg, retryable=False) from error


def _write_private(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def _schema_file(wire: CliWire[Any], call: Call, scratch: str) -> str | None:
    """The call's schema written under the run's ``scratch`` directory, for a tool that reads it from a file."""
    if call.json_schema is None or not wire.takes_schema_file:
        return None
    path = os.path.join(scratch, "schema.json")
    _write_private(path, json.dumps(call.json_schema).encode())
    return path
