"""The ``fallback`` provider: an ordered chain of providers under one deadline (``docs/fallback.md``)."""

from obra_llm.fallback.chain import FallbackLLM
from obra_llm.fallback.counters import FallbackMetrics, MemberMetrics
from obra_llm.fallback.failures import MOVE_ON_DEFAULTS, FailureClass, classify
from obra_llm.fallback.settings import FallbackSettings

__all__ = ["MOVE_ON_DEFAULTS", "FailureClass", "FallbackLLM", "FallbackMetrics", "FallbackSettings", "MemberMetrics", "classify"]
