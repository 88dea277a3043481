"""A real model: time to first token and tokens/s through obra_llm vs a raw httpx call to the same server.

Both sides stream the same chat-completions request (temperature 0, the same output cap; the
server's seed is fixed) from llama.cpp's llama-server with SmolLM2-135M-Instruct on 127.0.0.1, alternating
so that drift hits both equally. obra_llm's side is ``create_llm({"type": "openai", ...})
.generate_stream``; the raw side is one ``httpx.Client.stream`` call that reads the SSE lines
itself. Time to first token is until the first text piece; tokens/s is the completion tokens
over the time after the first one. Figures are medians; the ratios are obra_llm / raw (1.0 is
no cost; for tokens/s higher is better).

Each stream gets a fresh client on each side (built before its timer starts), so both pay the
same loopback connect (well under a millisecond) and neither reuses a kept-alive connection:
llama-server closes one idle for 5 s (``Keep-Alive: timeout=5``), and a request sent on it at
that moment was answered with ``httpx.RemoteProtocolError`` (the other side's streams in
between last about that long). ``python -m tests.benchmarks`` includes it when the server is
installed; on its own (``--live-only`` rewrites just its section of docs/performance.md)::

    python -m tests.benchmarks --live-only
    python -m tests.benchmarks.bench_live [runs]
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import attrs
import httpx

from obra_llm import create_llm
from obra_llm.llama_server import LlamaServerError, find_install, provider_config, running_server
from obra_llm.protocol import SupportsClose

__all__ = ["LiveResult", "available", "live_section", "live_summary", "measure_live"]

PROMPT = "Write a short story about a lighthouse keeper and the sea."
MAX_TOKENS = 64


@attrs.frozen
class Side:
    ttft_ms: float
    tokens_per_s: float


@attrs.frozen
class LiveResult:
    runs: int
    server: str
    max_tokens: int
    obra_llm: Side
    raw: Side

    @property
    def ttft_ratio(self) -> float:
        return self.obra_llm.ttft_ms / self.raw.ttft_ms

    @property
    def throughput_ratio(self) -> float:
        return self.obra_llm.tokens_per_s / self.raw.tokens_per_s


def available() -> str | None:
    """``None`` when the server can run here, else why not."""
    try:
        find_install()
    except LlamaServerError as error:
        return str(error)
    return None


def _rate(tokens: int, first: float, end: float) -> float:
    return (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0


def _through_obra_llm(config: dict[str, object]) -> tuple[float, float]:
    llm = create_llm(config)
    try:
        started = time.perf_counter()
        first = 0.0
        for piece in llm.generate_stream(PROMPT):
            if piece and not first:
                first = time.perf_counter()
        end = time.perf_counter()
        return first - started, _rate(int(llm.metrics["completion_tokens"]), first, end)
    finally:
        if isinstance(llm, SupportsClose):
            llm.close()


def _raw(url: str, body: dict[str, object]) -> tuple[float, float]:
    with httpx.Client(base_url=url, timeout=60.0, trust_env=False) as client:
        started = time.perf_counter()
        first = 0.0
        tokens = 0
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    tokens = int(chunk["usage"]["completion_tokens"])
                choices = chunk.get("choices") or [{}]
                if choices[0].get("delta", {}).get("content") and not first:
                    first = time.perf_counter()
        end = time.perf_counter()
        return first - started, _rate(tokens, first, end)


def measure_live(runs: int = 10) -> LiveResult:
    """Median time to first token and tokens/s of each side, ``runs`` alternating streams each."""
    with running_server(find_install()) as server:
        config = provider_config("openai", server.url) | {"max_tokens": MAX_TOKENS, "temperature": 0.0}
        body = {
            "model": config["model"],
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_completion_tokens": MAX_TOKENS,
            "temperature": 0.0,
        }
        ours: list[tuple[float, float]] = []
        raw: list[tuple[float, float]] = []
        _raw(server.url, body)  # warm-up: the server's prompt cache, both sides' imports
        _through_obra_llm(config)
        for run in range(runs):
            for side in ("ours", "raw") if run % 2 == 0 else ("raw", "ours"):
                if side == "ours":
                    ours.append(_through_obra_llm(config))
                else:
                    raw.append(_raw(server.url, body))
        return LiveResult(runs=runs, server=server.label, max_tokens=MAX_TOKENS, obra_llm=_median(ours), raw=_median(raw))


def _median(samples: list[tuple[float, float]]) -> Side:
    return Side(
        ttft_ms=statistics.median(ttft for ttft, _ in samples) * 1000,
        tokens_per_s=statistics.median(rate for _, rate in samples),
    )


def live_section(result: LiveResult | None, note: str = "") -> list[str]:
    """The "A real model" section of docs/performance.md (``note``: why it was not measured)."""
    out = ["## A real model: time to first token and tokens/s", ""]
    if result is None:
        return [*out, f"Not measured: {note}.", ""]
    rows = [
        ("obra_llm", f"{result.obra_llm.ttft_ms:.1f}", f"{result.obra_llm.tokens_per_s:.1f}"),
        ("raw httpx", f"{result.raw.ttft_ms:.1f}", f"{result.raw.tokens_per_s:.1f}"),
        ("ratio", f"{result.ttft_ratio:.3f}x", f"{result.throughput_ratio:.3f}x"),
    ]
    return [
        *out,
        f"{result.server} on 127.0.0.1 (`tests/benchmarks/bench_live.py`, `python -m tests.benchmarks --live-only`): "
        f"the same streamed chat-completions request, {result.max_tokens} tokens at temperature 0, through "
        '`create_llm({"type": "openai"}).generate_stream` and through one raw `httpx.Client.stream` call that parses '
        f"the SSE lines itself, alternately, {result.runs} runs each (medians), each on a fresh client (both pay the "
        "same loopback connect; llama-server drops a connection idle for 5 s, and reusing one at that moment failed "
        "with `RemoteProtocolError`). Time to first token is until the first text piece; tokens/s counts the "
        "completion tokens after the first one. Ratios are obra_llm / raw httpx: 1.000x costs nothing, and for "
        "tokens/s higher is better.",
        "",
        "|  | time to first token ms | tokens/s |",
        "|---|---:|---:|",
        *(f"| {name} | {ttft} | {rate} |" for name, ttft, rate in rows),
        "",
    ]


def live_summary(result: LiveResult) -> str:
    """One line: both sides and the ratios."""
    return (
        f"real model ({result.server}), {result.runs} streams of {result.max_tokens} tokens per side: "
        f"time to first token {result.obra_llm.ttft_ms:.1f} ms vs raw httpx {result.raw.ttft_ms:.1f} ms "
        f"({result.ttft_ratio:.3f}x); {result.obra_llm.tokens_per_s:.1f} vs {result.raw.tokens_per_s:.1f} tokens/s "
        f"({result.throughput_ratio:.3f}x)"
    )


if __name__ == "__main__":
    print(live_summary(measure_live(int(sys.argv[1]) if len(sys.argv) > 1 else 10)))
