"""Answers that conform to a JSON Schema: checked, constrained at the source, validated, repaired, typed.

A structured call is a plain call with ``json_schema`` set. The provider's wire maps the
schema to the API's own constrained mode where it has one (its ``structured_mode`` says
which, and ``get_model_info()["details"]["structured"]`` reports it); where it has none the
schema goes into the prompt. Either way the answer is validated here with ``jsonschema``;
an answer that does not conform gets at most ``structured_repairs`` further attempts that
quote the validation errors, inside the call's one deadline, and then a
``StructuredAnswerError`` carrying the raw text and the errors.

``generate_as(llm, prompt, Score)`` derives the schema from an attrs class (bounds and
choices from the project's field checks) and builds the instance with the project's cattrs
converter (``between`` and ``one_of`` are re-exported for field bounds and choices).
``jsonschema`` is imported on the first structured call only.
"""

from __future__ import annotations

import enum
import functools
import json
import types
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, Unpack, get_args, get_origin

import attrs

from obra_llm.calls import Completion
from obra_llm.config.constraints import between, check_of, one_of
from obra_llm.errors import ConfigError, StructuredAnswerError
from obra_llm.protocol import GenerateOptions, LLMPlugin, SupportsStructured

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "INSTRUCTIONS",
    "between",
    "one_of",
    "Conformance",
    "StructuredMode",
    "generate_as",
    "native",
    "parsed_answer",
    "refuse_streamed",
    "schema_of",
    "schema_problem",
    "strict_schema",
]

T = TypeVar("T")
#: A function that makes one attempt (given the seconds left) at an answer to a prompt.
Attempt = Callable[[float], Completion]
#: Stop reasons that mean the answer was cut at the output cap (OpenAI, Anthropic, Gemini, Cohere, Ollama).
_CUT = frozenset({"length", "max_tokens"})
#: The most validation errors quoted in a repair prompt or an exception.
_MAX_ERRORS = 8


@attrs.frozen
class StructuredMode:
    """How a provider constrains a structured answer: ``name`` for model info, and whether the prompt carries the schema."""

    name: str
    instructions: bool = False


def native(feature: str, *, instructions: bool = False) -> StructuredMode:
    """The API constrains decoding itself through ``feature`` (``format``, ``response_format.json_schema``...)."""
    return StructuredMode(f"native:{feature}", instructions)


#: No constrained mode: the schema goes into the prompt and the answer is validated.
INSTRUCTIONS = StructuredMode("instructions", instructions=True)


# -- the schema ------------------------------------------------------------------------------------


def schema_problem(value: Any) -> str | None:
    """Why ``value`` is not a usable JSON Schema for ``json_schema=``, or ``None`` when it is."""
    if not isinstance(value, Mapping):
        return f"json_schema must be a JSON Schema object (a dict), not {type(value).__name__}"
    try:
        _validator(value)
    except (TypeError, ValueError) as error:
        return f"json_schema cannot be sent as JSON: {error}"
    except Exception as error:  # jsonschema.SchemaError, imported lazily
        return f"json_schema is not a valid JSON Schema: {getattr(error, 'message', error)}"
    return None


def _canonical(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, allow_nan=False)


@functools.lru_cache(maxsize=64)
def _shape(canonical: str) -> Validator:
    """The checked validator for a schema, built once per distinct schema."""
    from jsonschema.validators import validator_for

    schema = json.loads(canonical)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


#: The last schemas seen, by identity, with a copy to compare: a caller passing the same dict
#: again skips serializing it (a dict changed in place no longer equals its copy).
_RECENT: dict[int, tuple[Any, Validator]] = {}


def _validator(schema: Mapping[str, Any]) -> Validator:
    """The checked validator for ``schema`` (``_shape``), found by identity first."""
    recent = _RECENT.get(id(schema))
    if recent is not None and recent[0] == schema:
        return recent[1]
    canonical = _canonical(schema)
    validator = _shape(canonical)
    if len(_RECENT) >= 64:
        _RECENT.clear()
    _RECENT[id(schema)] = (json.loads(canonical), validator)
    return validator


