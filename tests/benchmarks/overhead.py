"""Per-call overhead: obra_llm's providers vs a raw pooled ``httpx.Client`` doing the same request.

Both sides send the same body to the same stub server over a kept-alive connection and
parse the whole answer (for streams: every line, ``json.loads`` each, collect the pieces).
They are measured alternately in the same run, one call at a time in ABBA order (ours, raw,
raw, ours, ...), each call timed on its own, so that drift and bursts of load from
elsewhere on the machine hit both sides alike. The figure per side is the median call;
the ratio is obra_llm's median over the raw median, and ``paired`` is the median of the
ratios of neighbouring calls (the most robust to drift).
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import httpx

import obra_llm
from tests.benchmarks.stub_server import MODEL, TEXT

__all__ = ["Comparison", "Contender", "Wire", "compare", "ollama_contenders"]

PROMPT = "Rate this diff from 0 to 10: ..."


@attrs.frozen
class Contender:
    """One way to make the call: ``call()`` returns the answer text."""

    name: str
    call: Callable[[], str]


@attrs.frozen
class Wire:
    """What one call costs on the wire: new connections (0 with keep-alive) and HTTP requests."""

    connections: float
    requests: float


@attrs.frozen
class Comparison:
    """obra_llm vs the raw baseline for one kind of call."""

    label: str
    ours: str
    baseline: str
    ours_us: float
    baseline_us: float
    paired_ratio: float
    calls: int
    #: New TCP connections and HTTP requests per call, as the stub counted them (``None``: not probed).
    ours_wire: Wire | None = None
    baseline_wire: Wire | None = None

    @property
    def ratio(self) -> float:
        return self.ours_us / self.baseline_us

    @property
    def overhead_us(self) -> float:
        return self.ours_us - self.baseline_us


def compare(
    label: str,
    ours: Contender,
    baseline: Contender,
    *,
    calls: int,
    warmup: int = 200,
    stats: Callable[[], Mapping[str, int]] | None = None,
) -> Comparison:
    """Time ``calls`` calls of each side, one call at a time in ABBA order; check both answer right.

    With ``stats`` (the stub's counters), first count the connections and requests each
    side makes per call.
    """
    for contender in (ours, baseline):
        answer = contender.call()
        if answer != TEXT:
            msg = f"{contender.name} answered {answer!r}, expected {TEXT!r}"
            raise AssertionError(msg)
        for _ in range(warmup):
            contender.call()
    ours_wire = _wire(ours.call, stats) if stats else None
    baseline_wire = _wire(baseline.call, stats) if stats else None
    ours_call, baseline_call = ours.call, baseline.call
    clock = time.perf_counter_ns
    ours_ns: list[int] = []
    baseline_ns: list[int] = []
    for pair in range(calls):
        first, second = (ours_call, baseline_call) if pair % 2 == 0 else (baseline_call, ours_call)
        started = clock()
        first()
        middle = clock()
        second()
        ended = clock()
        if pair % 2 == 0:
            ours_ns.append(middle - started)
            baseline_ns.append(ended - middle)
        else:
            baseline_ns.append(middle - started)
            ours_ns.append(ended - middle)
    return Comparison(
        label=label,
        ours=ours.name,
        baseline=baseline.name,
        ours_us=statistics.median(ours_ns) / 1000.0,
        baseline_us=statistics.median(baseline_ns) / 1000.0,
        paired_ratio=statistics.median(o / b for o, b in zip(ours_ns, baseline_ns, strict=True)),
        calls=calls,
        ours_wire=ours_wire,
        baseline_wire=baseline_wire,
    )


def _wire(call: Callable[[], str], stats: Callable[[], Mapping[str, int]], probes: int = 20) -> Wire:
    """Connections and requests per call over ``probes`` calls (each ``stats()`` is one request on its own connection)."""
    before = stats()
    for _ in range(probes):
        call()
    after = stats()

    def grown(key: str | None) -> int:
        if key is not None:
            return after.get(key, 0) - before.get(key, 0)
        return sum(after.values()) - after.get("connections", 0) - (sum(before.values()) - before.get("connections", 0))

    return Wire(connections=(grown("connections") - 1) / probes, requests=(grown(None) - 1) / probes)


@contextmanager
def ollama_contenders(base_url: str) -> Iterator[tuple[Sequence[Contender], Sequence[Contender]]]:
    """(ours, raw) pairs for Ollama ``generate`` and ``generate_stream``, sharing nothing but the server."""
    llm = obra_llm.create_llm({"type": "ollama", "endpoint": base_url, "model": MODEL})
    raw = httpx.Client(base_url=base_url, timeout=httpx.Timeout(120.0, connect=10.0))
    whole_body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": False}
    stream_body: dict[str, Any] = {**whole_body, "stream": True}

    def ours_generate() -> str:
        return llm.generate(PROMPT)

    def ours_stream() -> str:
        return "".join(llm.generate_stream(PROMPT))

    def raw_generate() -> str:
        response = raw.post("/api/chat", json=whole_body)
        response.raise_for_status()
        text: str = response.json()["message"]["content"]
        return text

    def raw_stream() -> str:
        pieces: list[str] = []
        with raw.stream("POST", "/api/chat", json=stream_body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line:
                    pieces.append(json.loads(line)["message"]["content"])
        return "".join(pieces)

    try:
        yield (
            (Contender("obra_llm ollama generate", ours_generate), Contender("raw httpx POST + json", raw_generate)),
            (
                Contender("obra_llm ollama generate_stream", ours_stream),
                Contender("raw httpx stream + iter_lines + json.loads", raw_stream),
            ),
        )
    finally:
        raw.close()
        close = getattr(llm, "close", None)
        if callable(close):
            close()
        gc.collect()
