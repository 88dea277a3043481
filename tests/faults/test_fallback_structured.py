"""Structured answers through a fallback chain: the same failure classes, deadline and metrics as ``generate``.

Members are real providers on their local wire servers (which answer a structured request
with JSON honouring the schema they were sent), plus a foreign plugin that knows nothing of
obra_llm: it gets the prompt fallback (the schema in the prompt, its answer validated).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Unpack

import pytest

from obra_llm.errors import RefusalError, StructuredAnswerError
from obra_llm.fallback import FallbackLLM
from obra_llm.protocol import GenerateOptions, SupportsStructured
from obra_llm.structured import generate_as
from tests.support import anthropic_wire, ollama_wire
from tests.support.chains import ChainBench, chain_bench
from tests.support.structured_answers import SCORE_SCHEMA, Score, Verdict, conforming
from tests.support.wire_server import Json


@pytest.fixture
def bench() -> Iterator[ChainBench]:
    with chain_bench() as made:
        yield made


def _overloaded() -> Any:
    return anthropic_wire.error_reply(529, "overloaded_error", "Overloaded")


def test_a_chain_is_structured_and_moves_on_from_a_failing_member(bench: ChainBench) -> None:
    bench.anthropic.queue(_overloaded(), _overloaded(), _overloaded())
    llm = bench.chain(bench.config("anthropic"), bench.config("ollama"))
    assert isinstance(llm, SupportsStructured)
    assert llm.generate_structured("Rate this change", SCORE_SCHEMA) == conforming(SCORE_SCHEMA)
    assert bench.chat_requests() == {"anthropic": 3, "openai": 0, "ollama": 1, "openai-codex": 0}
    sent = bench.ollama.chat_requests()[0]
    assert sent["format"] == SCORE_SCHEMA, "the member that answered constrained it natively"
    metrics = llm.metrics
    assert (metrics["calls"], metrics["errors"], metrics["fallbacks"]) == (1, 0, {"anthropic -> ollama": 1})
    assert [member["served"] for member in metrics["members"]] == [0, 1]
    assert llm.get_model_info()["details"]["structured"] == "native:format"


def test_generate_as_through_a_chain_gives_the_typed_score(bench: ChainBench) -> None:
    bench.anthropic.queue(_overloaded(), _overloaded(), _overloaded())
    llm = bench.chain(bench.config("anthropic"), bench.config("ollama"))
    score = generate_as(llm, "Rate this change", Score)
    assert score.verdict is Verdict.ACCEPT and 0 <= score.score <= 10


def test_a_non_conforming_member_is_raised_unless_bad_response_moves_on(bench: ChainBench) -> None:
    wrong = json.dumps({"score": 11, "verdict": "great", "reasons": []})
    bench.ollama.queue(ollama_wire.Answer(pieces=[wrong]), ollama_wire.Answer(pieces=[wrong]))
    llm = bench.chain(bench.config("ollama"), bench.config("anthropic"))
    with pytest.raises(StructuredAnswerError, match="greater than the maximum of 10"):
        llm.generate_structured("Rate this change", SCORE_SCHEMA)
    assert bench.chat_requests()["anthropic"] == 0, "bad_response does not move on by default"

    bench.ollama.queue(ollama_wire.Answer(pieces=[wrong]), ollama_wire.Answer(pieces=[wrong]))
    moving = bench.chain(bench.config("ollama"), bench.config("anthropic"), fallback_on={"bad_response": True})
    assert moving.generate_structured("Rate this change", SCORE_SCHEMA) == conforming(SCORE_SCHEMA)
    assert bench.chat_requests()["ollama"] == 4, "each ollama call made its one repair"
    assert moving.metrics["structured_repairs"] == 1
    assert moving.metrics["fallbacks"] == {"ollama -> anthropic": 1}


def test_a_refusal_is_raised_by_the_chain_not_moved_on_by_default(bench: ChainBench) -> None:
    refusal = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
               "stop_reason": "refusal", "usage": {"input_tokens": 9, "output_tokens": 0}}
    bench.anthropic.queue(Json(200, refusal))
    llm = bench.chain(bench.config("anthropic"), bench.config("ollama"))
    with pytest.raises(RefusalError):
        llm.generate_structured("Rate this change", SCORE_SCHEMA)
    assert bench.chat_requests()["ollama"] == 0


class _Foreign:
    """A plugin that knows nothing of obra_llm: no ``generate_structured``, no ``json_schema`` option."""

    prompts: list[str] = []

    def initialize(self, config: dict[str, Any], /) -> None: ...

    def generate(self, prompt: str, /, **kwargs: Unpack[GenerateOptions]) -> str:
        if "json_schema" in kwargs:
            raise TypeError("unexpected keyword argument 'json_schema'")
        _Foreign.prompts.append(prompt)
        return "```json\n" + json.dumps(conforming(SCORE_SCHEMA)) + "\n```"

    def generate_stream(self, prompt: str, /, **kwargs: Unpack[GenerateOptions]) -> Iterator[str]:
        yield self.generate(prompt, **kwargs)

    def estimate_tokens(self, text: str, /) -> int:
        return len(text) // 4

    def is_available(self) -> bool:
        return True

    def get_model_info(self) -> Mapping[str, Any]:
        return {"provider": "foreign", "model_name": "m", "type": "http", "execution_mode": "http", "context_length": None}

    @property
    def metrics(self) -> Mapping[str, Any]:
        return {}


def test_a_foreign_member_gets_the_prompt_fallback(bench: ChainBench) -> None:
    _Foreign.prompts = []
    bench.anthropic.queue(_overloaded(), _overloaded(), _overloaded())
    registry = {**bench.registry(), "foreign": _Foreign}
    llm = FallbackLLM.over(registry)(clock=bench.clock)
    llm.initialize({"type": "fallback", "members": [bench.config("anthropic"), {"type": "foreign"}]})
    try:
        assert llm.generate_structured("Rate this change", SCORE_SCHEMA) == conforming(SCORE_SCHEMA)
        assert llm.get_model_info()["details"]["structured"] == "instructions"
    finally:
        llm.close()
    assert len(_Foreign.prompts) == 1 and "conforms to this JSON Schema" in _Foreign.prompts[0]
