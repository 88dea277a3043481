"""Token estimation: throughput on 1 MB of mixed text, and the first call's cost in a fresh process.

The text is built deterministically: a third code (obra_llm's own sources), a third prose,
a third other scripts and symbols (accented Latin, Cyrillic, Greek, CJK, emoji), repeated
to 1 MiB of UTF-8. Throughput is ``obra_llm.tokens.estimate_tokens`` (the path every
provider's ``estimate_tokens`` takes) against the floor, ``len(encoding.encode_ordinary())``
on the same encoding object, best of a few runs each. The first-call cost is the median,
over fresh interpreters, of the first ``estimate_tokens`` call (loading and verifying the
BPE file, building the encoder) after ``import obra_llm``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import attrs

__all__ = ["TokenResult", "mixed_text", "measure_tokens"]

MODEL = "gpt-4o"
_REPO = Path(__file__).resolve().parents[2]
_PROSE = (
    "The orchestrator hands each review to the model and waits for a verdict. A verdict that arrives late "
    "holds up every task behind it, so the layer in between must add as little as it can, and must say "
    "clearly why a call failed when it does. "
)
_OTHER = (
    "Ça coûte très cher, naïve façade — Übergrößenträger. Съешь же ещё этих мягких французских булок. "
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. 我能吞下玻璃而不伤身体。私はガラスを食べられます。유리를 먹을 수 있어요. "
    "🚀✨🔥 ∑∫√∞ ≠ ≤ ≥ → ⇒ "
)

_FIRST_CALL = """
import json, time
started = time.perf_counter()
from obra_llm.tokens import estimate_tokens
imported = time.perf_counter()
estimate_tokens("Hello, world", "gpt-4o")
first = time.perf_counter()
estimate_tokens("Hello, world", "gpt-4o")
second = time.perf_counter()
print(json.dumps({"import": imported - started, "first": first - imported, "second": second - first}))
"""


@attrs.frozen
class TokenResult:
    text_bytes: int
    tokens: int
    ours_seconds: float
    floor_seconds: float
    first_call_ms: float
    second_call_us: float
    import_ms: float
    runs: int

    @property
    def ours_mb_per_s(self) -> float:
        return self.text_bytes / 2**20 / self.ours_seconds

    @property
    def floor_mb_per_s(self) -> float:
        return self.text_bytes / 2**20 / self.floor_seconds


def mixed_text(size: int = 2**20) -> str:
    code = "".join(path.read_text(encoding="utf-8") for path in sorted((_REPO / "obra_llm").rglob("*.py")))
    block = code[:40_000] + _PROSE * 150 + _OTHER * 120
    text = block * (size // len(block.encode()) + 1)
    data = text.encode()[:size]
    return data.decode("utf-8", errors="ignore")


def measure_tokens(*, runs: int = 5, fresh_runs: int = 5) -> TokenResult:
    from obra_llm.tokens import encoding_name_for, estimate_tokens, load_encoding

    text = mixed_text()
    estimate_tokens("warm-up", MODEL)
    encoding = load_encoding(encoding_name_for(MODEL))
    assert encoding is not None, "no verified BPE file: the estimate fell back to len/4"
    ours: list[float] = []
    floor: list[float] = []
    tokens = 0
    for _ in range(runs):
        started = time.perf_counter()
        tokens = estimate_tokens(text, MODEL)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        floor_tokens = len(encoding.encode_ordinary(text))
        floor.append(time.perf_counter() - started)
        assert floor_tokens == tokens, (floor_tokens, tokens)
    fresh = [_first_call() for _ in range(fresh_runs)]
    return TokenResult(
        text_bytes=len(text.encode()),
        tokens=tokens,
        ours_seconds=min(ours),
        floor_seconds=min(floor),
        first_call_ms=statistics.median(sample["first"] for sample in fresh) * 1000,
        second_call_us=statistics.median(sample["second"] for sample in fresh) * 1e6,
        import_ms=statistics.median(sample["import"] for sample in fresh) * 1000,
        runs=runs,
    )


def _first_call() -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _FIRST_CALL], check=True, capture_output=True, text=True, cwd=_REPO)
    values: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return values
