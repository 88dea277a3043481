"""Finding and running llama-server: clear errors, bounded waits, and no process left behind.

The failure paths run stand-in executables (shell scripts) so they need no build; the real
server's lifecycle is in tests/live/test_server_lifecycle.py.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from obra_llm.llama_server import MODEL_FILE, LlamaInstall, LlamaServerError, find_install, running_server
from tests.support.leaks import no_leaks


def _executable(path: Path, script: str) -> Path:
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_missing_server_names_its_path_and_the_install_script(tmp_path: Path) -> None:
    with pytest.raises(LlamaServerError) as caught:
        find_install({"OBRA_LLM_LLAMA_SERVER": str(tmp_path / "nope"), "OBRA_LLM_LLAMA_MODEL": str(tmp_path / "m.gguf")})

    assert str(caught.value) == (
        f"llama-server is not installed at {tmp_path / 'nope'}: run scripts/install-llama.sh "
        "(or set $OBRA_LLM_LLAMA_SERVER and $OBRA_LLM_LLAMA_MODEL)"
    )


def test_a_missing_model_names_its_path(tmp_path: Path) -> None:
    server = _executable(tmp_path / "llama-server", "exit 0")

    with pytest.raises(LlamaServerError, match=rf"the SmolLM2-135M-Instruct model is not installed at {tmp_path / 'm.gguf'}: run"):
        find_install({"OBRA_LLM_LLAMA_SERVER": str(server), "OBRA_LLM_LLAMA_MODEL": str(tmp_path / "m.gguf")})


def test_the_variables_choose_server_and_model(tmp_path: Path) -> None:
    server = _executable(tmp_path / "llama-server", "exit 0")
    model = tmp_path / MODEL_FILE
    model.write_bytes(b"GGUF")

    found = find_install({"OBRA_LLM_LLAMA_SERVER": str(server), "OBRA_LLM_LLAMA_MODEL": str(model)})

    assert found == LlamaInstall(server=server, model=model)


def test_a_server_that_exits_at_once_is_reported_with_its_output(tmp_path: Path) -> None:
    server = _executable(tmp_path / "llama-server", 'echo "error: failed to load model"; exit 3')

    with pytest.raises(LlamaServerError) as caught, running_server(LlamaInstall(server, tmp_path / "m.gguf")):
        pytest.fail("the block must not run")

    assert "llama-server exited with code 3 before it was ready" in str(caught.value)
    assert "error: failed to load model" in str(caught.value)


def test_a_server_that_never_gets_ready_is_stopped_with_its_children(tmp_path: Path) -> None:
    """The script ignores SIGTERM and leaves a child behind: the group is still gone (SIGKILL after the grace)."""
    server = _executable(tmp_path / "llama-server", "trap '' TERM; sleep 300 & wait")

    started = time.monotonic()
    with no_leaks(), pytest.raises(LlamaServerError, match=r"did not become ready within 1 s"):
        with running_server(LlamaInstall(server, tmp_path / "m.gguf"), ready_timeout=1.0):
            pytest.fail("the block must not run")

    assert time.monotonic() - started < 15, "the wait is bounded, and so is the stop"


def test_the_server_gets_no_llama_arg_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = tmp_path / "env"
    server = _executable(tmp_path / "llama-server", f"env > {seen}; exit 1")
    monkeypatch.setenv("LLAMA_ARG_PORT", "1")

    with pytest.raises(LlamaServerError), running_server(LlamaInstall(server, tmp_path / "m.gguf")):
        pass

    assert "LLAMA_ARG_PORT" not in seen.read_text()
    assert os.environ["LLAMA_ARG_PORT"] == "1"
