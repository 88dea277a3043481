"""obra_llm.structured without any provider: schemas from attrs classes, strict adaptation, review, foreign plugins."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal, Unpack

import attrs
import pytest

from obra_llm import ConfigError, GenerateOptions, LLMTimeoutException
from obra_llm.calls import CallRunner, Completion
from obra_llm.config.constraints import MAX_COUNT, between, greater_than, one_of
from obra_llm.errors import StructuredAnswerError
from obra_llm.retry import RetryPolicy
from obra_llm.structured import INSTRUCTIONS, Conformance, generate_as, native, schema_of, schema_problem, strict_schema
from tests.support.fakes import FakeClock


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


@attrs.frozen
class Finding:
    where: str
    level: Level


@attrs.frozen
class Review:
    score: int = attrs.field(metadata=between(0, 10))
    confidence: float = attrs.field(metadata=greater_than(0))
    kind: str = attrs.field(metadata=one_of(["bug", "style"]))
    mood: Literal["calm", "alarmed"]
    findings: list[Finding]
    note: str | None
    done: bool


def test_schema_of_an_attrs_class() -> None:
    finding = {
        "type": "object",
        "properties": {"where": {"type": "string"}, "level": {"enum": ["low", "high"]}},
        "required": ["where", "level"],
        "additionalProperties": False,
    }
    assert schema_of(Review) == {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 0, "maximum": 10},
            "confidence": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_COUNT},
            "kind": {"type": "string", "enum": ["bug", "style"]},
            "mood": {"enum": ["calm", "alarmed"]},
            "findings": {"type": "array", "items": finding},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "done": {"type": "boolean"},
        },
        "required": ["score", "confidence", "kind", "mood", "findings", "note", "done"],
        "additionalProperties": False,
    }
    assert schema_problem(schema_of(Review)) is None


def test_schema_of_gives_each_caller_its_own_copy() -> None:
    first = schema_of(Review)
    first["properties"]["score"]["maximum"] = 99
    first["required"].clear()
    assert schema_of(Review)["properties"]["score"]["maximum"] == 10
    assert schema_of(Review)["required"][0] == "score"


def test_a_remote_ref_is_never_fetched() -> None:
    problem = schema_problem({"$ref": "http://127.0.0.1:9/score.json"})
    assert problem is not None and problem.startswith("json_schema is not a valid JSON Schema:")
    assert "Retrieval is disabled" in problem


def test_a_schema_json_cannot_carry_is_named() -> None:
    problem = schema_problem({"type": "number", "maximum": float("nan")})
    assert problem is not None and problem.startswith("json_schema cannot be sent as JSON: Out of range float values")


def test_a_schema_changed_in_place_is_checked_again() -> None:
    schema: dict[str, Any] = {"type": "object"}
    assert schema_problem(schema) is None
    schema["type"] = "objet"
    assert schema_problem(schema) is not None


def test_a_field_type_without_a_schema_is_named() -> None:
    @attrs.frozen
    class Odd:
        when: complex

    with pytest.raises(ConfigError, match="field 'when' has type .*complex"):
        schema_of(Odd)


def test_strict_schema_closes_nested_objects_and_keeps_the_rest() -> None:
    schema = {"type": "object", "properties": {"inner": {"type": "object", "properties": {}, "required": []}}, "required": ["inner"]}
    assert strict_schema(schema, provider="openai", feature="strict") == {
        "type": "object",
        "properties": {"inner": {"type": "object", "properties": {}, "required": [], "additionalProperties": False}},
        "required": ["inner"],
        "additionalProperties": False,
    }
    with pytest.raises(ConfigError, match="root is an object"):
        strict_schema({"type": "array"}, provider="openai", feature="strict")


class _Foreign:
    """An LLMPlugin-shaped class that knows nothing of obra_llm but passes options through."""

    def __init__(self, answer: str, *first: str) -> None:
        self.answer = answer
        self.answers = list(first)
        self.options: list[Mapping[str, Any]] = []
        self.prompts: list[str] = []

    def initialize(self, config: dict[str, Any], /) -> None: ...

    def generate(self, prompt: str, /, **kwargs: Unpack[GenerateOptions]) -> str:
        self.options.append(kwargs)
        self.prompts.append(prompt)
        return self.answers.pop(0) if self.answers else self.answer

    def generate_stream(self, prompt: str, /, **kwargs: Unpack[GenerateOptions]) -> Iterator[str]:
        yield self.answer

    def estimate_tokens(self, text: str, /) -> int:
        return 1

    def is_available(self) -> bool:
        return True

    def get_model_info(self) -> Mapping[str, Any]:
        return {}

    @property
    def metrics(self) -> Mapping[str, Any]:
        return {}


def test_generate_as_validates_a_foreign_plugins_answer() -> None:
    answer = {"score": 3, "confidence": 0.5, "kind": "bug", "mood": "calm", "findings": [{"where": "a.py", "level": "high"}], "note": None, "done": False}
    plugin = _Foreign("```json\n" + json.dumps(answer) + "\n```")
    review = generate_as(plugin, "Review it.", Review, temperature=0)
    assert review == Review(3, 0.5, "bug", "calm", [Finding("a.py", Level.HIGH)], None, False)
    assert plugin.options == [{"temperature": 0}], "a foreign plugin is not sent an option it may not know"
    assert plugin.prompts[0].startswith("Review it.\n\nAnswer with only a JSON value") and '"exclusiveMinimum": 0' in plugin.prompts[0]
    wrong = _Foreign(json.dumps({**answer, "score": 30}))
    with pytest.raises(StructuredAnswerError, match=r"\$.score: 30 is greater than the maximum of 10") as caught:
        generate_as(wrong, "Review it.", Review)
    assert caught.value.raw_text == json.dumps({**answer, "score": 30})
    assert len(wrong.prompts) == 2 and "$.score: 30 is greater than the maximum of 10" in wrong.prompts[1], "one repair"
    repaired = _Foreign(json.dumps(answer), "not json")
    assert generate_as(repaired, "Review it.", Review).score == 3 and len(repaired.prompts) == 2


def test_instructions_mode_puts_the_schema_in_the_prompt() -> None:
    asked: list[str] = []

    def ask(prompt: str) -> Any:
        asked.append(prompt)
        return lambda left: Completion("{}")

    Conformance({"type": "object"}, "Rate it.", mode=INSTRUCTIONS, repairs=0, provider="x", ask=ask)
    Conformance({"type": "object"}, "Rate it.", mode=native("format"), repairs=0, provider="x", ask=ask)
    assert asked[0].startswith("Rate it.\n\nAnswer with only a JSON value") and '{"type": "object"}' in asked[0]
    assert asked[1] == "Rate it."


def test_a_repair_runs_inside_the_same_deadline() -> None:
    clock = FakeClock()
    runner = CallRunner(RetryPolicy(deadline=10.0), clock=clock, sleep=clock.sleep)

    def slow(left: float) -> Completion:
        clock.advance(10.5)
        return Completion("not json")

    conformance = Conformance({"type": "object"}, "p", mode=native("format"), repairs=1, provider="x", ask=lambda _: slow)
    with pytest.raises(LLMTimeoutException, match="used up before the structured answer's repair"):
        runner.complete(conformance.first, timeout=1.0, review=conformance.review)
    snapshot = runner.metrics.snapshot()
    assert (snapshot["calls"], snapshot["timeouts"], snapshot["structured_repairs"]) == (1, 1, 1)
