"""The real llama-server: what it is, and that it is stopped whatever happens."""

from __future__ import annotations

import re

import httpx
import pytest

from obra_llm.cli import main
from obra_llm.llama_server import find_install, running_server
from tests.support.leaks import no_leaks
from tests.support.live_server import LiveServer, local_server_only, skip_unless_installed

pytestmark = pytest.mark.live
skip_unless_installed()
local_server_only()


def test_the_server_says_which_build_and_model_it_is(live: LiveServer) -> None:
    assert re.fullmatch(r"real server: llama\.cpp b\d+-\S+ \+ SmolLM2-135M-Instruct", live.label), live.label
    assert live.url.startswith("http://127.0.0.1:")
    assert live.context_length == 8192


def test_the_server_is_stopped_when_the_block_fails() -> None:
    with no_leaks(), pytest.raises(RuntimeError, match="the test failed"), running_server(find_install()) as server:
        assert httpx.get(f"{server.url}/health", trust_env=False).status_code == 200
        raise RuntimeError("the test failed")


def test_demo_live_answers_through_both_apis(capsys: pytest.CaptureFixture[str]) -> None:
    with no_leaks():
        code = main(["demo", "--live"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "asked of a real model on this machine (llama.cpp b" in out
    rows = {line.split()[0]: line for line in out.splitlines()[4:] if line.strip()}
    assert sorted(rows) == ["anthropic", "llamacpp", "openai"]
    for row in rows.values():
        provider, transport, *_ = row.split()
        assert transport == "http" and row.rstrip().endswith("live")
