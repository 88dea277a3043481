"""The benchmark's table, as plain text for the terminal and as ``docs/performance.md``."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata

import attrs

from tests.benchmarks.imports import HEAVY_MODULES, ImportProbe, ImportTiming
from tests.benchmarks.overhead import Comparison

__all__ = ["IMPORT_TARGET", "STARTUP_HTTPX", "STARTUP_OBRA_LLM", "Results", "machine", "markdown", "text_table"]

IMPORT_TARGET = 1.3
#: Start-up as the orchestrator pays it: the import plus a ready client (no request is sent).
STARTUP_HTTPX = "import httpx; httpx.Client()"
STARTUP_OBRA_LLM = "import obra_llm; obra_llm.create_llm({'model': 'm'})"
#: Per-call targets: issue 2 asks <= 1.10x for both; issue 7 tightens non-streaming to 1.03x.
CALL_TARGETS = {"generate": (1.10, 1.03), "generate_stream": (1.10, 1.10)}


@attrs.frozen
class Results:
    imports: Sequence[ImportTiming]
    probe: ImportProbe
    calls: Sequence[Comparison]
    date: datetime.datetime
    seconds: float


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> list[tuple[str, str]]:
    return [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} logical cores"),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("obra_llm", _version("obra_llm")),
        ("httpx", f"{_version('httpx')} (httpcore {_version('httpcore')}, h11 {_version('h11')})"),
    ]


def _import_rows(results: Results) -> list[tuple[str, str, str, str]]:
    by_statement = {timing.statement: timing for timing in results.imports}
    bare = by_statement["pass"].median_ms
    httpx_ms = by_statement["import httpx"].median_ms
    rows = []
    for timing in results.imports:
        ratio = f"{timing.median_ms / httpx_ms:.2f}x" if timing.statement != "pass" else ""
        rows.append((f"`python -c \"{timing.statement}\"`", f"{timing.median_ms:.1f}", f"{timing.median_ms - bare:.1f}", ratio))
    return rows


def _wire_text(comparison: Comparison, *, requests: bool = False) -> str:
    """``ours / raw`` connections (or requests) per call, from the stub's counters."""
    if comparison.ours_wire is None or comparison.baseline_wire is None:
        return "-"
    if requests:
        return f"{comparison.ours_wire.requests:g} / {comparison.baseline_wire.requests:g}"
    return f"{comparison.ours_wire.connections:g} / {comparison.baseline_wire.connections:g}"


def _verdict(ratio: float, target: float) -> str:
    return "meets" if ratio <= target else "MISSES"


def _summary(results: Results) -> list[str]:
    by_statement = {timing.statement: timing.median_ms for timing in results.imports}
    lines = []
    ratio = by_statement["import obra_llm"] / by_statement["import httpx"]
    lines.append(f"import obra_llm / import httpx (whole process): {ratio:.2f}x, target <= {IMPORT_TARGET}x: {_verdict(ratio, IMPORT_TARGET)}")
    if STARTUP_OBRA_LLM in by_statement and STARTUP_HTTPX in by_statement:
        startup = by_statement[STARTUP_OBRA_LLM] / by_statement[STARTUP_HTTPX]
        lines.append(f"start-up (import + create_llm) / (import httpx + httpx.Client()): {startup:.2f}x (no target; for lazy-import changes)")
    heavy = ", ".join(results.probe.heavy_loaded) or "none"
    lines.append(f"heavy modules loaded by `import obra_llm` (of {', '.join(HEAVY_MODULES)}): {heavy}")
    for comparison in results.calls:
        kind = comparison.label.rsplit(" ", 1)[-1]
        issue2, issue7 = CALL_TARGETS.get(kind, (1.10, 1.10))
        lines.append(
            f"{comparison.label}: {comparison.ratio:.3f}x (paired {comparison.paired_ratio:.3f}x); "
            f"target <= {issue2:.2f}x (issue 2): {_verdict(comparison.ratio, issue2)}; "
            f"<= {issue7:.2f}x (issue 7): {_verdict(comparison.ratio, issue7)}"
        )
    return lines


