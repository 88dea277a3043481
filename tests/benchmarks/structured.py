"""What a structured call costs: ``generate(json_schema=...)`` against a plain ``generate`` plus validation.

Run alone: ``python -m tests.benchmarks.structured [--calls N]``; ``python -m tests.benchmarks``
runs it with the rest (``--structured-only`` rewrites just its section of docs/performance.md).

Per provider (Ollama's ``format``, OpenAI's strict ``response_format``), one instance answers from
an in-process ``httpx.MockTransport`` (no socket, so only obra_llm's own work is measured): the
same canned body for every call, its text a valid ``Score``. Each round times, in a shuffled
order, a plain ``generate``, a structured ``generate(json_schema=...)``, ``generate_structured``
and the validation a caller holding only the plain protocol would run on the plain answer:
``json.loads`` and a ``jsonschema`` validator built once (``is_valid``), the validator issue 12
names. The figures are medians; *extra* is the median per-round difference structured - plain.
Target (issue 12): *extra* <= that validation. obra_llm's own validation (``jsonschema-rs``) is
timed too: what *extra* spends beyond it is encoding the schema into the request and the call's
bookkeeping.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import httpx
from jsonschema.validators import validator_for

from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.ollama import OllamaLLM
from obra_llm.providers.openai import OpenAILLM
from obra_llm.structured import _violations
from tests.support.structured_answers import SCORE_SCHEMA, conforming_text

__all__ = ["StructuredReport", "StructuredResult", "main", "markdown_section", "measure_structured", "summary_lines"]

_TEXT = conforming_text(SCORE_SCHEMA)
#: Each provider's whole answer, its text the quality score.
_BODIES: dict[str, dict[str, Any]] = {
    "ollama": {
        "model": "qwen2.5-coder:32b",
        "message": {"role": "assistant", "content": _TEXT},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 96,
        "eval_count": 40,
    },
    "openai": {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _TEXT}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 96, "completion_tokens": 40, "total_tokens": 136},
    },
}
_MAKERS: dict[str, Callable[[httpx.BaseTransport], HttpLLM[Any]]] = {
    "ollama": lambda transport: OllamaLLM(transport=transport, environ={}),
    "openai": lambda transport: OpenAILLM(transport=transport, environ={"OPENAI_API_KEY": "sk-bench"}),
}
#: Timer noise allowed on the target (a median of differences on a shared machine).
NOISE = 1.05


@attrs.frozen
class StructuredResult:
    provider: str
    calls: int
    #: Median microseconds: plain, structured, generate_structured, reference validation, obra_llm's validation.
    medians: dict[str, float]
    #: Median per-round structured - plain, microseconds.
    extra_us: float

    @property
    def met(self) -> bool:
        return self.extra_us <= self.medians["validation (jsonschema)"] * NOISE


@attrs.frozen
class StructuredReport:
    results: Sequence[StructuredResult]
    #: When it ran, and the machine's 1-minute load average then (the machine is shared).
    date: datetime.datetime = attrs.field(factory=lambda: datetime.datetime.now(datetime.UTC))
    load: float = attrs.field(factory=lambda: os.getloadavg()[0])


def _transport(body: dict[str, Any]) -> httpx.MockTransport:
    content = json.dumps(body).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    return httpx.MockTransport(answer)


def measure(provider: str, calls: int) -> StructuredResult:
    """``provider``'s plain and structured calls and the validations, over ``calls`` shuffled rounds."""
    llm = _MAKERS[provider](_transport(_BODIES[provider]))
    llm.initialize({"type": provider})
    reference = validator_for(SCORE_SCHEMA)(SCORE_SCHEMA)
    prompt = "Rate this change."
    contenders: dict[str, Callable[[], object]] = {
        "plain": lambda: llm.generate(prompt),
        "structured": lambda: llm.generate(prompt, json_schema=SCORE_SCHEMA),
        "generate_structured": lambda: llm.generate_structured(prompt, SCORE_SCHEMA),
        "validation (jsonschema)": lambda: reference.is_valid(json.loads(_TEXT)),
        "obra_llm validation (jsonschema-rs)": lambda: _violations(SCORE_SCHEMA, _TEXT),
    }
    assert reference.is_valid(json.loads(llm.generate(prompt))), "the canned answer must conform"
    for _ in range(20):  # warm-up: the validators are built once per schema
        for run in contenders.values():
            run()
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for _ in range(calls):
        random.shuffle(names)
        for name in names:
            started = time.perf_counter()
            contenders[name]()
            timings[name].append((time.perf_counter() - started) * 1e6)
    llm.close()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    extra = statistics.median(s - p for s, p in zip(timings["structured"], timings["plain"], strict=True))
    return StructuredResult(provider, calls, medians, extra)


