"""Config discovery's order and platform folders, and the ecosystem variables' parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from obra_llm.config.discovery import example_config, find_config, user_config_dir
from obra_llm.config.ecosystem import ecosystem_defaults, ollama_host_url
from obra_llm.errors import ConfigError
from obra_llm.registry import load_config


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {}, "/home/u/.config/obra-llm"),
        ("linux", {"XDG_CONFIG_HOME": "/xdg"}, "/xdg/obra-llm"),
        ("darwin", {"XDG_CONFIG_HOME": "/xdg"}, "/home/u/Library/Application Support/obra-llm"),
        ("win32", {"APPDATA": "/appdata"}, "/appdata/obra-llm"),
        ("win32", {}, "/home/u/AppData/Roaming/obra-llm"),
    ],
)
def test_user_config_folder_by_platform(platform: str, environ: dict[str, str], expected: str) -> None:
    assert user_config_dir(environ, platform, Path("/home/u")) == Path(expected)


def test_order_and_reasons(tmp_path: Path) -> None:
    cwd, user = tmp_path / "cwd", tmp_path / "user"
    (cwd / "config").mkdir(parents=True)
    user.mkdir()
    local, personal, named = cwd / "config" / "config.yaml", user / "config.yaml", tmp_path / "named.yaml"
    for path in (local, personal, named):
        path.write_text("llm: {}\n")
    env = {"OBRA_LLM_CONFIG": str(named)}
    assert find_config(local, environ=env, cwd=cwd, user_dir=user).reason == "--config"
    assert find_config(None, environ=env, cwd=cwd, user_dir=user).path == named
    assert find_config(None, environ={"OBRA_LLM_CONFIG": ""}, cwd=cwd, user_dir=user).path == local
    local.unlink()
    assert find_config(None, environ={}, cwd=cwd, user_dir=user).reason == "user config folder"
    personal.unlink()
    defaults = find_config(None, environ={}, cwd=cwd, user_dir=user)
    assert (defaults.path, defaults.searched) == (None, (local, personal))
    with pytest.raises(ConfigError, match=r"does not exist"):
        find_config(tmp_path / "typo.yaml", environ={}, cwd=cwd, user_dir=user)


def test_the_example_config_loads() -> None:
    assert load_config(example_config())["type"] == "ollama"


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("gpu-box", "http://gpu-box:11434"),
        ("0.0.0.0:8080", "http://0.0.0.0:8080"),
        ("https://ollama.example", "https://ollama.example:443"),
        ("http://[::1]", "http://[::1]:11434"),
        ("http://host:1234/prefix/", "http://host:1234/prefix"),
    ],
)
def test_ollama_host_is_read_as_the_ollama_cli_reads_it(value: str, url: str) -> None:
    assert ollama_host_url(value) == url


def test_ecosystem_variables_fill_only_missing_keys() -> None:
    env = {"OLLAMA_HOST": "gpu-box", "OPENAI_BASE_URL": "http://proxy/v1"}
    assert ecosystem_defaults("ollama", {}, env) == {"base_url": "http://gpu-box:11434"}
    assert ecosystem_defaults("ollama", {"api_url": "http://x"}, env) == {}, "an old name counts as set"
    assert ecosystem_defaults("ollama", {"endpoint": "http://x"}, env) == {}
    assert ecosystem_defaults("openai", {}, env) == {"base_url": "http://proxy/v1"}
    assert ecosystem_defaults("openai", {"base_url": "http://mine/v1"}, env) == {}
    assert ecosystem_defaults("openai-codex", {}, env) == {}