def _violations(schema: Mapping[str, Any], text: str) -> list[str]:
    """What is wrong with ``text`` as an answer to ``schema`` (empty: it conforms)."""
    try:
        value = json.loads(text)
    except ValueError as error:
        return [f"the answer is not JSON ({error})"]
    validator = _validator(schema)
    if validator.is_valid(value):
        return []
    errors = sorted(validator.iter_errors(value), key=lambda error: list(error.path))
    return [f"{error.json_path}: {error.message}" for error in errors[:_MAX_ERRORS]]


def strict_schema(schema: Mapping[str, Any], *, provider: str, feature: str) -> dict[str, Any]:
    """``schema`` as strict modes take it (OpenAI, Anthropic): every object closed, every property required.

    Adapted only where the meaning is kept: an object that does not say ``additionalProperties``
    gets ``false`` (a conforming answer still conforms). An optional property, an open object
    or a root that is not an object cannot be adapted faithfully, so it is refused naming it.
    """
    if schema.get("type") != "object":
        msg = f"{provider}'s {feature} needs a schema whose root is an object (type: object), not {schema.get('type')!r}"
        raise ConfigError(msg, problems=[f"{msg} @ json_schema"])
    adapted: dict[str, Any] = _closed(schema, "$", provider, feature)
    return adapted


def _closed(node: Any, path: str, provider: str, feature: str) -> Any:
    if isinstance(node, list):
        return [_closed(item, f"{path}[{index}]", provider, feature) for index, item in enumerate(node)]
    if not isinstance(node, Mapping):
        return node
    adapted = {key: _closed(value, f"{path}.{key}", provider, feature) for key, value in node.items()}
    if node.get("type") == "object" or "properties" in node:
        extra = node.get("additionalProperties", False)
        if extra is not False:
            msg = f"{provider}'s {feature} needs closed objects: additionalProperties={extra!r} at {path} cannot be sent"
            raise ConfigError(msg, problems=[f"{msg} @ json_schema"])
        optional = sorted(set(node.get("properties", {})) - set(node.get("required", ())))
        if optional:
            msg = (
                f"{provider}'s {feature} needs every property required: {optional} at {path} are optional "
                "(make them required, with a null type where they may be absent)"
            )
            raise ConfigError(msg, problems=[f"{msg} @ json_schema"])
        adapted["additionalProperties"] = False
    return adapted


# -- the prompt ------------------------------------------------------------------------------------


def with_instructions(prompt: str, schema: Mapping[str, Any]) -> str:
    """``prompt`` followed by the schema, for providers whose API cannot constrain the answer."""
    return (
        f"{prompt}\n\nAnswer with only a JSON value (no prose, no code fence) that conforms to this JSON Schema:\n"
        f"{json.dumps(schema, sort_keys=True)}"
    )


def _repair_prompt(prompt: str, answer: str, errors: Sequence[str]) -> str:
    listed = "\n".join(f"- {error}" for error in errors)
    return (
        f"{prompt}\n\nYour previous answer was:\n{answer}\n\nIt does not conform to the required JSON Schema:\n{listed}\n"
        "Answer again with only the corrected JSON."
    )


