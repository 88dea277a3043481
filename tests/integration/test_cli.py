"""The ``obra-llm`` console script, run for real in a subprocess: output and exit codes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from obra_llm._version import __version__
from obra_llm.protocol import provider_class
from obra_llm.registry import REGISTRY
from tests.support.console import SCRIPT, environment, obra_llm, refused_url, write_config
from tests.support.ollama_wire import Answer, OllamaWireServer, Status


@pytest.fixture
def server() -> Iterator[OllamaWireServer]:
    with OllamaWireServer() as running:
        yield running


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
        "(start it with `ollama serve`, or set base_url to where it runs)"
    ]


def test_check_explains_a_model_that_is_not_pulled(tmp_path: Path, server: OllamaWireServer) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "--model", "llama3.2", "check")
    assert done.returncode == 1
    assert "FAIL  not usable: model 'llama3.2' is not pulled" in done.stdout
    assert "ollama pull llama3.2" in done.stdout


def test_check_passes_when_the_server_has_the_model(tmp_path: Path, server: OllamaWireServer) -> None:
    path = write_config(tmp_path, server.url)
    done = obra_llm("--config", str(path), "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"ok    config file: {path} (--config)",
        "ok    configuration: type ollama, model qwen2.5-coder:32b",
        "ok    available: calls can be sent",
        "ok    model info: qwen2.5-coder:32b, context length 32768",
    ]


def test_check_explains_a_missing_codex_cli(tmp_path: Path) -> None:
    done = obra_llm("--type", "openai-codex", "check", cwd=tmp_path, env=environment(tmp_path) | {"PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    failure = done.stdout.splitlines()[1]
    assert failure.startswith("FAIL  cannot start openai-codex: the Codex CLI ('codex') is not installed")
    assert "npm install -g @openai/codex" in failure


def test_generate_streams_a_prompt_from_stdin(tmp_path: Path, server: OllamaWireServer) -> None:
    server.queue(Answer(pieces=["one ", "two ", "three"]))
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "generate", "--stream", "-", stdin="Count.\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "one two three\n"
    assert server.chat_requests()[0]["messages"] == [{"role": "user", "content": "Count.\n"}]


def test_provider_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, refused_url(), retry_attempts=2, retry_backoff_base=0)), "generate", "hi")
    assert done.returncode == 1
    first, *notes = done.stderr.splitlines()
    assert first.startswith("obra-llm: error: [ollama] cannot connect to")
    assert notes == ["obra-llm:   gave up after 2 attempt(s)"], "the error's own explanation is printed"
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback_before_or_after_the_command(tmp_path: Path) -> None:
    config = str(write_config(tmp_path, refused_url()))
    for args in (("--debug", "generate", "hi"), ("generate", "hi", "--debug"), ("generate", "--debug", "hi")):
        done = obra_llm("--config", config, *args)
        assert done.returncode == 1, args
        assert "Traceback (most recent call last)" in done.stderr, args


def test_verbose_shows_retries_and_quiet_hides_warnings(tmp_path: Path, server: OllamaWireServer) -> None:
    config = str(write_config(tmp_path, server.url, retry_attempts=2, retry_backoff_base=0))
    server.queue(Status(503, "busy"), Answer(pieces=["fine"]))
    plain = obra_llm("--config", config, "generate", "hi")
    server.queue(Status(503, "busy"), Answer(pieces=["fine"]))
    verbose = obra_llm("--config", config, "generate", "hi", "-v")
    assert (plain.returncode, verbose.returncode) == (0, 0), plain.stderr + verbose.stderr
    assert plain.stderr == ""
    assert "INFO obra_llm.retry: retrying ollama call (attempt 2 of 2)" in verbose.stderr
    assert "configuration: " in verbose.stderr, "-v says which file is in use"
    assert "httpcore" not in verbose.stderr, "other libraries' debug lines need --debug"


def test_configuration_error_names_the_key_and_exits_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, refused_url(), temprature=0.3)
    done = obra_llm("--config", str(path), "generate", "hi")
    assert done.returncode == 2
    assert f"invalid ollama configuration (from {path})" in done.stderr
    assert "unknown key 'temprature' (did you mean 'temperature'?) @ $.llm.temprature" in done.stderr


def test_unknown_type_exits_2_listing_the_choices_and_the_closest(tmp_path: Path) -> None:
    expected = f"Invalid LLM type: olama. Available: {sorted(REGISTRY)}"
    generated = obra_llm("--type", "olama", "generate", "hi", cwd=tmp_path, env=environment(tmp_path))
    assert generated.returncode == 2
    assert generated.stderr.splitlines() == [f"obra-llm: error: {expected}", "obra-llm:   did you mean 'ollama'?"]
    checked = obra_llm("--type", "olama", "check", cwd=tmp_path, env=environment(tmp_path))
    assert checked.returncode == 2
    assert checked.stdout.splitlines()[-1] == f"FAIL  configuration: {expected} (did you mean 'ollama'?)"


def test_types_match_case_insensitively(tmp_path: Path, server: OllamaWireServer) -> None:
    done = obra_llm("--type", "Ollama", "--endpoint", server.url, "check", cwd=tmp_path, env=environment(tmp_path))
    assert done.returncode == 0, done.stdout
    assert "ok    configuration: type ollama, model qwen2.5-coder:32b" in done.stdout


def test_usage_errors_exit_2_and_suggest_the_closest_name() -> None:
    missing = obra_llm("generate")
    assert missing.returncode == 2
    assert "the following arguments are required: prompt" in missing.stderr
    command = obra_llm("chek")
    assert command.returncode == 2
    assert command.stderr.rstrip().endswith("(did you mean 'check'?)")
    option = obra_llm("check", "--modle", "x")
    assert option.returncode == 2
    assert option.stderr.rstrip().endswith("(did you mean '--model'?)")


def test_an_empty_prompt_is_refused(tmp_path: Path, server: OllamaWireServer) -> None:
    config = str(write_config(tmp_path, server.url))
    for args, stdin in ((("generate", ""), None), (("generate", "-"), "  \n"), (("tokens", "-"), "")):
        done = obra_llm("--config", config, *args, stdin=stdin)
        assert done.returncode == 2, args
        assert "is empty" in done.stderr, args
    assert server.chat_requests() == []


def test_version_and_bare_command() -> None:
    version = obra_llm("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"obra-llm {__version__}")
    bare = obra_llm()
    assert bare.returncode == 0
    assert bare.stdout.startswith("usage: obra-llm")
    assert "commands:" in bare.stdout


def test_tokens_counts_offline(tmp_path: Path) -> None:
    done = obra_llm("--config", str(write_config(tmp_path, refused_url())), "tokens", "-", stdin="hello world")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"


def test_a_missing_optional_package_names_what_to_install(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    (blocked / "vcr").mkdir(parents=True)
    (blocked / "vcr" / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'vcr\'", name="vcr")\n')
    done = obra_llm("demo", env={"PYTHONPATH": str(blocked)})
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["obra-llm: error: the package 'vcr' is needed here but not installed: pip install vcrpy"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_printed(shell: str) -> None:
    done = obra_llm("completion", shell)
    assert done.returncode == 0, done.stderr
    model_option = "-l model" if shell == "fish" else "--model"
    assert "obra-llm" in done.stdout and "generate" in done.stdout and model_option in done.stdout


def test_bash_completion_completes_commands_options_and_types() -> None:
    script = obra_llm("completion", "bash").stdout

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{word}'" for word in words)
        program = f'{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _obra_llm; printf "%s\\n" "${{COMPREPLY[@]}}"'
        done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30, check=True)
        return done.stdout.split()

    assert complete("obra-llm", "ch") == ["check"]
    assert complete("obra-llm", "generate", "--str") == ["--stream"]
    assert complete("obra-llm", "--type", "openai-c") == ["openai-codex"]


def test_tokens_needs_no_api_key(tmp_path: Path) -> None:
    env = environment(tmp_path)
    env.pop("OPENAI_API_KEY", None)
    done = obra_llm("--type", "openai", "tokens", "hello world", cwd=tmp_path, env=env)
    assert (done.returncode, done.stdout.strip()) == (0, "2"), done.stderr


def test_tokens_needs_no_cli_binary(tmp_path: Path) -> None:
    env = environment(tmp_path) | {"PATH": "/usr/bin:/bin"}
    done = obra_llm("--type", "openai-codex", "--model", "gpt-4o-mini", "tokens", "hello world", cwd=tmp_path, env=env)
    assert (done.returncode, done.stdout.strip()) == (0, "2"), done.stderr
    bare = obra_llm("--type", "openai-codex", "tokens", "hello world", cwd=tmp_path, env=env)
    assert (bare.returncode, bare.stdout.strip()) == (0, "2"), bare.stderr


def test_a_401_says_which_key_to_check(tmp_path: Path, server: OllamaWireServer) -> None:
    server.queue(Status(401, "unauthorized"))
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "generate", "hi")
    assert done.returncode == 1
    assert "unauthorized (check api_key / api_key_env in the llm config" in done.stderr.splitlines()[0]


def test_generate_with_a_schema_prints_the_validated_json(tmp_path: Path, server: OllamaWireServer) -> None:
    schema = {"type": "object", "properties": {"score": {"type": "integer", "maximum": 10}}, "required": ["score"]}
    (tmp_path / "score.json").write_text(json.dumps(schema), encoding="utf-8")
    server.queue(Answer(pieces=['{"score": 12}']), Answer(pieces=['{"score": 7}']))
    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "generate", "--schema", str(tmp_path / "score.json"), "Rate it.")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"score": 7}, "the first answer failed its schema and was repaired"
    assert [request["format"] for request in server.chat_requests()] == [schema, schema]


def test_generate_with_an_unreadable_schema_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    config = str(write_config(tmp_path, refused_url()))
    done = obra_llm("--config", config, "generate", "--schema", str(tmp_path / "bad.json"), "Rate it.")
    assert done.returncode == 2
    assert f"--schema {tmp_path / 'bad.json'}: not JSON" in done.stderr
