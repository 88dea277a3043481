"""A minimal orchestrator, written only against ``LLMPlugin``: no provider is imported here.

It mirrors how Obra's orchestrator uses its LLM: ``_initialize_llm`` through the registry,
a quality check that asks for a verdict, and a confidence score parsed from the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

import obra_llm
from obra_llm import LLMPlugin
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM

_SCORE = re.compile(r"SCORE:\s*(\d+(?:\.\d+)?)")


class OrchestratorException(Exception):
    """What the orchestrator raises when it cannot start."""


@attrs.frozen
class QualityVerdict:
    score: float
    passed: bool
    explanation: str


class Orchestrator:
    """Just enough of Obra's orchestrator to exercise its LLM seam."""

    def __init__(self, config: Mapping[str, Any], *, factory: Callable[[dict[str, Any]], LLMPlugin] = obra_llm.create_llm) -> None:
        self.config = dict(config)
        self._factory = factory
        self.llm_interface: LLMPlugin | None = None

    def initialize(self) -> None:
        self._initialize_llm()

    def _initialize_llm(self) -> None:
        llm_config = dict(self.config.get("llm", {}))
        try:
            self.llm_interface = self._factory(llm_config)
        except obra_llm.PluginNotFoundError as error:
            raise OrchestratorException(str(error)) from error

    def check_quality(self, threshold: float = 7.0) -> QualityVerdict:
        llm = self._llm()
        answer = llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)
        score = confidence_score(answer)
        return QualityVerdict(score=score, passed=score >= threshold, explanation=answer)

    def _llm(self) -> LLMPlugin:
        if self.llm_interface is None:
            raise OrchestratorException("initialize() first")
        return self.llm_interface


def confidence_score(answer: str) -> float:
    """The 0-10 score on the answer's ``SCORE:`` line, as a 0-1 confidence times 10."""
    match = _SCORE.search(answer)
    if match is None:
        raise ValueError(f"no SCORE in the answer: {answer[:80]!r}")
    return float(match.group(1))
