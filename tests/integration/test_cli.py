"""The ``obra-llm`` console script, run for real in a subprocess: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from obra_llm.protocol import provider_class
from obra_llm.registry import REGISTRY
from tests.support.ollama_wire import Answer, OllamaWireServer

SCRIPT = Path(sys.executable).with_name("obra-llm")


def obra_llm(*args: str, stdin: str | None = None, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (never the function), offline, in ``cwd``."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OBRA_LLM_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=environment | (env or {}),
        check=False,
    )


@pytest.fixture
def server() -> Iterator[OllamaWireServer]:
    with OllamaWireServer() as running:
        yield running


def write_config(directory: Path, endpoint: str, **extra: object) -> Path:
    lines = ["llm:", "  type: ollama", "  model: qwen2.5-coder:32b", f"  endpoint: {endpoint}", "  retry_attempts: 1"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in extra.items()]
    path = directory / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def refused_url() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.exists(), f"{SCRIPT} missing: install the package (pip install -e .)"


def test_providers_lists_every_type_with_its_transport(tmp_path: Path) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, refused_url())), "providers")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()}
    assert listed == {name: (declared.kind if (declared := provider_class(cls)) else "?") for name, cls in REGISTRY.items()}
    assert "configured, NOT available" in done.stdout


def test_check_explains_a_missing_ollama_in_one_line(tmp_path: Path) -> None:
    url = refused_url()
    done = obra_llm("--config", str(write_config(tmp_path, url)), "check")
    assert done.returncode == 1
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert failures == [
        f"FAIL  not usable: cannot connect to {url}: [Errno 111] Connection refused; is the server running? "
        "(start it with `ollama serve`, or set endpoint to where it runs)"
    ]


def test_check_explains_a_model_that_is_not_pulled(tmp_path: Path, server: OllamaWireServer) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "--model", "llama3.2", "check")
    assert done.returncode == 1
    assert "FAIL  not usable: model 'llama3.2' is not pulled" in done.stdout
    assert "ollama pull llama3.2" in done.stdout


def test_check_passes_when_the_server_has_the_model(tmp_path: Path, server: OllamaWireServer) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "ok    configuration: type ollama, model qwen2.5-coder:32b",
        "ok    available",
        "ok    model info: qwen2.5-coder:32b, context length 32768",
    ]


def test_check_explains_a_missing_codex_cli(tmp_path: Path) -> None:
    done = obra_llm("--type", "openai-codex", "check", cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL  cannot start openai-codex: the Codex CLI ('codex') is not installed")
    assert "npm install -g @openai/codex" in done.stdout


def test_generate_json(tmp_path: Path, server: OllamaWireServer) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "generate", "--json", "--max-tokens", "64", "Rate it.")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["answer"] == "Hello from Ollama."
    assert printed["provider"] == "ollama"
    assert printed["usage"] == {"prompt_tokens": 26, "completion_tokens": 3, "total_tokens": 29}
    assert printed["latency_ms"] > 0
    assert server.chat_requests()[0]["options"] == {"num_predict": 64}


def test_generate_streams_a_prompt_from_stdin(tmp_path: Path, server: OllamaWireServer) -> None:
    server.queue(Answer(pieces=["one ", "two ", "three"]))
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "generate", "--stream", "-", stdin="Count.\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "one two three\n"
    assert server.chat_requests()[0]["messages"] == [{"role": "user", "content": "Count.\n"}]


def test_provider_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, refused_url())), "generate", "hi")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("obra-llm: error: [ollama] cannot connect to")
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, refused_url())), "--debug", "generate", "hi")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr


def test_configuration_error_names_the_key_and_exits_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, refused_url(), temprature=0.3)
    done = obra_llm("--config", str(path), "generate", "hi")
    assert done.returncode == 2
    assert f"invalid ollama configuration (from {path})" in done.stderr
    assert "unknown key 'temprature' (did you mean 'temperature'?) @ $.llm.temprature" in done.stderr


def test_unknown_type_exits_2_listing_the_choices(tmp_path: Path) -> None:
    expected = f"Invalid LLM type: gpt-banana. Available: {sorted(REGISTRY)}"
    generated = obra_llm("--type", "gpt-banana", "generate", "hi", cwd=tmp_path)
    assert (generated.returncode, generated.stderr.strip()) == (2, f"obra-llm: error: {expected}")
    checked = obra_llm("--type", "gpt-banana", "check", cwd=tmp_path)
    assert (checked.returncode, checked.stdout.strip()) == (2, f"FAIL  configuration: {expected}")


def test_usage_error_exits_2() -> None:
    done = obra_llm("generate")
    assert done.returncode == 2
    assert "the following arguments are required: prompt" in done.stderr


def test_tokens_counts_offline(tmp_path: Path) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, refused_url())), "tokens", "-", stdin="hello world")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"


def test_default_config_is_read_from_the_working_directory(tmp_path: Path, server: OllamaWireServer) -> None:
    (tmp_path / "config").mkdir()
    write_config(tmp_path / "config", server.url)
    done = obra_llm("check", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
