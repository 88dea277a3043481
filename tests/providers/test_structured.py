"""Structured answers from every HTTP provider, replayed from cassettes/http/<provider>/test_score_*.yaml.

The orchestrator's quality check asked for a typed ``Score``: each provider sends the schema
in its API's constrained mode (the recorded request shows it; replay matches the body, so a
provider that stopped sending it fails here), and the answer comes back validated and typed.
The repair and failure paths run against the local Ollama and OpenAI wire servers.
Re-record as for the contract suite (``--record-mode=all``, tests/providers/test_http_contract.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from obra_llm import ConfigError, LLMResponseException
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT
from obra_llm.errors import RefusalError, StructuredAnswerError
from obra_llm.protocol import SupportsStructured
from obra_llm.structured import generate_as, schema_of
from tests.support import ollama_wire, openai_wire
from tests.support.fakes import FakeClock
from tests.support.http_cases import Maker, ProviderSpec
from tests.support.http_replay import HTTP_CASSETTES
from tests.support.http_specs import ANTHROPIC, GEMINI, HTTP_SPECS, OLLAMA, OPENAI
from tests.support.structured_answers import SCORE_SCHEMA, Score, Verdict
from tests.support.wire_server import Json, Sse, WireServer, sse_event

SCHEMA = schema_of(Score)
assert SCHEMA == SCORE_SCHEMA | {"description": "A reviewer's quality score for an agent's change."}
REVIEWER = "You review an agent's code changes."

#: Where each API's constrained mode puts the schema in the request body (the recorded request shows it).
NATIVE_FIELD: dict[str, tuple[str, ...]] = {
    "ollama": ("format",),
    "anthropic": ("output_config", "format", "schema"),
    "gemini": ("generationConfig", "responseJsonSchema"),
    "cohere": ("response_format", "json_schema"),
    "openai": ("response_format", "json_schema", "schema"),
    "mistral": ("response_format", "json_schema", "schema"),
    "groq": ("response_format", "json_schema", "schema"),
    "openrouter": ("response_format", "json_schema", "schema"),
    "together": ("response_format", "json_schema", "schema"),
    "xai": ("response_format", "json_schema", "schema"),
    "vllm": ("response_format", "json_schema", "schema"),
    "lmstudio": ("response_format", "json_schema", "schema"),
    "llamacpp": ("response_format", "schema"),
    "deepseek": ("response_format", "type"),
}
STRUCTURED_SPECS = list(HTTP_SPECS)


def test_every_http_provider_has_a_native_field() -> None:
    assert sorted(NATIVE_FIELD) == sorted(spec.provider for spec in HTTP_SPECS)


@pytest.fixture(params=STRUCTURED_SPECS, ids=[spec.provider for spec in STRUCTURED_SPECS])
def spec(request: pytest.FixtureRequest) -> ProviderSpec:
    chosen: ProviderSpec = request.param
    return chosen


def test_score_is_typed_and_valid(spec: ProviderSpec, make: Maker) -> None:
    llm = make()
    assert isinstance(llm, SupportsStructured)
    score = generate_as(llm, QUALITY_CHECK_PROMPT, Score, system=REVIEWER)
    assert type(score) is Score
    assert score.verdict in set(Verdict)
    assert 0 <= score.score <= 10 and score.reasons and all(isinstance(reason, str) for reason in score.reasons)
    metrics = llm.metrics
    assert metrics["calls"] == 1 and metrics["errors"] == 0 and metrics["structured_repairs"] == 0
    assert metrics["prompt_tokens"] > 0 and metrics["completion_tokens"] > 0


def test_recorded_request_uses_the_native_mode(spec: ProviderSpec) -> None:
    recorded = yaml.safe_load((HTTP_CASSETTES / spec.provider / "test_score_is_typed_and_valid.yaml").read_text())
    body: Any = json.loads(recorded["interactions"][0]["request"]["body"])
    for key in NATIVE_FIELD[spec.provider]:
        body = body[key]
    if spec.provider == "deepseek":  # JSON mode only: the schema travels in the prompt
        assert body == "json_object"
    else:
        assert body["properties"].keys() == SCHEMA["properties"].keys()
    assert spec.llm.wire.structured_mode.name.startswith("native:")


# -- repair and failure, on the Ollama wire server ---------------------------------------------------


@pytest.fixture
def ollama() -> Iterator[ollama_wire.OllamaWireServer]:
    with ollama_wire.OllamaWireServer() as server:
        yield server


@pytest.fixture
def make_ollama(ollama: ollama_wire.OllamaWireServer) -> Iterator[Callable[..., Any]]:
    """Ollama providers on the wire server, with a fake clock; closed after the test."""
    made: list[Any] = []

    def make(**config: Any) -> Any:
        clock = FakeClock()
        llm = OLLAMA.llm(clock=clock, sleep=clock.sleep, environ={})
        llm.initialize({"type": "ollama", "base_url": ollama.url, "model": OLLAMA.model, **config})
        made.append(llm)
        return llm

    yield make
    for llm in made:
        llm.close()


def test_invalid_json_is_repaired_with_the_error(ollama: ollama_wire.OllamaWireServer, make_ollama: Callable[..., Any]) -> None:
    good = json.dumps({"score": 7, "verdict": "revise", "reasons": ["no test for the empty port"]})
    ollama.queue(ollama_wire.Answer(pieces=['{"score": 7, "verdict": '], prompt_tokens=50, completion_tokens=5))
    ollama.queue(ollama_wire.Answer(pieces=[good], prompt_tokens=80, completion_tokens=20))
    llm = make_ollama()
    assert generate_as(llm, "Rate this change.", Score) == Score(7, Verdict.REVISE, ["no test for the empty port"])
    first, repair = ollama.chat_requests()
    assert first["format"] == SCHEMA and repair["format"] == SCHEMA
    assert "the answer is not JSON" in repair["messages"][-1]["content"]
    metrics = llm.metrics
    assert (metrics["calls"], metrics["structured_repairs"], metrics["errors"]) == (1, 1, 0)
    assert (metrics["prompt_tokens"], metrics["completion_tokens"]) == (130, 25), "both attempts' tokens count"


def test_schema_violation_is_repaired(ollama: ollama_wire.OllamaWireServer, make_ollama: Callable[..., Any]) -> None:
    ollama.queue(ollama_wire.Answer(pieces=[json.dumps({"score": 11, "verdict": "great", "reasons": []})]))
    ollama.queue(ollama_wire.Answer(pieces=[json.dumps({"score": 9, "verdict": "accept", "reasons": ["clean"]})]))
    llm = make_ollama()
    assert llm.generate("Rate it.", json_schema=SCHEMA) == '{"score": 9, "verdict": "accept", "reasons": ["clean"]}'
    repair = ollama.chat_requests()[1]["messages"][-1]["content"]
    assert "$.score: 11 is greater than the maximum of 10" in repair
    assert '$.verdict: "great" is not one of "accept", "revise" or "reject"' in repair
    assert llm.metrics["structured_repairs"] == 1


def test_repairs_exhausted_raise_with_the_raw_text(ollama: ollama_wire.OllamaWireServer, make_ollama: Callable[..., Any]) -> None:
    wrong = json.dumps({"score": -1, "verdict": "accept", "reasons": ["x"]})
    ollama.queue(ollama_wire.Answer(pieces=[wrong]), ollama_wire.Answer(pieces=[wrong]), ollama_wire.Answer(pieces=[wrong]))
    llm = make_ollama(structured_repairs=2)
    with pytest.raises(StructuredAnswerError) as caught:
        llm.generate_structured("Rate it.", SCHEMA)
    error = caught.value
    assert issubclass(type(error), LLMResponseException)
    assert error.provider == "ollama" and error.retryable is False
    assert error.raw_text == wrong
    assert error.validation_errors == ("$.score: -1 is less than the minimum of 0",)
    assert len(ollama.chat_requests()) == 3
    assert (llm.metrics["calls"], llm.metrics["errors"], llm.metrics["structured_repairs"]) == (1, 1, 2)


def test_no_repairs_configured_fails_at_once(ollama: ollama_wire.OllamaWireServer, make_ollama: Callable[..., Any]) -> None:
    ollama.queue(ollama_wire.Answer(pieces=["not json"]))
    with pytest.raises(StructuredAnswerError, match="not JSON"):
        make_ollama(structured_repairs=0).generate_structured("Rate it.", SCHEMA)
    assert len(ollama.chat_requests()) == 1


def test_answer_cut_at_max_tokens_is_not_repaired(ollama: ollama_wire.OllamaWireServer, make_ollama: Callable[..., Any]) -> None:
    ollama.queue(ollama_wire.Answer(pieces=['{"score": 8, "verdict": "acc'], done_reason="length"))
    with pytest.raises(StructuredAnswerError, match="cut at the output cap .*'length'.*raise max_tokens") as caught:
        make_ollama().generate_structured("Rate it.", SCHEMA, max_tokens=8)
    assert caught.value.raw_text == '{"score": 8, "verdict": "acc'
    assert len(ollama.chat_requests()) == 1, "the same cap would cut a repair too"


def test_stream_refuses_a_schema(ollama: ollama_wire.OllamaWireServer, make_ollama: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match="'json_schema' is not supported by ollama.generate_stream"):
        make_ollama().generate_stream("Rate it.", json_schema=SCHEMA)
    assert ollama.chat_requests() == []


def test_a_bad_schema_is_refused_before_sending(ollama: ollama_wire.OllamaWireServer, make_ollama: Callable[..., Any]) -> None:
    llm = make_ollama()
    with pytest.raises(ConfigError, match='json_schema is not a valid JSON Schema: "strin" is not valid'):
        llm.generate("Rate it.", json_schema={"type": "strin"})
    with pytest.raises(ConfigError, match="json_schema must be a JSON Schema object"):
        llm.generate("Rate it.", json_schema="score")
    assert ollama.chat_requests() == [] and llm.metrics["calls"] == 0


# -- OpenAI strict mode: adapted faithfully or refused ---------------------------------------------


def test_openai_strict_closes_objects_and_refuses_optional_keys() -> None:
    with openai_wire.OpenAIWireServer() as server:
        llm = OPENAI.llm(environ={})
        llm.initialize({"type": "openai", "base_url": server.url, "api_key": OPENAI.dummy_key})
        open_schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
        assert llm.generate_structured("Rate it.", open_schema) == {"score": 8}
        with pytest.raises(ConfigError, match=r"every property required: \['why'\] at \$ are optional"):
            llm.generate("Rate it.", json_schema={**open_schema, "properties": {"score": {"type": "integer"}, "why": {"type": "string"}}})
        with pytest.raises(ConfigError, match="additionalProperties=True at \\$ cannot be sent"):
            llm.generate("Rate it.", json_schema={**open_schema, "additionalProperties": True})
        sent = [request.body for request in server.requests_to("/v1/chat/completions")]
        llm.close()
    assert len(sent) == 1, "refused schemas are never sent"
    assert sent[0]["response_format"]["json_schema"] == {
        "name": "answer", "strict": True, "schema": {**open_schema, "additionalProperties": False},
    }


_ANTHROPIC_MESSAGE = {
    "id": "msg_refusal", "type": "message", "role": "assistant", "model": ANTHROPIC.model,
    "content": [{"type": "text", "text": '{"score": 3, "verd'}],
    "stop_reason": "refusal",
    "stop_details": {"type": "refusal", "category": "cyber", "explanation": "This request was declined."},
    "usage": {"input_tokens": 90, "output_tokens": 6},
}
_GEMINI_USAGE = {"promptTokenCount": 90, "candidatesTokenCount": 6, "totalTokenCount": 96}
#: One refused (or filtered) whole answer per API, the path it answers, and what the RefusalError says.
REFUSALS = {
    "openai": (
        OPENAI, "/v1/chat/completions", {
            "id": "chatcmpl-refusal", "object": "chat.completion", "created": 1767225600, "model": OPENAI.model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": None, "refusal": "I can't rate that."}}],
            "usage": {"prompt_tokens": 90, "completion_tokens": 6, "total_tokens": 96},
        }, "the model refused: I can't rate that.",
    ),
    "anthropic": (ANTHROPIC, "/v1/messages", _ANTHROPIC_MESSAGE, r"refused \(stop_reason 'refusal'\): cyber; This request was declined."),
    "gemini-blocked-prompt": (
        GEMINI, ":generateContent", {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": _GEMINI_USAGE},
        "blocked the prompt: blockReason PROHIBITED_CONTENT",
    ),
    "gemini-safety-after-text": (
        GEMINI, ":generateContent", {
            "candidates": [{"content": {"role": "model", "parts": [{"text": '{"score": 3, "verd'}]}, "finishReason": "SAFETY"}],
            "usageMetadata": _GEMINI_USAGE,
        }, "finishReason SAFETY: a filter blocked the answer",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refusal_raises_refusal_error_and_is_not_repaired(case: str) -> None:
    spec, path, body, message = REFUSALS[case]
    with spec.server() as server:
        assert isinstance(server, WireServer)
        server.queue(Json(200, body), Json(200, body))
        llm = spec.llm(environ={})
        llm.initialize({"type": spec.provider, "base_url": server.url, "api_key": spec.dummy_key, "model": spec.model})
        with pytest.raises(RefusalError, match=message) as caught:
            generate_as(llm, "Rate it.", Score)
        sent = len(server.requests_to(path))
        metrics = dict(llm.metrics)
        llm.close()
    assert caught.value.retryable is False and caught.value.provider == spec.provider
    assert not isinstance(caught.value, StructuredAnswerError), "a refusal is not repaired"
    assert sent == 1, "neither retried nor repaired"
    assert metrics["structured_repairs"] == 0 and metrics["errors"] == 1


def _openai_chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-refusal", "object": "chat.completion.chunk", "created": 1767225600, "model": OPENAI.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


@pytest.mark.parametrize("case", ["anthropic", "gemini", "openai"])
def test_a_streamed_refusal_raises_after_the_pieces(case: str) -> None:
    spec = {"anthropic": ANTHROPIC, "gemini": GEMINI, "openai": OPENAI}[case]
    shown = ["Hello.."]
    if case == "openai":
        frames = [
            sse_event(_openai_chunk({"role": "assistant", "content": None, "refusal": ""})),
            sse_event(_openai_chunk({"refusal": "I can't "})),
            sse_event(_openai_chunk({"refusal": "rate that."})),
            sse_event(_openai_chunk({}, "stop")),
            "data: [DONE]\n\n",
        ]
        said, shown = r"the model refused: I can't rate that. \(finish_reason 'stop'\)", []
    elif case == "anthropic":
        message = {key: value for key, value in _ANTHROPIC_MESSAGE.items() if key not in ("content", "stop_reason", "stop_details")}
        frames = [
            sse_event({"type": "message_start", "message": {**message, "content": [], "stop_reason": None}}, "message_start"),
            sse_event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start"),
            sse_event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello.."}}, "content_block_delta"),
            sse_event({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse_event(
                {"type": "message_delta", "delta": {"stop_reason": "refusal", "stop_details": _ANTHROPIC_MESSAGE["stop_details"]},
                 "usage": {"output_tokens": 6}},
                "message_delta",
            ),
            sse_event({"type": "message_stop"}, "message_stop"),
        ]
        said = "refused"
    else:
        frames = [
            sse_event({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello.."}]}}]}),
            sse_event({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "SAFETY"}], "usageMetadata": _GEMINI_USAGE}),
        ]
        said = "finishReason SAFETY"
    with spec.server() as server:
        server.queue(Sse(frames))
        llm = spec.llm(environ={})
        llm.initialize({"type": spec.provider, "base_url": server.url, "api_key": spec.dummy_key, "model": spec.model})
        pieces: list[str] = []
        with pytest.raises(RefusalError, match=said):
            pieces.extend(llm.generate_stream("Say hello."))
        llm.close()
    assert pieces == shown