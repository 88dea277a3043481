"""Four parallel runs of the real Codex CLI through ONE shared ``CodexCLI`` instance.

Each thread sends a distinct tagged prompt; the local Responses stub answers every request
with the tag it found in that request (``tests/support/echo_stub.py``), so an answer
delivered to the wrong caller, a lost call or a miscounted token shows. The fixtures that
find the pinned binary and isolate ``CODEX_HOME`` are the contract suite's.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from obra_llm.providers.codex import CodexCLI
from tests.contract import conftest as contract
from tests.support.echo_stub import EchoResponsesStub, echo_usage
from tests.support.leaks import no_leaks

pytestmark = pytest.mark.contract

# The contract suite's fixtures, bound here so that pytest finds them for this module.
codex_bin = contract.codex_bin
codex_version = contract.codex_version
codex_home = contract.codex_home
stub_home = contract.stub_home

RUNS = 4


@pytest.fixture
def stub() -> Iterator[EchoResponsesStub]:
    """Replaces the contract suite's stub: ``stub_home`` points codex at this one."""
    running = EchoResponsesStub()
    with running:
        yield running


def test_four_parallel_runs_share_one_provider(codex_bin: str, codex_version: str, stub_home: Path, stub: EchoResponsesStub) -> None:
    llm = CodexCLI()
    llm.initialize({"codex_command": codex_bin, "retry_attempts": 1, "timeout": 60})
    tags = [f"run-{number}-{uuid.uuid4().hex[:8]}" for number in range(RUNS)]
    answers: dict[int, str] = {}
    failures: dict[int, BaseException] = {}
    start = threading.Barrier(RUNS)

    def run(number: int) -> None:
        prompt = f"parallel contract run, tag {tags[number]}"
        start.wait(10)
        try:
            # Half the callers stream: both paths share the runner and the metrics.
            answers[number] = "".join(llm.generate_stream(prompt)) if number % 2 else llm.generate(prompt)
        except BaseException as error:
            failures[number] = error

    with no_leaks(grace=5.0):
        threads = [threading.Thread(target=run, args=(number,), name=f"codex-run-{number}") for number in range(RUNS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)

    assert failures == {}
    assert answers == {number: f"echo {tags[number]}" for number in range(RUNS)}
    seen = sorted(tag for request in stub.requests for tag in tags if tag in str(request.get("input")))
    assert seen == sorted(tags)  # one request per run, none lost or duplicated
    usage = [echo_usage(number) for number in range(RUNS)]
    metrics = llm.metrics
    assert (metrics["calls"], metrics["errors"], metrics["timeouts"], metrics["retries"]) == (RUNS, 0, 0, 0)
    assert metrics["prompt_tokens"] == sum(prompt for prompt, _ in usage)
    assert metrics["completion_tokens"] == sum(completion for _, completion in usage)
    assert metrics["total_tokens"] == sum(prompt + completion for prompt, completion in usage)
    assert contract.live_pids_with_env(f"CODEX_HOME={stub_home}") == []
