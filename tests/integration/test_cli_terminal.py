"""What a person sees on a terminal (a real pseudo-terminal): the spinner, and messages on their own line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.console import on_terminal, write_config
from tests.support.ollama_wire import Answer, MidStreamError, OllamaWireServer
from tests.support.wire_server import Chunked


def slow_answer(_body: dict[str, Any]) -> Answer:
    time.sleep(0.8)  # the first piece arrives late: the spinner must show meanwhile
    return Answer(pieces=["SCORE: 8", "\nfine"])


@pytest.fixture
def server() -> Iterator[OllamaWireServer]:
    with OllamaWireServer(default_answer=slow_answer) as running:
        yield running


def test_a_spinner_shows_until_the_first_piece_then_is_cleared(tmp_path: Path, server: OllamaWireServer) -> None:
    shown = on_terminal("--config", str(write_config(tmp_path, server.url)), "generate", "--stream", "Rate.")
    assert shown.returncode == 0, shown.screen
    before, _, after = shown.screen.partition("SCORE: 8")
    assert "waiting" in before, "the spinner shows while nothing has arrived"
    assert before.endswith("\r" + " " * 24 + "\r"), "and its line is cleared before the first piece"
    assert "waiting" not in after
    assert after == "\r\nfine\r\n"


def test_a_failure_midstream_starts_its_message_on_a_new_line(tmp_path: Path, server: OllamaWireServer) -> None:
    server.queue(MidStreamError(pieces=["SCORE: 8"], error="the model runner crashed"))
    shown = on_terminal("--config", str(write_config(tmp_path, server.url)), "generate", "--stream", "Rate.")
    assert shown.returncode == 1
    assert "SCORE: 8\r\nobra-llm: error: the stream failed after 8 characters of the answer: " in shown.screen
    assert "the model runner crashed" in shown.screen


def test_no_spinner_when_output_is_not_a_terminal(tmp_path: Path, server: OllamaWireServer) -> None:
    from tests.support.console import obra_llm

    done = obra_llm("--config", str(write_config(tmp_path, server.url)), "generate", "--stream", "Rate.")
    assert (done.returncode, done.stdout, done.stderr) == (0, "SCORE: 8\nfine\n", "")


def test_a_stall_midstream_is_called_a_stall(tmp_path: Path, server: OllamaWireServer) -> None:
    piece = {"model": "qwen2.5-coder:32b", "message": {"role": "assistant", "content": "SCORE: 8"}, "done": False}
    server.queue(Chunked([json.dumps(piece) + "\n"], stall=5))
    config = write_config(tmp_path, server.url, timeout=0.5)
    shown = on_terminal("--config", str(config), "generate", "--stream", "Rate.")
    assert shown.returncode == 1
    assert "SCORE: 8\r\nobra-llm: error: the stream stalled after 8 characters of the answer: " in shown.screen


def test_ctrl_c_midstream_ends_the_line_and_exits_130(tmp_path: Path, server: OllamaWireServer) -> None:
    piece = {"model": "qwen2.5-coder:32b", "message": {"role": "assistant", "content": "SCORE: 8"}, "done": False}
    server.queue(Chunked([json.dumps(piece) + "\n"], stall=10))
    config = write_config(tmp_path, server.url, timeout=20)
    shown = on_terminal("--config", str(config), "generate", "--stream", "Rate.", interrupt_after="SCORE: 8")
    assert shown.returncode == 130
    assert shown.screen.endswith("SCORE: 8\r\nobra-llm: error: interrupted after 8 characters of the answer\r\n")


def test_ctrl_c_while_waiting_clears_the_spinner(tmp_path: Path, server: OllamaWireServer) -> None:
    server.queue(Chunked([], stall=10))
    config = write_config(tmp_path, server.url, timeout=20)
    shown = on_terminal("--config", str(config), "generate", "Rate.", interrupt_after="waiting")
    assert shown.returncode == 130
    assert shown.screen.endswith("\r" + " " * 24 + "\r" + "obra-llm: error: interrupted\r\n")
