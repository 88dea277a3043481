"""Which file ``obra-llm`` reads, the ecosystem's variables, and flags that overlay the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from obra_llm.registry import load_config
from tests.support.console import environment, obra_llm, obra_llm_json, refused_url, write_config
from tests.support.ollama_wire import OllamaWireServer


@pytest.fixture
def server() -> Iterator[OllamaWireServer]:
    with OllamaWireServer() as running:
        yield running


def config_file_line(done_stdout: str) -> str:
    return done_stdout.splitlines()[0]


def test_the_four_places_in_order(tmp_path: Path, server: OllamaWireServer) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = environment(home)
    user = write_config(home / ".config" / "obra-llm", server.url)
    local = write_config(work / "config", server.url)
    named = write_config(tmp_path / "named", server.url)
    explicit = write_config(tmp_path / "explicit", server.url)
    runs = [
        (("--config", str(explicit)), env | {"OBRA_LLM_CONFIG": str(named)}, f"ok    config file: {explicit} (--config)"),
        ((), env | {"OBRA_LLM_CONFIG": str(named)}, f"ok    config file: {named} ($OBRA_LLM_CONFIG)"),
        ((), env, f"ok    config file: {local} (working directory)"),
    ]
    for flags, run_env, expected in runs:
        done = obra_llm(*flags, "check", cwd=work, env=run_env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert config_file_line(done.stdout) == expected
    local.unlink()
    done = obra_llm("check", cwd=work, env=env)
    assert config_file_line(done.stdout) == f"ok    config file: {user} (user config folder)"
    user.unlink()
    done = obra_llm("check", cwd=work, env=env | {"OLLAMA_HOST": server.url})
    assert config_file_line(done.stdout) == (
        f"ok    config file: built-in defaults (no file at {work / 'config' / 'config.yaml'}, {user})"
    )


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    done = obra_llm("--config", str(missing), "generate", "hi", cwd=tmp_path, env=environment(tmp_path))
    assert (done.returncode, done.stderr.strip()) == (2, f"obra-llm: error: configuration file {missing} (from --config) does not exist")
    done = obra_llm("check", cwd=tmp_path, env=environment(tmp_path, OBRA_LLM_CONFIG=str(missing)))
    assert done.returncode == 2
    assert f"{missing} (from $OBRA_LLM_CONFIG) does not exist" in done.stdout


def test_ollama_host_is_honoured_and_the_file_wins(tmp_path: Path, server: OllamaWireServer) -> None:
    host_only = server.url.removeprefix("http://")
    done = obra_llm("check", cwd=tmp_path, env=environment(tmp_path, OLLAMA_HOST=host_only))
    assert done.returncode == 0, done.stdout
    path = write_config(tmp_path, refused_url())
    done = obra_llm("--config", str(path), "check", env=environment(tmp_path, OLLAMA_HOST=host_only))
    assert done.returncode == 1, "the file's endpoint wins over $OLLAMA_HOST"
    assert "FAIL  not usable: cannot connect to" in done.stdout


def test_openai_base_url_is_honoured(tmp_path: Path) -> None:
    url = refused_url()
    code, printed = obra_llm_json(
        "--type", "openai", "generate", "hi", cwd=tmp_path, env=environment(tmp_path, OPENAI_BASE_URL=f"{url}/v1", OPENAI_API_KEY="sk-test")
    )
    assert code == 1
    assert printed["error"]["message"].startswith(f"cannot connect to {url}")


def test_flags_overlay_the_file_instead_of_replacing_it(tmp_path: Path, server: OllamaWireServer) -> None:
    path = write_config(tmp_path, refused_url(), max_tokens=77, temperature=0.25)
    done = obra_llm("--config", str(path), "--endpoint", server.url, "generate", "hi")
    assert done.returncode == 0, done.stderr
    assert server.chat_requests()[-1]["options"] == {"num_predict": 77, "temperature": 0.25}, "the file's keys are kept"
    done = obra_llm("--config", str(path), "--base-url", server.url, "--model", "qwen2.5-coder:32b", "generate", "hi")
    assert done.returncode == 0, done.stderr


def test_another_type_keeps_the_portable_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path, refused_url(), timeout=7)
    code, printed = obra_llm_json(
        "--config", str(path), "--type", "anthropic", "--endpoint", refused_url(), "--api-key-env", "MY_KEY", "generate", "hi",
        env=environment(tmp_path, MY_KEY="sk-ant-test"),
    )
    assert code == 1, printed
    assert printed["error"]["class"] == "LLMConnectionException", "the ollama-only keys were dropped, the key var was read"
    code, printed = obra_llm_json(
        "--config", str(path), "--type", "anthropic", "--api-key-env", "UNSET_KEY_VAR", "generate", "hi", env=environment(tmp_path)
    )
    assert code == 2
    assert "api_key_env names UNSET_KEY_VAR, which is not set" in printed["error"]["message"]


def test_a_flag_that_does_not_apply_says_so(tmp_path: Path) -> None:
    done = obra_llm("--type", "openai-codex", "--endpoint", "http://127.0.0.1:1", "check", cwd=tmp_path, env=environment(tmp_path))
    assert done.returncode == 2
    assert "--base-url does not apply to openai-codex: it has no base_url key" in done.stdout


def test_init_writes_the_example_where_it_is_found(tmp_path: Path, server: OllamaWireServer) -> None:
    home = tmp_path / "home"
    done = obra_llm("init", cwd=tmp_path, env=environment(home))
    written = home / ".config" / "obra-llm" / "config.yaml"
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {written}")
    assert load_config(written)["type"] == "ollama", "the example loads"
    again = obra_llm("init", cwd=tmp_path, env=environment(home))
    assert again.returncode == 2
    assert "already exists" in again.stderr
    checked = obra_llm("--endpoint", server.url, "check", cwd=tmp_path, env=environment(home))
    assert f"ok    config file: {written} (user config folder)" in checked.stdout


def test_an_empty_file_is_an_error_not_silently_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    done = obra_llm("--config", str(path), "check", env=environment(tmp_path))
    assert done.returncode == 2
    assert f"FAIL  configuration: configuration file {path} is empty" in done.stdout
