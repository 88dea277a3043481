"""What the local wire servers answer to a structured request: JSON that honours the schema they were sent.

A real server constrains decoding to the schema in its native field (``format``,
``response_format``, ``generationConfig.responseJsonSchema``...). The wire servers stand in
for it: ``conforming(schema)`` builds a deterministic value that the schema accepts, so
what they answer depends on the schema they were sent, never on the test.
``strict_problem`` checks a schema as OpenAI's strict mode would.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from obra_llm.structured import between

__all__ = ["ANSWER_TEXT", "SCORE_SCHEMA", "Score", "Verdict", "conforming", "conforming_text", "schema_in_prompt", "strict_problem"]

#: The text the wire servers put in a string field.
ANSWER_TEXT = "The change validates the port range and keeps the happy path."
class Verdict(enum.Enum):
    ACCEPT = "accept"
    REVISE = "revise"
    REJECT = "reject"


@attrs.frozen
class Score:
    """A reviewer's quality score for an agent's change."""

    score: int = attrs.field(metadata=between(0, 10))
    verdict: Verdict
    reasons: list[str]


#: The quality score's schema as ``schema_of`` derives it from docs/structured.md's ``Score``.
SCORE_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "verdict": {"enum": ["accept", "revise", "reject"]},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["score", "verdict", "reasons"],
    "additionalProperties": False,
}
#: Where obra_llm's instructions put the schema in a prompt (``obra_llm.structured.with_instructions``).
_MARKER = "conforms to this JSON Schema:\n"


def conforming(schema: Mapping[str, Any]) -> Any:
    """A value ``schema`` accepts: its first choice, a mid-range number, every property filled."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return conforming(schema[combinator][0])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        return {name: conforming(part) for name, part in schema.get("properties", {}).items()}
    if kind == "array":
        return [conforming(schema.get("items", {})) for _ in range(max(1, int(schema.get("minItems", 1))))]
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", 0), schema.get("maximum", 10)
        value = max(low, min(high, 8))
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return ANSWER_TEXT


def conforming_text(schema: Mapping[str, Any]) -> str:
    """``conforming(schema)`` as the JSON text a model would send."""
    return json.dumps(conforming(schema))


def schema_in_prompt(messages: Sequence[Any] | str) -> Mapping[str, Any] | None:
    """The schema obra_llm's instructions put in the last user message (JSON mode servers read it there)."""
    text = messages if isinstance(messages, str) else _last_text(messages)
    if _MARKER not in text:
        return None
    found: Mapping[str, Any] = json.loads(text.rsplit(_MARKER, 1)[1].splitlines()[0])
    return found


def _last_text(messages: Sequence[Any]) -> str:
    last = messages[-1] if messages else {}
    content = last.get("content") if isinstance(last, dict) else None
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def strict_problem(node: Any, path: str = "$") -> str | None:
    """Why OpenAI's strict mode would refuse ``node`` (an open object, an optional property), or ``None``."""
    if isinstance(node, list):
        return next((found for index, item in enumerate(node) if (found := strict_problem(item, f"{path}[{index}]"))), None)
    if not isinstance(node, Mapping):
        return None
    if node.get("type") == "object" or "properties" in node:
        if node.get("additionalProperties") is not False:
            return f"In context=('{path}'), 'additionalProperties' is required to be supplied and to be false."
        missing = sorted(set(node.get("properties", {})) - set(node.get("required", ())))
        if missing:
            return f"In context=('{path}'), 'required' is required to include every key in properties. Missing '{missing[0]}'."
    return next((found for key, value in node.items() if (found := strict_problem(value, f"{path}.{key}"))), None)
