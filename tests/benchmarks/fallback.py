"""What a fallback chain costs when its first member answers: the chain against that member alone.

Both contenders are real providers from ``create_llm`` against the same stub server: the
member alone (``member``), and a chain whose first member is the same config and whose second
is never reached (``chain``). They alternate in shuffled rounds, each call timed on its own
(``overhead.measure_group``); *paired* is the median of the per-round ratios chain/member.
Target (issue 14): at most ~2 % more, i.e. paired <= 1.02x.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import obra_llm
from obra_llm.protocol import SupportsClose
from tests.benchmarks.overhead import KINDS, CallGroup, Contender, measure_group, ours_call, provider_case

__all__ = ["FALLBACK_TARGET", "measure_fallback"]

#: The chain's paired ratio to its first member alone must not exceed this.
FALLBACK_TARGET = 1.02
#: Never reached: the first member answers every call.
_UNREACHED = {"type": "ollama", "base_url": "http://127.0.0.1:9", "model": "unreached"}


@contextlib.contextmanager
def _providers(config: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    member = obra_llm.create_llm(config)
    chain = obra_llm.create_llm({"type": "fallback", "members": [config, _UNREACHED]})
    try:
        yield member, chain
    finally:
        for llm in (chain, member):
            if isinstance(llm, SupportsClose):
                llm.close()
        gc.collect()


def measure_fallback(provider: str, base_url: str, *, rounds: int) -> list[CallGroup]:
    """One group per call kind: ``chain`` (role ours) against ``member`` alone (role raw)."""
    groups = []
    with _providers(dict(provider_case(provider, base_url).config)) as (member, chain):
        for kind in KINDS:
            contenders = [
                Contender(f"fallback chain, {provider} first", "ours", ours_call(chain, kind)),
                Contender(f"{provider} alone", "raw", ours_call(member, kind)),
            ]
            groups.append(measure_group(f"fallback({provider})", kind, contenders, rounds=rounds))
    return groups


if __name__ == "__main__":
    import sys

    from tests.benchmarks.stub_server import StubServer

    with StubServer() as stub:
        for group in measure_fallback("ollama", stub.base_url, rounds=int(sys.argv[1]) if len(sys.argv) > 1 else 800):
            ours, member = group.ours, group.raw
            print(
                f"{group.label}: chain {ours.median_us:.1f} us, member {member.median_us:.1f} us, "
                f"ratio {ours.ratio:.4f}x, paired {ours.paired:.4f}x (target <= {FALLBACK_TARGET}x)"
            )