def _unwrapped(text: str) -> str:
    """The JSON inside an answer: surrounding blanks and a Markdown code fence removed."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and "\n" in stripped:
        return stripped[stripped.index("\n") + 1 : -3].strip()
    return stripped


# -- one structured call ---------------------------------------------------------------------------


class Conformance:
    """One structured call: the first attempt, and what each answer leads to (accept, repair, fail).

    ``ask(prompt)`` builds the request for ``prompt`` at once (so a schema the provider must
    refuse fails before anything is sent) and returns the attempt that sends it.
    """

    def __init__(
        self, schema: Mapping[str, Any], prompt: str, *, mode: StructuredMode, repairs: int, provider: str, ask: Callable[[str], Attempt]
    ) -> None:
        self.schema = schema
        self.prompt = with_instructions(prompt, schema) if mode.instructions else prompt
        self.repairs_left = repairs
        self.provider = provider
        self._ask = ask
        self.first = ask(self.prompt)

    def review(self, completion: Completion) -> Completion | Attempt:
        """The accepted answer (its JSON text unwrapped), or the attempt that repairs it; raises when out of repairs."""
        text = _unwrapped(completion.text)
        errors = _violations(self.schema, text)
        if not errors:
            return completion._replace(text=text)
        if (completion.stop_reason or "").lower() in _CUT:
            msg = f"the structured answer was cut at the output cap (stop reason {completion.stop_reason!r}): raise max_tokens"
            raise StructuredAnswerError(msg, provider=self.provider, raw_text=completion.text, validation_errors=errors)
        if self.repairs_left <= 0:
            msg = f"the answer does not conform to the JSON Schema: {'; '.join(errors)}"
            raise StructuredAnswerError(msg, provider=self.provider, raw_text=completion.text, validation_errors=errors)
        self.repairs_left -= 1
        return self._ask(_repair_prompt(self.prompt, completion.text, errors))


def refuse_streamed(schema: Mapping[str, Any] | None, provider: str) -> None:
    """A structured answer is validated whole, so ``generate_stream`` refuses ``json_schema``."""
    if schema is not None:
        msg = (
            f"option 'json_schema' is not supported by {provider}.generate_stream(): a structured answer is "
            "validated whole; use generate() or generate_structured()"
        )
        raise ConfigError(msg)


def parsed_answer(text: str) -> Any:
    """The JSON value of a validated structured answer (``generate(json_schema=...)``'s text)."""
    return json.loads(text)


# -- attrs classes -----------------------------------------------------------------------------------


def schema_of(cls: type[Any]) -> dict[str, Any]:
    """The JSON Schema of an attrs class: every field required, no others; bounds and choices from field checks."""
    return _object_schema(cls)


def _object_schema(cls: type[Any]) -> dict[str, Any]:
    fields = attrs.fields(attrs.resolve_types(cls))
    properties = {field.name: _field_schema(field) for field in fields}
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
        schema["description"] = cls.__doc__.strip().splitlines()[0]
    return schema


def _field_schema(field: attrs.Attribute[Any]) -> dict[str, Any]:
    schema = _type_schema(field.type, field.name)
    check = check_of(field)
    if check is not None:
        if check.choices is not None:
            schema["enum"] = list(check.choices)
        if check.low is not None:
            schema["minimum" if check.low_inclusive else "exclusiveMinimum"] = check.low
        if check.high is not None:
            schema["maximum"] = check.high
    return schema


def _type_schema(kind: Any, name: str) -> dict[str, Any]:
    scalar = {bool: "boolean", int: "integer", float: "number", str: "string"}
    origin = get_origin(kind)
    if kind in scalar:
        return {"type": scalar[kind]}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"enum": [member.value for member in kind]}
    if isinstance(kind, type) and attrs.has(kind):
        return _object_schema(kind)
    if origin is Literal:
        return {"enum": list(get_args(kind))}
    if origin in (list, tuple, Sequence) and get_args(kind)[:1]:
        return {"type": "array", "items": _type_schema(get_args(kind)[0], name)}
    if origin in (Union, types.UnionType):
        return {"anyOf": [{"type": "null"} if arg is type(None) else _type_schema(arg, name) for arg in get_args(kind)]}
    msg = f"field {name!r} has type {kind!r}, which generate_as cannot describe in JSON Schema"
    raise ConfigError(msg)


def generate_as(llm: LLMPlugin, prompt: str, cls: type[T], /, **options: Unpack[GenerateOptions]) -> T:
    """An instance of the attrs class ``cls`` answered by ``llm`` (constrained where it can be, always validated).

    Any ``LLMPlugin`` works: an obra_llm provider through ``generate_structured``; another
    through ``generate(json_schema=...)``, its answer validated here all the same.
    """
    from obra_llm.config.convert import converter

    schema = schema_of(cls)
    if isinstance(llm, SupportsStructured):
        value = llm.generate_structured(prompt, schema, **options)
    else:
        structured: GenerateOptions = {**options, "json_schema": schema}
        text = _unwrapped(llm.generate(prompt, **structured))
        errors = _violations(schema, text)
        if errors:
            msg = f"the answer does not conform to the JSON Schema of {cls.__name__}: {'; '.join(errors)}"
            raise StructuredAnswerError(msg, raw_text=text, validation_errors=errors)
        value = parsed_answer(text)
    return converter.structure(value, cls)
