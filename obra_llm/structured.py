"""Answers that conform to a JSON Schema: checked, constrained at the source, validated, repaired, typed.

A structured call is a plain call with ``json_schema`` set. The provider's wire maps the
schema to the API's own constrained mode where it has one (its ``structured_mode`` says
which, and ``get_model_info()["details"]["structured"]`` reports it); where it has none the
schema goes into the prompt. Either way the answer is validated here with ``jsonschema-rs``
(https://github.com/Stranger6667/jsonschema, the Rust validator: every draft, the official test
suite; about 0.5 us for the quality score where the pure-Python ``jsonschema`` takes 80-100 us,
so a structured call costs less than a plain call plus the caller's own validation);
an answer that does not conform gets at most ``structured_repairs`` further attempts that
quote the validation errors, inside the call's one deadline, and then a
``StructuredAnswerError`` carrying the raw text and the errors.

``generate_as(llm, prompt, Score)`` derives the schema from an attrs class (bounds and
choices from the project's field checks) and builds the instance with the project's cattrs
converter (``between`` and ``one_of`` are re-exported for field bounds and choices).
Each distinct schema is checked and compiled once (``_Shape``: its validator and strict-mode
adaptations); ``jsonschema_rs`` is imported on the first structured call only, and a remote
``$ref`` is never fetched.
"""

from __future__ import annotations

import copy
import enum
import functools
import itertools
import json
import types
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar, Union, Unpack, get_args, get_origin

import attrs

from obra_llm.calls import CallRunner, Completion
from obra_llm.config.constraints import between, check_of, one_of
from obra_llm.errors import ConfigError, StructuredAnswerError
from obra_llm.protocol import GenerateOptions, LLMPlugin, SupportsStructured

if TYPE_CHECKING:
    from jsonschema_rs import Validator

__all__ = [
    "INSTRUCTIONS",
    "Answer",
    "between",
    "one_of",
    "Conformance",
    "StructuredMode",
    "generate_as",
    "native",
    "refuse_streamed",
    "schema_of",
    "schema_problem",
    "strict_schema",
    "structured_answer",
    "structured_call",
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
        _shape_of(value)
    except _NotJSON as error:
        return f"json_schema cannot be sent as JSON: {error}"
    except ValueError as error:  # jsonschema_rs.ValidationError (or a referencing error), imported lazily
        return f"json_schema is not a valid JSON Schema: {str(error).splitlines()[0]}"
    return None


class _NotJSON(Exception):
    """A schema that ``json.dumps`` refuses (a value that is not JSON, NaN...)."""


def _canonical(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, allow_nan=False)


class _Shape:
    """A checked schema, built once per distinct schema: its validator and its strict-mode adaptations."""

    __slots__ = ("strict", "validator")

    def __init__(self, validator: Validator) -> None:
        self.validator = validator
        #: ``strict_schema``'s answer per (provider, feature), computed once.
        self.strict: dict[tuple[str, str], dict[str, Any]] = {}

    def check(self, text: str) -> tuple[Any, list[str]]:
        """``text``'s JSON value and what is wrong with it as an answer (no errors: it conforms)."""
        try:
            value = json.loads(text)
        except ValueError as error:
            return None, [f"the answer is not JSON ({error})"]
        if self.validator.is_valid(value):
            return value, []
        errors = itertools.islice(self.validator.iter_errors(value), _MAX_ERRORS)
        return value, [f"{_json_path(error.instance_path)}: {error.message}" for error in errors]


def _json_path(path: Sequence[str | int]) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


@functools.lru_cache(maxsize=64)
def _shape(canonical: str) -> _Shape:
    """The checked validator for a schema, built once per distinct schema (remote ``$ref`` never fetched)."""
    from jsonschema_rs import validator_for

    return _Shape(validator_for(json.loads(canonical), offline=True))


#: The last schemas seen, by identity, with a copy to compare: a caller passing the same dict
#: again skips serializing it (a dict changed in place no longer equals its copy).
_RECENT: dict[int, tuple[Any, _Shape]] = {}


def _shape_of(schema: Mapping[str, Any]) -> _Shape:
    """The checked ``_Shape`` of ``schema``, found by identity first."""
    recent = _RECENT.get(id(schema))
    if recent is not None and recent[0] == schema:
        return recent[1]
    try:
        canonical = _canonical(schema)
    except (TypeError, ValueError) as error:
        raise _NotJSON(str(error)) from error
    shape = _shape(canonical)
    if len(_RECENT) >= 64:
        _RECENT.clear()
    _RECENT[id(schema)] = (json.loads(canonical), shape)
    return shape


def _violations(schema: Mapping[str, Any], text: str) -> list[str]:
    """What is wrong with ``text`` as an answer to ``schema`` (empty: it conforms)."""
    return _shape_of(schema).check(text)[1]


def strict_schema(schema: Mapping[str, Any], *, provider: str, feature: str) -> dict[str, Any]:
    """``schema`` as strict modes take it (OpenAI, Anthropic): every object closed, every property required.

    Adapted only where the meaning is kept: an object that does not say ``additionalProperties``
    gets ``false`` (a conforming answer still conforms). An optional property, an open object
    or a root that is not an object cannot be adapted faithfully, so it is refused naming it.
    The adaptation is made once per distinct schema and shared: send it, do not change it.
    """
    shape = _shape_of(schema)
    adapted = shape.strict.get((provider, feature))
    if adapted is None:
        adapted = shape.strict[provider, feature] = _strict(schema, provider, feature)
    return adapted


def _strict(schema: Mapping[str, Any], provider: str, feature: str) -> dict[str, Any]:
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
    refuse fails before anything is sent) and returns the attempt that sends it. Once an
    answer is accepted, ``value`` is its JSON value (parsed once, by the validation).
    """

    def __init__(
        self, schema: Mapping[str, Any], prompt: str, *, mode: StructuredMode, repairs: int, provider: str, ask: Callable[[str], Attempt]
    ) -> None:
        self.schema = schema
        self.value: Any = None
        self._shape = _shape_of(schema)
        self.prompt = with_instructions(prompt, schema) if mode.instructions else prompt
        self.repairs_left = repairs
        self.provider = provider
        self._ask = ask
        self.first = ask(self.prompt)

    def review(self, completion: Completion) -> Completion | Attempt:
        """The accepted answer (its JSON text unwrapped), or the attempt that repairs it; raises when out of repairs."""
        text = _unwrapped(completion.text)
        value, errors = self._shape.check(text)
        if not errors:
            self.value = value
            return completion if text is completion.text else completion._replace(text=text)
        if (completion.stop_reason or "").lower() in _CUT:
            msg = f"the structured answer was cut at the output cap (stop reason {completion.stop_reason!r}): raise max_tokens"
            raise StructuredAnswerError(msg, provider=self.provider, raw_text=completion.text, validation_errors=errors)
        if self.repairs_left <= 0:
            msg = f"the answer does not conform to the JSON Schema: {'; '.join(errors)}"
            raise StructuredAnswerError(msg, provider=self.provider, raw_text=completion.text, validation_errors=errors)
        self.repairs_left -= 1
        return self._ask(_repair_prompt(self.prompt, completion.text, errors))


class Answer(NamedTuple):
    """A structured call's accepted answer: its JSON text and its parsed value."""

    text: str
    value: Any