def text_table(results: Results) -> str:
    out = ["", "Import cost (median wall ms of the whole process)"]
    out.append(f"  {'statement':<72} {'median':>8} {'minus bare':>11} {'vs httpx':>9}")
    for statement, median, extra, ratio in _import_rows(results):
        out.append(f"  {statement.strip('`'):<72} {median:>8} {extra:>11} {ratio:>9}")
    out.append("")
    out.append("Per-call time against the stub (median us per call)")
    out.append(
        f"  {'call':<24} {'obra_llm':>9} {'raw httpx':>10} {'overhead':>9} {'ratio':>7} {'paired':>7}"
        f"  {'conns/call':>10}  {'reqs/call':>9}"
    )
    for comparison in results.calls:
        out.append(
            f"  {comparison.label:<24} {comparison.ours_us:>9.1f} {comparison.baseline_us:>10.1f} "
            f"{comparison.overhead_us:>+9.1f} {comparison.ratio:>6.3f}x {comparison.paired_ratio:>6.3f}x"
            f"  {_wire_text(comparison):>10}  {_wire_text(comparison, requests=True):>9}"
        )
    out.append("")
    out.extend(_summary(results))
    out.append("")
    out.append("costliest imports under `import obra_llm` (-X importtime, cumulative ms):")
    out.extend(f"  {module:<36} {micro / 1000:>7.1f}" for module, micro in results.probe.costliest)
    return "\n".join(out)


def markdown(results: Results) -> str:
    calls = results.calls[0] if results.calls else None
    imports = results.imports[0]
    out = [
        "# Performance",
        "",
        "Generated by `python -m tests.benchmarks` (the numbers below are from the run on "
        f"{results.date:%Y-%m-%d %H:%M} UTC, {results.seconds:.0f} s in all). Re-run it to refresh this page.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in machine()),
        "",
        "## Summary",
        "",
        *(f"- {line}" for line in _summary(results)),
        "",
        "## Import cost",
        "",
        f"Whole-process wall time of `python -c \"...\"`, median of {imports.runs} runs per statement, the "
        "statements run in rotating order after two warm-up rounds. *Minus bare* subtracts `python -c pass` "
        "(interpreter start-up); *vs httpx* divides whole-process times by `import httpx`'s, as the target is stated. "
        "The last two rows are start-up as the orchestrator pays it (import plus a ready client, no request), "
        "so that moving cost from import time to first use shows up. Bytecode caches are warm (a fresh "
        "`PYTHONPYCACHEPREFIX`, filled by the warm-up runs), as after `pip install`; with "
        "`PYTHONDONTWRITEBYTECODE=1` and an editable checkout, obra_llm's own modules are compiled on every run.",
        "",
        "| statement | median ms | minus bare | vs httpx |",
        "|---|---:|---:|---:|",
        *(f"| {statement} | {median} | {extra} | {ratio} |" for statement, median, extra, ratio in _import_rows(results)),
        "",
        f"`import obra_llm` loads {results.probe.module_count} modules; of the heavy ones "
        f"({', '.join(f'`{name}`' for name in HEAVY_MODULES)}) it loads: "
        f"{', '.join(f'`{name}`' for name in results.probe.heavy_loaded) or 'none'}.",
        "",
        "Costliest imports under `import obra_llm` (`-X importtime`, cumulative, one run):",
        "",
        "| module | ms |",
        "|---|---:|",
        *(f"| `{module}` | {micro / 1000:.1f} |" for module, micro in results.probe.costliest),
        "",
        "## Per-call overhead",
        "",
        "Against `tests/benchmarks/stub_server.py`: a raw `asyncio.Protocol` HTTP/1.1 server in its own process "
        "(keep-alive, answers pre-rendered at start-up), speaking Ollama's native `/api/chat`. The streamed answer "
        "is 20 NDJSON lines plus the final `done: true` line with `prompt_eval_count`/`eval_count`, each line "
        "written as its own HTTP chunk. The baseline is a pooled `httpx.Client` making the same request: "
        "`post` + `raise_for_status` + `json()`, or `stream` + `iter_lines` + `json.loads` per line. Both sides "
        "run in the same process, alternately, one call at a time in ABBA order (ours, raw, raw, ours, ...), each "
        "call timed on its own; the figure per side is the median call, *ratio* divides the two medians, and "
        "*paired* is the median of the ratios of neighbouring calls, the figure least disturbed by load elsewhere "
        "on the machine.",
        "",
        "| call | obra_llm us | raw httpx us | overhead us | ratio | paired | new connections per call (ours / raw) | requests per call (ours / raw) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {c.label} | {c.ours_us:.1f} | {c.baseline_us:.1f} | {c.overhead_us:+.1f} | {c.ratio:.3f}x "
            f"| {c.paired_ratio:.3f}x | {_wire_text(c)} | {_wire_text(c, requests=True)} |"
            for c in results.calls
        ),
        "",
    ]
    if calls is not None:
        out.append(
            f"{calls.calls} timed calls per side and kind, after 200 warm-up calls each; connections and requests "
            "per call are the stub's own counts over 20 further calls per side (0 new connections means keep-alive works)."
        )
        out.append("")
    return "\n".join(out)
