"""What a structured call costs: ``generate(json_schema=...)`` against a plain ``generate`` plus validation.

Run: ``python -m tests.benchmarks.structured [--calls N]``. One Ollama provider answers from an
in-process ``httpx.MockTransport`` (no socket, so only obra_llm's own work is measured): the
same canned body for both calls, its text a valid ``Score``. Each round times a plain call,
a structured call and the validation alone (``jsonschema`` on the parsed answer) in a
shuffled order; the figures are medians, ``extra`` the median per-round difference
structured - plain. Target (issue 12): ``extra`` <= validation (+5 % for timer noise); besides
validating, a structured call encodes the schema into the request and looks up its checked
validator (cached per schema), which is what it costs beyond that.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import httpx

from obra_llm.providers.ollama import OllamaLLM
from obra_llm.structured import _violations
from tests.support.structured_answers import SCORE_SCHEMA, conforming_text

__all__ = ["main", "measure"]

_BODY = json.dumps(
    {
        "model": "qwen2.5-coder:32b",
        "message": {"role": "assistant", "content": conforming_text(SCORE_SCHEMA)},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 96,
        "eval_count": 40,
    }
).encode()


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=_BODY, headers={"content-type": "application/json"})


def measure(calls: int) -> dict[str, float]:
    """Median microseconds of a plain call, a structured call and validation alone, over ``calls`` rounds."""
    llm = OllamaLLM(transport=httpx.MockTransport(_answer), environ={})
    llm.initialize({"type": "ollama"})
    text = conforming_text(SCORE_SCHEMA)
    contenders: dict[str, Callable[[], object]] = {
        "plain": lambda: llm.generate("Rate this change."),
        "structured": lambda: llm.generate("Rate this change.", json_schema=SCORE_SCHEMA),
        "validation": lambda: _violations(SCORE_SCHEMA, text),
    }
    for run in contenders.values():  # warm-up: the validator is built once per schema
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
    medians["extra"] = statistics.median(s - p for s, p in zip(timings["structured"], timings["plain"], strict=True))
    return medians


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.structured", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="timed rounds (default 2000)")
    args = parser.parse_args(argv)
    medians = measure(args.calls)
    budget = medians["validation"] * 1.05
    for name, value in medians.items():
        print(f"{name:>11}: {value:8.1f} us (median of {args.calls}{', paired per round' if name == 'extra' else ''})")
    verdict = "met" if medians["extra"] <= budget else "MISSED"
    print(f"target (issue 12): structured - plain <= validation (+5 %) = {budget:.1f} us: {verdict}")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
