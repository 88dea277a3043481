"""``--json``: one object on stdout for success and for failure, JSON Lines for streams, nothing extra sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from obra_llm.registry import REGISTRY
from tests.support.console import obra_llm, obra_llm_json, refused_url, write_config
from tests.support.ollama_wire import Answer, MidStreamError, OllamaWireServer, Status


@pytest.fixture
def server() -> Iterator[OllamaWireServer]:
    with OllamaWireServer() as running:
        yield running


def test_generate_json_describes_the_call_and_sends_nothing_extra(tmp_path: Path, server: OllamaWireServer) -> None:
    config = str(write_config(tmp_path, server.url, retry_attempts=2, retry_backoff_base=0))
    server.queue(Status(503, "busy"), Answer(pieces=["Hello", " from", " Ollama."]))
    code, printed = obra_llm_json("--config", config, "generate", "--max-tokens", "64", "Rate it.")
    assert code == 0, printed
    assert printed["ok"] is True
    assert printed["answer"] == "Hello from Ollama."
    assert (printed["provider"], printed["model"], printed["retries"]) == ("ollama", "qwen2.5-coder:32b", 1)
    assert printed["usage"] == {"prompt_tokens": 26, "completion_tokens": 3, "total_tokens": 29}
    assert printed["latency_ms"] > 0
    assert server.chat_requests()[-1]["options"] == {"num_predict": 64}
    assert [request.path for request in server.requests] == ["/api/chat", "/api/chat"], "no /api/show for --json"


def test_a_failure_is_one_json_object_with_class_retryable_and_exit_code(tmp_path: Path) -> None:
    code, printed = obra_llm_json("--config", str(write_config(tmp_path, refused_url())), "generate", "hi")
    assert code == 1
    assert printed["ok"] is False
    error = printed["error"]
    assert (error["class"], error["provider"], error["retryable"], error["exit_code"]) == (
        "LLMConnectionException",
        "ollama",
        True,
        1,
    )
    assert error["message"].startswith("cannot connect to")
    assert error["notes"] == ["gave up after 1 attempt(s)"]


def test_configuration_and_usage_errors_are_json_too(tmp_path: Path) -> None:
    code, printed = obra_llm_json("--config", str(write_config(tmp_path, refused_url(), temprature=1)), "generate", "hi")
    assert (code, printed["error"]["class"], printed["error"]["exit_code"]) == (2, "ConfigError", 2)
    assert "unknown key 'temprature'" in printed["error"]["message"]
    assert printed["error"]["problems"] == ["unknown key 'temprature' (did you mean 'temperature'?) @ $.llm.temprature"]
    code, printed = obra_llm_json("chek")
    assert (code, printed["ok"], printed["error"]["class"]) == (2, False, "UsageError")
    assert "did you mean 'check'?" in printed["error"]["message"]


def test_stream_json_is_json_lines_ending_with_the_summary(tmp_path: Path, server: OllamaWireServer) -> None:
    server.queue(Answer(pieces=["one ", "two"]))
    done = obra_llm("--json", "--config", str(write_config(tmp_path, server.url)), "generate", "--stream", "Count.")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[:2] == [{"piece": "one "}, {"piece": "two"}]
    assert (lines[2]["ok"], lines[2]["answer"], lines[2]["model"]) == (True, "one two", "qwen2.5-coder:32b")
    assert len(lines) == 3


def test_a_stream_that_fails_midway_ends_with_an_error_line(tmp_path: Path, server: OllamaWireServer) -> None:
    server.queue(MidStreamError(pieces=["SCORE: 8"], error="the model runner crashed"))
    done = obra_llm("--json", "--config", str(write_config(tmp_path, server.url)), "generate", "--stream", "Rate.")
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0] == {"piece": "SCORE: 8"}
    assert (lines[-1]["ok"], lines[-1]["partial_answer"], lines[-1]["error"]["exit_code"]) == (False, "SCORE: 8", 1)
    assert "the model runner crashed" in lines[-1]["error"]["message"]


def test_providers_and_check_have_json_forms(tmp_path: Path, server: OllamaWireServer) -> None:
    path = write_config(tmp_path, server.url)
    code, listed = obra_llm_json("--config", str(path), "providers")
    assert code == 0
    assert [entry["type"] for entry in listed["providers"]] == list(REGISTRY)
    assert [entry["type"] for entry in listed["providers"] if entry["configured"]] == ["ollama"]
    assert listed["config_file"] == {"path": str(path), "reason": "--config"}
    code, checked = obra_llm_json("--config", str(path), "check")
    assert (code, checked["ok"], checked["type"]) == (0, True, "ollama")
    assert [step["step"] for step in checked["steps"]] == ["config file", "configuration", "available", "model info"]
    code, failed = obra_llm_json("--config", str(path), "--model", "llama3.2", "check")
    assert (code, failed["ok"], failed["exit_code"]) == (1, False, 1)
    assert failed["steps"][-1]["step"] == "not usable"


def test_tokens_json(tmp_path: Path) -> None:
    code, printed = obra_llm_json("--config", str(write_config(tmp_path, refused_url())), "tokens", "hello world")
    assert (code, printed) == (0, {"ok": True, "tokens": 2, "provider": "ollama", "model": "qwen2.5-coder:32b"})
