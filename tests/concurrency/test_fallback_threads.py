"""32 threads share one fallback chain: answers stay their own, counters exact, one half-open trial.

The chain's members are real providers on local wire servers (and Codex on its recorded
transcripts). Ollama answers each call with text made from the call's own marker, so an
answer handed to the wrong thread, or two streams mixed, is a mismatch.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from obra_llm.fallback import FallbackLLM
from tests.support import anthropic_wire
from tests.support.chains import chain_bench
from tests.support.leaks import no_leaks
from tests.support.ollama_wire import Answer

THREADS = 32
CALLS = 4
_MARKER = re.compile(r"marker-\d+-\d+")


def _echo(body: dict[str, Any]) -> Answer:
    """Ollama's answer to a request: the marker in its prompt, in three pieces."""
    marker = _MARKER.search(str(body["messages"][-1]["content"]))
    assert marker is not None
    return Answer(pieces=["answer ", marker.group(0), " Zürich → 東京"], prompt_tokens=5, completion_tokens=3)


def _run_threads(work: Callable[[int], list[str]]) -> list[list[str]]:
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(work, range(THREADS)))


def test_32_threads_fall_back_together_and_every_counter_adds_up() -> None:
    with no_leaks(), chain_bench() as bench:
        bench.ollama.default_answer = _echo
        bench.anthropic.queue(*[anthropic_wire.error_reply(529, "overloaded_error", "Overloaded")] * (3 * THREADS * CALLS))
        llm = bench.chain(bench.config("anthropic"), bench.config("ollama"), cooldown=3600)

        def work(thread: int) -> list[str]:
            answers = []
            for call in range(CALLS):
                prompt = f"Rate this change, marker-{thread}-{call}"
                answer = "".join(llm.generate_stream(prompt)) if call % 2 else llm.generate(prompt)
                answers.append(answer)
            return answers

        results = _run_threads(work)
        llm.close()

    assert results == [[f"answer marker-{thread}-{call} Zürich → 東京" for call in range(CALLS)] for thread in range(THREADS)]
    metrics = llm.metrics
    anthropic, ollama = metrics["members"]
    total = THREADS * CALLS
    assert (metrics["calls"], metrics["errors"], metrics["timeouts"]) == (total, 0, 0)
    assert ollama["served"] == total
    assert anthropic["failed"] >= 1 and anthropic["failed"] + anthropic["skipped"] == total
    assert bench.chat_requests()["anthropic"] == 3 * anthropic["failed"]  # each failed call made its 3 attempts
    assert metrics["fallbacks"] == {"anthropic -> ollama": anthropic["failed"]}
    assert metrics["total_tokens"] == 8 * total == ollama["metrics"]["total_tokens"]
    assert metrics["retries"] == 2 * anthropic["failed"]


def test_a_half_open_member_gets_exactly_one_trial_among_32_threads() -> None:
    with chain_bench() as bench:
        bench.ollama.default_answer = _echo
        bench.codex.queue("rate_limited", "rate_limited", "rate_limited")
        llm: FallbackLLM = bench.chain(bench.config("openai-codex"), bench.config("ollama"), cooldown=10)
        assert llm.generate("first, marker-0-0") == "answer marker-0-0 Zürich → 東京"
        assert bench.codex.runs == 3
        bench.clock.advance(10.0)

        gate = threading.Event()
        bench.codex.gate = gate  # the trial's codex run waits here until every other call is done
        finished: list[str] = []
        lock = threading.Lock()

        def work(thread: int) -> list[str]:
            answer = llm.generate(f"Rate this change, marker-{thread}-1")
            with lock:
                finished.append(answer)
                if len(finished) == THREADS - 1:
                    gate.set()
            return [answer]

        results = _run_threads(work)
        assert llm.get_model_info()["details"]["states"]["openai-codex"] == "trusted"

    answers = [answer for (answer,) in results]
    assert answers.count("Hello") == 1  # the one trial, answered by codex
    assert sorted(answer for answer in answers if answer != "Hello") == sorted(
        f"answer marker-{thread}-1 Zürich → 東京" for thread in range(THREADS) if answers[thread] != "Hello"
    )
    assert bench.codex.runs == 4
    assert bench.chat_requests()["ollama"] == 1 + THREADS - 1
    codex = llm.metrics["members"][0]
    assert (codex["served"], codex["failed"], codex["skipped"]) == (1, 1, THREADS - 1)