def measure_structured(calls: int) -> StructuredReport:
    return StructuredReport([measure(provider, calls) for provider in _BODIES])


def summary_lines(report: StructuredReport | None) -> list[str]:
    """One line per provider: the structured call's extra over a plain one against the validation (issue 12)."""
    if report is None:
        return []
    lines = []
    for result in report.results:
        medians = result.medians
        lines.append(
            f"structured, {result.provider}: generate(json_schema=) costs {result.extra_us:+.1f} us over a plain call "
            f"(paired median; plain {medians['plain']:.1f} us), target <= the caller's own validation "
            f"(json.loads + jsonschema, {medians['validation (jsonschema)']:.1f} us; 5 % noise allowed) (issue 12): "
            f"{'met' if result.met else 'NOT met'}; obra_llm's own validation {medians['obra_llm validation (jsonschema-rs)']:.1f} us"
        )
    return lines


def markdown_section(report: StructuredReport) -> list[str]:
    rows = [
        f"| {result.provider} | {name} | {median:.1f} | {result.calls} |"
        for result in report.results
        for name, median in result.medians.items()
    ]
    extras = [
        f"| {result.provider} | {result.extra_us:+.1f} | {result.medians['validation (jsonschema)']:.1f} | "
        f"{'met' if result.met else 'NOT met'} |"
        for result in report.results
    ]
    return [
        "## Structured answers",
        "",
        "One provider instance per API answering from an in-process `httpx.MockTransport` (no socket: only obra_llm's "
        "own work counts), the same body every call, its text a valid quality `Score` (`docs/structured.md`). Each "
        "round times, in shuffled order, a plain `generate`, `generate(json_schema=SCORE)`, `generate_structured` and "
        "the validation a caller holding only the plain protocol would run on the plain answer (`json.loads` and a "
        "`jsonschema` validator built once, `is_valid`); obra_llm's own validation (`jsonschema-rs`) is timed for "
        "comparison (`tests/benchmarks/structured.py`). *Extra* is the median per-round difference structured - plain; "
        "issue 12's target is *extra* <= the caller's validation (5 % noise allowed). "
        f"Measured {report.date:%Y-%m-%d %H:%M} UTC, load average {report.load:.1f} on the shared machine "
        "(`python -m tests.benchmarks --structured-only` refreshes just this section).",
        "",
        "| provider | contender | median us | rounds |",
        "|:--|:--|--:|--:|",
        *rows,
        "",
        "| provider | extra us | caller's validation us | target |",
        "|:--|--:|--:|:--|",
        *extras,
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.structured", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="timed rounds per provider (default 2000)")
    args = parser.parse_args(argv)
    report = measure_structured(args.calls)
    for result in report.results:
        for name, value in result.medians.items():
            print(f"{result.provider:>7} {name:>36}: {value:8.1f} us (median of {args.calls})")
        print(f"{result.provider:>7} {'extra (structured - plain, paired)':>36}: {result.extra_us:8.1f} us")
    print("\n".join(summary_lines(report)))
    return 0 if all(result.met for result in report.results) else 1


if __name__ == "__main__":
    sys.exit(main())
