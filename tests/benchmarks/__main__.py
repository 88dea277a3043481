"""``python -m tests.benchmarks``: import cost and per-call overhead, printed and written to docs/performance.md.

Run from the repository root with the project's virtualenv active. ``--quick`` shortens
every measurement (for checking the harness, not for numbers worth quoting).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.benchmarks.imports import child_environment, measure_imports, probe_obra_llm_import
from tests.benchmarks.overhead import Comparison, compare, ollama_contenders
from tests.benchmarks.report import STARTUP_HTTPX, STARTUP_OBRA_LLM, Results, markdown, text_table
from tests.benchmarks.stub_server import StubServer

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "performance.md"
IMPORT_STATEMENTS = ("pass", "import httpx", "import obra_llm", STARTUP_HTTPX, STARTUP_OBRA_LLM)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--import-runs", type=int, default=15, help="runs per import statement (default 15)")
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per side and call kind (default 2000)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: 3 import runs, 100 calls")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not rewrite {DOC.relative_to(REPO)}")
    args = parser.parse_args(argv)
    if args.quick:
        args.import_runs, args.calls = 3, 100

    started = time.perf_counter()
    date = datetime.datetime.now(datetime.UTC)
    print(f"import cost: {args.import_runs} runs of {', '.join(IMPORT_STATEMENTS)} ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="obra-bench-pycache-") as pycache:
        environment = child_environment(pycache)
        imports = measure_imports(IMPORT_STATEMENTS, environment=environment, runs=args.import_runs)
        probe = probe_obra_llm_import(environment=environment)

    calls: list[Comparison] = []
    with StubServer() as stub, ollama_contenders(stub.base_url) as pairs:
        print(f"per-call overhead against the stub at {stub.base_url}: {args.calls} calls per side ...", flush=True)
        for label, (ours, raw) in zip(("ollama generate", "ollama generate_stream"), pairs, strict=True):
            calls.append(compare(label, ours, raw, calls=args.calls, stats=stub.stats))

    results = Results(imports=imports, probe=probe, calls=calls, date=date, seconds=time.perf_counter() - started)
    print(text_table(results))
    if not args.no_write:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(markdown(results), encoding="utf-8")
        print(f"\nwrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
