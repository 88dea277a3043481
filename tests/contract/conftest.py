"""Fixtures for driving the real Codex CLI against the local Responses stub.

The pinned binary is found at ``$OBRA_LLM_CODEX_BIN`` or ``.tools/codex/node_modules/.bin/codex``
(``scripts/install-codex.sh`` puts it there); without it every contract test is skipped,
except under CI, where a missing binary fails them.
Each test gets its own ``CODEX_HOME`` and no API key, so the user's login is never used.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.responses_stub import ResponsesStub

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / ".tools" / "codex" / "node_modules" / ".bin" / "codex"
PINNED_VERSION = "codex-cli 0.169.0"


@pytest.fixture(scope="session")
def codex_bin() -> str:
    """The pinned codex binary, or a skip saying how to install it."""
    binary = os.environ.get("OBRA_LLM_CODEX_BIN") or str(DEFAULT_BIN)
    if not os.access(binary, os.X_OK):
        reason = f"the pinned Codex CLI is not installed at {binary}: run scripts/install-codex.sh"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (under CI the contract tests must run, not skip)")
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="session")
def codex_version(codex_bin: str) -> str:
    """``codex --version`` of the binary under test; it must be the pinned one."""
    found = subprocess.run([codex_bin, "--version"], capture_output=True, text=True, timeout=30, check=True)
    version = found.stdout.strip()
    assert version == PINNED_VERSION, f"expected {PINNED_VERSION}, found {version}: run scripts/install-codex.sh"
    return version


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


def live_pids_with_env(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose environment contains ``marker``."""
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
