"""``python -m tests.benchmarks``: every benchmark (issues 7, 12, 14, 17), printed and written to docs/performance.md.

Run from the repository root with the project's virtualenv active (``pip install -e '.[bench]'``
for the comparison clients). ``--quick`` shortens every measurement (for checking the
harness, not for numbers worth quoting).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.benchmarks import bench_codex, bench_live
from tests.benchmarks import structured as bench_structured
from tests.benchmarks.bench_codex import CodexResult, measure_codex
from tests.benchmarks.concurrency import ConcurrencyResult, measure_concurrency
from tests.benchmarks.fallback import measure_fallback
from tests.benchmarks.framing import markdown_section, measure_framing, summary_lines
from tests.benchmarks.imports import ImportTiming, child_environment, measure_imports, probe_obra_llm_import
from tests.benchmarks.memory import measure_memory
from tests.benchmarks.overhead import HTTP_PROVIDERS, CallGroup, measure_group, package_version, provider_groups
from tests.benchmarks.report import PEER_IMPORTS, STARTUP_HTTPX, STARTUP_OBRA_LLM, Results, markdown, text_table
from tests.benchmarks.structured import measure_structured
from tests.benchmarks.stub_server import StubServer
from tests.benchmarks.tokens import measure_tokens

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "performance.md"
IMPORT_STATEMENTS = ("pass", "import httpx", "import obra_llm", STARTUP_HTTPX, STARTUP_OBRA_LLM)


def _say(started: float, text: str) -> None:
    print(f"[{time.perf_counter() - started:6.1f} s] {text}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--import-runs", type=int, default=10, help="runs per import statement (default 10)")
    parser.add_argument("--peer-import-runs", type=int, default=3, help="runs per comparison-client import (default 3)")
    parser.add_argument("--calls", type=int, default=800, help="timed rounds per provider and call kind (default 800)")
    parser.add_argument("--memory-calls", type=int, default=10_000, help="calls for the memory check (default 10000)")
    parser.add_argument("--codex-runs", type=int, default=20, help="runs per side for the Codex CLI (default 20)")
    parser.add_argument("--live-runs", type=int, default=10, help="streams per side against the real model (default 10)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: few runs and calls everywhere")
    parser.add_argument(
        "--framing-only", action="store_true", help="measure the framing readers only; rewrite just that section of the doc"
    )
    parser.add_argument(
        "--structured-only", action="store_true", help="measure structured calls only; rewrite just that section of the doc"
    )
    parser.add_argument(
        "--live-only", action="store_true", help="measure the real model only; rewrite just that section of the doc"
    )
    parser.add_argument("--structured-calls", type=int, default=3000, help="rounds per provider for structured calls (default 3000)")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not rewrite {DOC.relative_to(REPO)}")
    args = parser.parse_args(argv)
    if args.quick:
        args.import_runs, args.peer_import_runs, args.calls, args.memory_calls, args.codex_runs = 3, 1, 100, 1000, 3
        args.live_runs = 2
    threads_calls, threads_repetitions = (10, 2) if args.quick else (25, 5)

    if args.quick:
        args.structured_calls = 200
    started = time.perf_counter()
    if args.structured_only:
        _say(started, f"structured calls: {args.structured_calls} rounds per provider ...")
        structured = measure_structured(args.structured_calls)
        print("\n".join(bench_structured.summary_lines(structured)))
        if not args.no_write:
            _write_section(bench_structured.markdown_section(structured))
        return 0
    if args.live_only:
        note = bench_live.available()
        _say(started, f"real model: {args.live_runs} streams per side ...")
        result = bench_live.measure_live(args.live_runs) if note is None else None
        print(bench_live.live_summary(result) if result is not None else f"real model: not measured ({note})")
        if not args.no_write:
            _write_section(bench_live.live_section(result, note or ""), before=None)
        return 0
    _say(started, "framing readers ...")
    framing = measure_framing(size=2 * 1024 * 1024, runs=2) if args.quick else measure_framing()
    if args.framing_only:
        print("\n".join(summary_lines(framing)))
        if not args.no_write:
            _write_section(markdown_section(framing))
        return 0
    date = datetime.datetime.now(datetime.UTC)
    peers = [(statement, package) for statement, package in PEER_IMPORTS if package_version(package)]
    skipped = [f"{statement}|not installed" for statement, package in PEER_IMPORTS if not package_version(package)]
    _say(started, f"import cost: {args.import_runs} runs of {', '.join(IMPORT_STATEMENTS)}; {args.peer_import_runs} of the clients ...")
    peer_imports: list[ImportTiming] = []
    with tempfile.TemporaryDirectory(prefix="obra-bench-pycache-") as pycache:
        environment = child_environment(pycache)
        imports = measure_imports(IMPORT_STATEMENTS, environment=environment, runs=args.import_runs)
        if peers:
            peer_imports = measure_imports(
                [statement for statement, _ in peers], environment=environment, runs=args.peer_import_runs, warmup=1
            )
        probe = probe_obra_llm_import(environment=environment)

    groups: list[CallGroup] = []
    concurrency: list[ConcurrencyResult] = []
    with StubServer() as stub:
        for provider in HTTP_PROVIDERS:
            _say(started, f"per-call time, {provider}: {args.calls} rounds per call kind ...")
            with provider_groups(provider, stub.base_url) as kinds:
                for kind, contenders, missing in kinds:
                    groups.append(measure_group(provider, kind, contenders, rounds=args.calls, stats=stub.stats, unavailable=missing))
        for provider in HTTP_PROVIDERS:
            _say(started, f"16 threads, {provider} ...")
            concurrency.append(
                measure_concurrency(provider, stub.base_url, calls=threads_calls, repetitions=threads_repetitions, stats=stub.stats)
            )
        # Three times the rounds: the difference sought (~1 %) is smaller than a loaded machine's drift.
        _say(started, f"fallback chain, first member answers: {3 * args.calls} rounds per call kind ...")
        fallback = measure_fallback("ollama", stub.base_url, rounds=3 * args.calls)
        _say(started, f"memory: {args.memory_calls} calls in a fresh interpreter ...")
        memory = measure_memory(stub.base_url, args.memory_calls)
    _say(started, f"structured calls: {args.structured_calls} rounds per provider ...")
    structured = measure_structured(args.structured_calls)
    _say(started, "token estimation ...")
    tokens = measure_tokens(runs=3 if args.quick else 5, fresh_runs=2 if args.quick else 5)
    codex: CodexResult | None = None
    codex_note = ""
    if bench_codex.available():
        _say(started, f"codex CLI: {args.codex_runs} runs per side ...")
        codex = measure_codex(args.codex_runs)
    else:
        codex_note = f"the Codex CLI is not installed at {bench_codex.BINARY} (scripts/test.sh installs it)"

    live: bench_live.LiveResult | None = None
    live_note = bench_live.available()
    if live_note is None:
        _say(started, f"real model: {args.live_runs} streams per side ...")
        live = bench_live.measure_live(args.live_runs)

    results = Results(
        imports=imports,
        peer_imports=peer_imports,
        probe=probe,
        groups=groups,
        concurrency=concurrency,
        memory=memory,
        tokens=tokens,
        codex=codex,
        codex_note=codex_note,
        date=date,
        seconds=time.perf_counter() - started,
        calls=args.calls,
        skipped_imports=skipped,
        fallback=fallback,
        framing=framing,
        live=live,
        live_note=live_note or "",
        structured=structured,
    )
    print(text_table(results))
    if not args.no_write:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(markdown(results), encoding="utf-8")
        print(f"\nwrote {DOC.relative_to(REPO)}")
    return 0


def _write_section(section: Sequence[str], before: str | None = "## Codex CLI") -> None:
    """Replace one section of docs/performance.md, found by its heading, or add it before ``before`` (``None``: at the end)."""
    lines = DOC.read_text(encoding="utf-8").split("\n")
    heading = section[0]
    if heading in lines:
        start = lines.index(heading)
        end = next((n for n in range(start + 1, len(lines)) if lines[n].startswith("## ")), len(lines))
    else:
        start = end = next((n for n, line in enumerate(lines) if line == before), len(lines))
        if start == len(lines) and lines[-1]:
            section = ["", *section]
    lines[start:end] = section
    DOC.write_text("\n".join(lines), encoding="utf-8")
    print(f"\nwrote the {heading.removeprefix('## ')} section of {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
