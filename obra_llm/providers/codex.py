"""The OpenAI Codex CLI (``codex exec --json``) as a provider: translation over ``CliLLM``.

Wire facts this module relies on (measured on codex-cli 0.169.0, ``docs/providers/codex.md``):
the prompt is read from stdin when the prompt argument is ``-``; with ``--json`` stdout is
JSONL events; the answer is the last ``agent_message`` item, usage is on ``turn.completed``
(input and output, no total); an ``item.completed`` of type ``error`` is a warning; a
failure is a ``turn.failed`` (and ``error``) event on stdout with exit code 1, never stderr;
exit code 2 is a usage error (an unknown flag). With the default OpenAI provider and no
credentials the CLI does not fail but retries until killed, so calls check auth first.
``thread_id`` is a fresh uuid every run. ``--output-schema FILE`` makes the model's final
message conform to the JSON Schema in FILE (``codex exec --help``; codex-rs ``exec/src/cli.rs``:
sent to the Responses API as ``text.format`` ``json_schema``, strict).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tomllib
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import Any

import attrs

from obra_llm.calls import StreamEnd, token_count
from obra_llm.config.constraints import one_of
from obra_llm.errors import LLMException
from obra_llm.options import Call
from obra_llm.providers.cli_base import CliIdentity, CliLLM, CliSettings, CliWire, FailureWording, Probe, RunOutcome
from obra_llm.structured import native

__all__ = ["CODEX", "CodexCLI", "CodexSettings", "CodexWire", "build_argv"]

logger = logging.getLogger(__name__)

CODEX = CliIdentity(
    name="openai-codex",
    label="the Codex CLI",
    tool="codex",
    install_hint="install it with `npm install -g @openai/codex`, or set codex_command to its full path",
    auth_hint="run `codex login`, or set OPENAI_API_KEY (or CODEX_API_KEY)",
    key_variables=("OPENAI_API_KEY", "CODEX_API_KEY"),
    replay_folder="codex",
    docs="docs/providers/codex.md",
    estimate_model="gpt-5",  # codex's default models are GPT-5 ones
    transcript_rules=((r'("thread_id":\s*")[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}(")', r"\1<THREAD_ID>\2"),),
    # Recorded against a local Responses stub registered in config.toml as model provider
    # ``stub``; selecting it keeps replay independent of the user's login.
    demo_config={"type": "openai-codex", "model": "gpt-5-codex", "config_overrides": {"model_provider": "stub"}},
)

SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
#: The approval modes of the old TypeScript CLI, mapped to the sandbox giving the same file access.
_LEGACY_APPROVAL_MODES = {"suggest": "read-only", "auto-edit": "workspace-write", "full-auto": "workspace-write"}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")



@attrs.frozen(kw_only=True)
class CodexSettings(CliSettings):
    """Keys of the ``openai-codex`` provider.

    ``model`` empty means the model of the user's ``$CODEX_HOME/config.toml``. ``sandbox``
    defaults to ``read-only``; the legacy ``approval_mode`` is mapped to a sandbox.
    ``config_overrides`` become ``-c key=value`` (values TOML-encoded); ``extra_args`` go
    before the prompt argument unchanged. ``temperature`` and ``max_tokens`` cannot be
    honoured by ``codex exec`` and are rejected.
    """

    codex_command: str = CODEX.binary
    sandbox: str | None = attrs.field(default=None, metadata=one_of(SANDBOXES))
    approval_mode: str | None = attrs.field(default=None, metadata=one_of(_LEGACY_APPROVAL_MODES))
    config_overrides: dict[str, Any] = attrs.field(factory=dict)
    profile: str | None = None


class CodexWire(CliWire[CodexSettings]):
    """``codex exec --json``: argv, JSONL events, failure wording, login check."""

    identity = CODEX
    settings_type = CodexSettings
    structured_mode = native("--output-schema")
    takes_schema_file = True
    #: The wording of turn.failed and error events (the module docstring), beyond the common phrases.
    wording = FailureWording(
        auth="not logged in",
        spent="insufficient_quota|quota exceeded|usage limit",
        model="model[_ ]not[_ ]found",
        transient=r"high demand|stream disconnected|\b5\d\d\b",
    )

    def command(self, settings: CodexSettings) -> str:
        return settings.codex_command

    def setting_problems(self, settings: CodexSettings) -> list[str]:
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
        mode = settings.approval_mode
        if mode and settings.sandbox and _LEGACY_APPROVAL_MODES[mode] != settings.sandbox:
            problems.append(
                f"approval_mode={mode!r} means sandbox {_LEGACY_APPROVAL_MODES[mode]!r}, which contradicts "
                f"sandbox={settings.sandbox!r}; keep only sandbox @ $.approval_mode"
            )
        elif mode and not settings.sandbox:
            logger.warning(
                "openai-codex: approval_mode=%r is a setting of the old Codex CLI; using sandbox=%r instead "
                "(set sandbox: %s to silence this warning)",
                mode,
                _LEGACY_APPROVAL_MODES[mode],
                _LEGACY_APPROVAL_MODES[mode],
            )
        return problems

    def argv(self, settings: CodexSettings, call: Call, *, binary: str, workdir: str, schema_file: str | None = None) -> list[str]:
        argv = build_argv(settings, binary=binary, sandbox=_sandbox(settings), workdir=workdir, system=call.system)
        return [*argv[:-1], "--output-schema", schema_file, "-"] if schema_file else argv

    def process_events(self, events: Iterator[Mapping[str, Any]]) -> Generator[str, None, RunOutcome]:
        """Each agent message; usage from ``turn.completed``; ``turn.failed`` fails the run.

        ``error`` events also report reconnects the CLI recovered from: they are quoted only
        when the run fails.
        """
        failure: str | None = None
        last_error: str | None = None
        usage: Mapping[str, Any] = {}
        for event in events:
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
        end = StreamEnd(token_count(usage, "input_tokens"), token_count(usage, "output_tokens"))
        return RunOutcome(end, failure or last_error, failed=failure is not None)

    def answer(self, pieces: Sequence[str]) -> str | None:
        """The last agent message is the answer (earlier ones are the agent's progress notes)."""
        return pieces[-1] if pieces else None

    def auth_problem(self, settings: CodexSettings, environ: Mapping[str, str], probe: Probe, timeout: float) -> str | None:
        """Credentials, a config selecting a provider that needs no OpenAI login, or ``codex login status``."""
        if super().auth_problem(settings, environ, probe, timeout) is None or _selects_keyless_provider(settings, environ):
            return None
        try:
            _, end = probe(["login", "status"], timeout)
        except LLMException as error:
            return f"could not check codex login ({error.message}); {CODEX.auth_hint}"
        if end.exit_code == 0:
            return None
        return f"codex is not logged in and no API key is set: {CODEX.auth_hint}"

    def model_details(self, settings: CodexSettings) -> dict[str, Any]:
        return {"sandbox": _sandbox(settings), "profile": settings.profile}


class CodexCLI(CliLLM[CodexSettings]):
    """The ``openai-codex`` provider: one ``codex exec --json`` run per attempt, prompt on stdin."""

    wire_type = CodexWire


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


def _sandbox(settings: CodexSettings) -> str:
    if settings.sandbox:
        return settings.sandbox
    return _LEGACY_APPROVAL_MODES[settings.approval_mode] if settings.approval_mode else "read-only"


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


def _message(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        text: str = value["message"]
        return text
    return None
