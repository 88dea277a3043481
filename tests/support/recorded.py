"""Which registered types answer from recordings of their own (a chain answers through its members')."""

from __future__ import annotations

from obra_llm.protocol import provider_class
from obra_llm.registry import REGISTRY

__all__ = ["RECORDED_TYPES", "is_chain"]


def is_chain(llm_type: str) -> bool:
    """Whether ``llm_type`` is a chain of other providers (``fallback``), with no wire of its own."""
    declared = provider_class(REGISTRY[llm_type])
    return declared is not None and declared.kind == "chain"


#: Every registered type that has a demo recording of its own, sorted.
RECORDED_TYPES = sorted(name for name in REGISTRY if not is_chain(name))
