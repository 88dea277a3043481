"""``obra-llm models``: what the server offers, and ``check`` suggesting the close match it read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.console import environment, obra_llm, obra_llm_json, write_config
from tests.support.ollama_wire import OllamaWireServer


@pytest.fixture
def server() -> Iterator[OllamaWireServer]:
    with OllamaWireServer(models=("qwen2.5-coder:32b", "llama3.2:latest")) as running:
        yield running


def test_models_lists_what_ollama_has_pulled(tmp_path: Path, server: OllamaWireServer) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "models")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["qwen2.5-coder:32b  (configured)", "llama3.2:latest"]
    assert [request.path for request in server.requests] == ["/api/tags"], "one request"


def test_models_json(tmp_path: Path, server: OllamaWireServer) -> None:
    code, printed = obra_llm_json("--config", str(write_config(tmp_path, server.url)), "--model", "mistral", "models")
    assert (code, printed["ok"], printed["listed"]) == (0, True, True)
    assert printed["models"] == ["qwen2.5-coder:32b", "llama3.2:latest"]
    assert printed["configured"] == "mistral"


def test_a_cli_provider_shows_its_configured_model(tmp_path: Path) -> None:
    env = environment(tmp_path) | {"PATH": "/usr/bin:/bin"}
    code, printed = obra_llm_json("--type", "openai-codex", "--model", "gpt-5-codex", "models", cwd=tmp_path, env=env)
    assert (code, printed["listed"], printed["models"]) == (0, False, ["gpt-5-codex"]), "no binary needed either"
    done = obra_llm("--type", "openai-codex", "models", cwd=tmp_path, env=env)
    assert done.stdout == "(the tool default)  (configured; openai-codex does not list its models)\n"


def test_check_suggests_the_pulled_tag_of_the_same_model(tmp_path: Path, server: OllamaWireServer) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "--model", "qwen2.5-coder", "check")
    assert done.returncode == 1
    (failure,) = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert failure == (
        f"FAIL  not usable: model 'qwen2.5-coder' is not pulled on {server.url}, but 'qwen2.5-coder:32b' is: "
        "set model: qwen2.5-coder:32b (or run `ollama pull qwen2.5-coder`)"
    )
