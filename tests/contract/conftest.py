"""Fixtures for driving the real pinned CLIs against local stubs of their APIs.

Codex runs against the local Responses stub, the Gemini CLI against the Gemini wire server,
Claude Code against the local Messages stub. The pinned binaries are found at
``$OBRA_LLM_CODEX_BIN`` / ``$OBRA_LLM_GEMINI_BIN`` / ``$OBRA_LLM_CLAUDE_BIN`` or under ``.tools/``
(``scripts/install-codex.sh``, ``install-gemini.sh`` and ``install-claude.sh`` put them there);
without one its contract tests are skipped, except under CI, where a missing binary fails them.
Each test gets its own CLI home and no real credential, so the user's login is never used.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from obra_llm.recording.mode import RecordMode, resolve_record_mode
from obra_llm.recording.transcripts import Transcript
from tests.support.responses_stub import ResponsesStub

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / ".tools" / "codex" / "node_modules" / ".bin" / "codex"
PINNED_VERSION = "codex-cli 0.169.0"


def pinned_binary(variable: str, default: Path, install: str) -> str:
    """The binary ``$variable`` or ``default`` names; a skip saying how to install it (a failure under CI)."""
    binary = os.environ.get(variable) or str(default)
    if not os.access(binary, os.X_OK):
        reason = f"the pinned CLI is not installed at {binary}: run {install}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (under CI the contract tests must run, not skip)")
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="session")
def codex_bin() -> str:
    """The pinned codex binary, or a skip saying how to install it."""
    return pinned_binary("OBRA_LLM_CODEX_BIN", DEFAULT_BIN, "scripts/install-codex.sh")


def pinned_version(binary: str, pinned: str, install: str, env: Mapping[str, str] | None = None) -> str:
    """``binary --version``, which must print ``pinned`` (else: run ``install``)."""
    found = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60, check=True, env=env)
    version = found.stdout.strip()
    assert version == pinned, f"expected {pinned}, found {version}: run {install}"
    return version


@pytest.fixture(scope="session")
def codex_version(codex_bin: str) -> str:
    """``codex --version`` of the binary under test; it must be the pinned one."""
    return pinned_version(codex_bin, PINNED_VERSION, "scripts/install-codex.sh")


@pytest.fixture
def stub() -> Iterator[ResponsesStub]:
    with ResponsesStub() as running:
        yield running


@pytest.fixture
def codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated, empty ``CODEX_HOME`` and no API key in the environment."""
    home = tmp_path / "codex-home"
    home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(home))
    for name in ("OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def stub_home(codex_home: Path, stub: ResponsesStub) -> Path:
    """``CODEX_HOME`` whose config.toml sends codex to the stub, with the CLI's own retries off."""
    (codex_home / "config.toml").write_text(
        f"""model_provider = "stub"
model = "stub-model"

[model_providers.stub]
name = "stub"
base_url = "{stub.base_url}"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
""",
        encoding="utf-8",
    )
    return codex_home


def comparable(transcript: Transcript, *, stdout: bool = True) -> dict[str, object]:
    """What must not change between CLI runs: not timing, not stderr (timestamps, warnings, stack traces)."""
    return {
        "argv": transcript.argv,
        "stdin": transcript.stdin,
        "stdout": [line.line for line in transcript.stdout] if stdout else None,
        "exit_code": transcript.exit_code,
        "signal": transcript.signal,
        "timed_out": transcript.timed_out,
    }


def recording(path: Path, mode: RecordMode | None = None) -> bool:
    """Whether the record mode (``mode``, else ``$OBRA_LLM_RECORD_MODE``) asks for the transcript at ``path`` to be written."""
    chosen = mode or resolve_record_mode()
    return chosen == "all" or (chosen in ("once", "new_episodes") and not path.exists())


def record_or_compare(transcript: Transcript, path: Path, *, stdout: bool = True) -> None:
    """Save ``transcript`` at ``path`` in record mode; otherwise it must match the committed one.

    ``stdout=False`` leaves out what the CLI printed: a run killed at its timeout prints what a
    loaded machine let it print by then.
    """
    if recording(path):
        transcript.save(path)
        return
    assert path.exists(), f"no committed transcript {path}: record it with OBRA_LLM_RECORD_MODE=all"
    assert comparable(transcript, stdout=stdout) == comparable(Transcript.load(path), stdout=stdout)


def live_pids_with_env(marker: str, *, settle: float = 2.0) -> list[int]:
    """Pids of live (non-zombie) processes whose environment contains ``marker``, after up to ``settle`` s.

    Killed processes may take a moment to be scheduled and die on a loaded machine.
    """
    deadline = time.monotonic() + settle
    while (found := _live_pids_with_env(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _live_pids_with_env(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


CLAUDE_DEFAULT_BIN = REPO / ".tools" / "claude" / "node_modules" / ".bin" / "claude"
CLAUDE_PINNED_VERSION = "2.1.332 (Claude Code)"


@pytest.fixture(scope="session")
def claude_bin() -> str:
    """The pinned claude binary, or a skip saying how to install it."""
    return pinned_binary("OBRA_LLM_CLAUDE_BIN", CLAUDE_DEFAULT_BIN, "scripts/install-claude.sh")


@pytest.fixture(scope="session")
def claude_version(claude_bin: str) -> str:
    """``claude --version`` of the binary under test; it must be the pinned one."""
    return pinned_version(claude_bin, CLAUDE_PINNED_VERSION, "scripts/install-claude.sh")


#: Variables of the user's environment that would reach Claude Code: credentials, config dir, endpoints.
_CLAUDE_USER_VARIABLES = (
    *("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR", "ANTHROPIC_MODEL"),
    *("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY"),
)


def claude_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, base_url: str, key: str) -> Path:
    """An empty ``HOME``, ``base_url`` as Claude Code's API with ``key``, nothing of the user's Claude setup."""
    path = tmp_path / "home"
    path.mkdir()
    for name in _CLAUDE_USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    return path
