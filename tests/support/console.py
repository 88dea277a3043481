"""Run the installed ``obra-llm`` console script for real: in a pipe, or on a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs

SCRIPT = Path(sys.executable).with_name("obra-llm")
#: Variables of the user's own setup that would change what the command reads.
_ISOLATED = ("OLLAMA_HOST", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "CO_API_URL", "XDG_CONFIG_HOME")


def environment(home: Path | None = None, **extra: str) -> dict[str, str]:
    """The test process's environment without obra_llm's and the ecosystem's variables (plus ``extra``)."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("OBRA_LLM_") and key not in _ISOLATED}
    if home is not None:
        kept |= {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    return kept | extra


def obra_llm(
    *args: str, stdin: str | None = None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (never the function), offline, in ``cwd``."""
    return subprocess.run(
        [str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=environment() | (env or {}),
        check=False,
    )


def obra_llm_json(*args: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """The exit code and the one JSON object a ``--json`` run prints on stdout."""
    done = obra_llm("--json", *args, **kwargs)
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"expected one JSON line on stdout, got {done.stdout!r} (stderr {done.stderr!r})"
    parsed = json.loads(lines[0])
    assert isinstance(parsed, dict)
    return done.returncode, parsed


@attrs.frozen
class TerminalRun:
    """What a pseudo-terminal showed (stdout and stderr interleaved, as a person sees them)."""

    returncode: int
    screen: str


def on_terminal(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 30, interrupt_after: str | None = None
) -> TerminalRun:
    """Run the console script with stdin, stdout and stderr on a pseudo-terminal.

    ``interrupt_after``: press Ctrl-C (SIGINT) once the screen shows that text.
    """
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(SCRIPT), *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=cwd,
        env=environment() | (env or {}),
        close_fds=True,
    )
    os.close(terminal)
    shown = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
                if interrupt_after is not None and interrupt_after.encode() in shown:
                    process.send_signal(signal.SIGINT)
                    interrupt_after = None
            elif process.poll() is not None:
                break
        returncode = process.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return TerminalRun(returncode, shown.decode("utf-8", "replace"))


def refused_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def write_config(directory: Path, endpoint: str, **extra: object) -> Path:
    """An Ollama config at ``directory/config.yaml`` pointing at ``endpoint``, one attempt per call."""
    keys: dict[str, object] = {"type": "ollama", "model": "qwen2.5-coder:32b", "endpoint": endpoint, "retry_attempts": 1}
    lines = ["llm:", *(f"  {key}: {json.dumps(value)}" for key, value in (keys | extra).items())]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