def structured_call(
    calls: CallRunner, schema: Mapping[str, Any], prompt: str, *, mode: StructuredMode, repairs: int, provider: str,
    timeout: float, ask: Callable[[str], Attempt],
) -> Answer:
    """One structured call through ``calls`` (retries, repairs and metrics as for any call), for every provider."""
    conformance = Conformance(schema, prompt, mode=mode, repairs=repairs, provider=provider, ask=ask)
    completion = calls.complete(conformance.first, timeout=timeout, review=conformance.review)
    return Answer(completion.text, conformance.value)


def refuse_streamed(schema: Mapping[str, Any] | None, provider: str) -> None:
    """A structured answer is validated whole, so ``generate_stream`` refuses ``json_schema``."""
    if schema is not None:
        msg = (
            f"option 'json_schema' is not supported by {provider}.generate_stream(): a structured answer is "
            "validated whole; use generate() or generate_structured()"
        )
        raise ConfigError(msg)


# -- attrs classes -----------------------------------------------------------------------------------


def schema_of(cls: type[Any]) -> dict[str, Any]:
    """The JSON Schema of an attrs class: every field required, no others; bounds and choices from field checks."""
    return copy.deepcopy(_class_schema(cls))


#: ``schema_of`` per attrs class, derived once and shared (``generate_as`` never changes one).
_CLASS_SCHEMAS: dict[type[Any], dict[str, Any]] = {}


def _class_schema(cls: type[Any]) -> dict[str, Any]:
    schema = _CLASS_SCHEMAS.get(cls)
    if schema is None:
        schema = _object_schema(cls)
        if len(_CLASS_SCHEMAS) >= 64:
            _CLASS_SCHEMAS.clear()
        _CLASS_SCHEMAS[cls] = schema
    return schema


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


def structured_answer(llm: LLMPlugin, prompt: str, schema: Mapping[str, Any], options: GenerateOptions, *, repairs: int = 1) -> Any:
    """The parsed JSON value of ``llm``'s answer conforming to ``schema``, from any ``LLMPlugin``.

    An obra_llm provider (``SupportsStructured``) constrains and validates it itself. Any other
    gets the prompt fallback: the schema in the prompt (no ``json_schema`` option: a foreign
    plugin need not know it), the answer validated here, at most ``repairs`` further attempts
    quoting the errors, then ``StructuredAnswerError``.
    """
    if isinstance(llm, SupportsStructured):
        return llm.generate_structured(prompt, schema, **options)
    plain: GenerateOptions = {**options}
    plain.pop("json_schema", None)
    conformance = Conformance(
        schema, prompt, mode=INSTRUCTIONS, repairs=repairs, provider=type(llm).__name__,
        ask=lambda text: lambda left: Completion(llm.generate(text, **plain)),
    )
    verdict: Completion | Attempt = conformance.first
    while not isinstance(verdict, Completion):
        verdict = conformance.review(verdict(0.0))
    return conformance.value


def generate_as(llm: LLMPlugin, prompt: str, cls: type[T], /, **options: Unpack[GenerateOptions]) -> T:
    """An instance of the attrs class ``cls`` answered by ``llm`` (constrained where it can be, always validated).

    Any ``LLMPlugin`` works (``structured_answer``): an obra_llm provider or chain through
    ``generate_structured``; another through the prompt fallback, its answer validated here.
    """
    from obra_llm.config.convert import converter

    return converter.structure(structured_answer(llm, prompt, _class_schema(cls), options), cls)
