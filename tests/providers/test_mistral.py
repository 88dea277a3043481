"""The mistral provider: cassettes replayed from cassettes/http/mistral, and its translation unit-tested.

The scenarios every HTTP provider shares are in ``test_http_contract.py``; these are
Mistral's own. Re-recording: docs/providers/mistral.md (tests marked ``wire_only`` always
record from the local wire server).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from syrupy.assertion import SnapshotAssertion

from obra_llm import AuthenticationError, ConfigError, LLMResponseException, ModelNotFoundError, RateLimitError
from obra_llm.calls import Completion, StreamEnd
from obra_llm.config.secret import Secret
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.protocol import GenerateOptions
from obra_llm.providers.chat_completions import error_fields
from obra_llm.providers.mistral import MistralLLM, MistralSettings, MistralWire
from tests.support.fakes import FakeClock
from tests.support.http_cases import ApiCase, Maker, MockedMaker, ProviderSpec, mocked_providers
from tests.support.http_specs import MISTRAL
from tests.support.mistral_wire import (
    CHAT_FIELDS,
    error_reply,
    mid_stream_error,
    rate_limited,
    validation_error,
)
from tests.support.wire_calls import request_body

MODEL = MISTRAL.model
KEY = "mistral-unit-test-key-0123456789abcdef"
#: Names an OpenAI payload builder would send, which Mistral refuses with a 422.
OPENAI_ONLY_FIELDS = frozenset({"stream_options", "max_completion_tokens", "frequency_penalty", "seed", "name"})

@pytest.fixture
def spec() -> ProviderSpec:
    return MISTRAL


# -- cassettes -------------------------------------------------------------------------------------


def test_generate_maps_every_option(make: Maker) -> None:
    llm = make(safe_prompt=True)
    answer = llm.generate("Say OK.", system="Be terse.", temperature=0.2, max_tokens=16, stop=["\n\n"], seed=42)
    assert answer


@pytest.mark.wire_only
def test_rate_limited_then_success_waits_retry_after(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(rate_limited(retry_after="3"))
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert clock.sleeps == [3.0]
    assert llm.metrics["retries"] == 1 and llm.metrics["errors"] == 0


@pytest.mark.wire_only
def test_gateway_timeout_is_retried(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(error_reply(504, {"object": "error", "message": "Upstream timed out", "type": "server_error",
                                          "param": None, "code": None}))
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert len(clock.sleeps) == 1 and llm.metrics["retries"] == 1


def test_authentication_failure(make: Maker, clock: FakeClock) -> None:
    llm = make(api_key="not-a-valid-mistral-key")
    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hello")
    assert caught.value.retryable is False and caught.value.status_code == 401
    assert "Unauthorized" in str(caught.value)
    assert clock.sleeps == []


@pytest.mark.wire_only
def test_error_after_http_200_mid_stream(case: ApiCase, make: Maker) -> None:
    case.script(mid_stream_error(["SCORE:"]))
    llm = make()
    stream = llm.generate_stream("Rate this.")
    assert next(stream) == "SCORE:"
    with pytest.raises(LLMResponseException, match="finish_reason 'error'"):
        next(stream)
    assert llm.metrics["errors"] == 1


@pytest.mark.wire_only
def test_validation_error_with_an_object_message_is_readable(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    problem = {"type": "extra_forbidden", "loc": ["body", "stream_options", "include_usage"],
               "msg": "Extra inputs are not permitted", "input": True}
    case.script(validation_error([problem]))
    llm = make()
    with pytest.raises(LLMResponseException) as caught:
        llm.generate("hello")
    assert caught.value.status_code == 422 and caught.value.retryable is False
    assert "Extra inputs are not permitted @ body.stream_options.include_usage (extra_forbidden)" in str(caught.value)
    assert clock.sleeps == []


def test_model_info_reads_max_context_length(make: Maker) -> None:
    info = make().get_model_info()
    assert info["provider"] == "mistral" and info["model_name"] == MODEL
    assert isinstance(info["context_length"], int) and info["context_length"] > 0
    assert "completion_chat" in info["details"]["capabilities"]


@pytest.mark.wire_only
def test_model_info_falls_back_to_the_table(make: Maker) -> None:
    info = make(model="open-mixtral-8x22b").get_model_info()
    assert info["context_length"] == 65_536
    assert info["details"] == {"structured": "native:response_format.json_schema"}


# -- unit: no cassette -----------------------------------------------------------------------------

@pytest.fixture
def mocked() -> Iterator[MockedMaker]:
    """Providers whose HTTP goes to a handler (no socket), with a fake clock."""
    with mocked_providers(MISTRAL, api_key=KEY) as build:
        yield build


@pytest.mark.parametrize(
    ("options", "problem"),
    [({"temperature": 1.6}, "from 0 to 1.5"), ({"stop": [""]}, "non-empty strings"), ({"top_p": 0.9}, "unknown option")],
)
def test_options_it_cannot_honour_are_rejected(
    mocked: MockedMaker, options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        mocked().generate("hello", **options)


def test_configured_temperature_above_1_5_is_refused() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        MistralLLM(environ={}).initialize({"type": "mistral", "api_key": KEY, "temperature": 1.6})


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="MISTRAL_API_KEY"):
        MistralLLM(environ={}).initialize({"type": "mistral"})


def test_key_from_the_environment(mocked: MockedMaker) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"choices": [{"message": {"content": "OK"}, "finish_reason": "stop"}]})

    llm = mocked(answer, environ={"MISTRAL_API_KEY": "key-from-the-environment"}, api_key=None)
    assert llm.generate("hello") == "OK"
    assert seen[0].url == "https://api.mistral.ai/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer key-from-the-environment"


@pytest.mark.parametrize(
    "options",
    [{}, {"system": "Be terse.", "temperature": 0.2, "max_tokens": 16, "stop": ["\n\n"], "seed": 42}],
    ids=["defaults", "every-option"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_request_body_snapshot(snapshot: SnapshotAssertion, options: GenerateOptions, stream: bool) -> None:
    body = request_body(MistralLLM.wire, MistralSettings(model=MODEL, safe_prompt=True), "Rate this change.", options, stream=stream)
    assert json.loads(json.dumps(body)) == snapshot


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_request_body_has_only_mistral_field_names(stream: bool) -> None:
    options: GenerateOptions = {"system": "Be terse.", "temperature": 0.2, "max_tokens": 16, "stop": ["x"], "seed": 7}
    body = request_body(MistralLLM.wire, MistralSettings(model=MODEL, safe_prompt=True), "Rate this change.", options, stream=stream)
    assert set(body) <= CHAT_FIELDS
    assert not set(body) & OPENAI_ONLY_FIELDS
    assert all(set(message) == {"role", "content"} for message in body["messages"])
    assert body["random_seed"] == 7 and body["max_tokens"] == 16


# -- unit: response and stream parsing -----------------------------------------------------------


def test_content_as_a_list_of_chunks() -> None:
    content = [{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}, {"type": "text", "text": "SCORE: 8"}]
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 16, "completion_tokens": 34, "total_tokens": 50}}
    assert MistralWire().process_response(body) == Completion("SCORE: 8", 16, 34, "stop")


_CHUNK = '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":%s},"finish_reason":%s}],"usage":%s}'
STREAM = (
    "data: " + _CHUNK % ('""', "null", "null") + "\n\n"
    ": ping\n\n"
    "event: keep-alive\ndata: {}\n\n"
    "data: " + _CHUNK % ('[{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]}]', "null", "null") + "\n\n"
    "data: " + _CHUNK % ('"Low latency"', "null", "null") + "\n\n"
    "data: " + _CHUNK % ('[{"type":"text","text":" ✓"}]', "null", "null") + "\n\n"
    "data: " + _CHUNK % ('""', '"stop"', '{"prompt_tokens":14,"total_tokens":240,"completion_tokens":226}') + "\n\n"
    "data: [DONE]\n\n"
)
EXPECTED = ["Low latency", " ✓", StreamEnd(prompt_tokens=14, completion_tokens=226, stop_reason="stop")]


def _parse(*chunks: bytes) -> list[str | StreamEnd]:
    return list(MistralWire().process_stream(iter(chunks)))


def test_stream_reads_usage_from_the_last_chunk() -> None:
    assert _parse(STREAM.encode()) == EXPECTED


def test_stream_with_crlf_line_endings() -> None:
    assert _parse(STREAM.replace("\n", "\r\n").encode()) == EXPECTED


def test_stream_split_at_every_byte() -> None:
    data = STREAM.encode()
    assert _parse(*(data[i : i + 1] for i in range(len(data)))) == EXPECTED


def test_stream_without_done_is_cut() -> None:
    with pytest.raises(LLMResponseException, match="ended before") as caught:
        _parse(STREAM.replace("data: [DONE]\n\n", "").encode())
    assert caught.value.retryable is True


def test_stream_error_object_raises() -> None:
    error = '{"object":"error","message":"Service unavailable","type":"server_error","param":null,"code":"3000"}'
    with pytest.raises(LLMResponseException, match="error mid-stream: Service unavailable"):
        _parse(f"data: {error}\n\n".encode())


# -- unit: errors --------------------------------------------------------------------------------

_EXTRA = {"type": "extra_forbidden", "loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted", "input": {}}
_READABLE = "Extra inputs are not permitted @ body.stream_options (extra_forbidden)"


@pytest.mark.parametrize(
    ("body", "text", "code"),
    [
        ({"detail": "Unauthorized"}, "Unauthorized", None),
        ({"message": "Unauthorized", "request_id": "0f1e2d3c"}, "Unauthorized", None),
        ({"message": "Requests rate limit exceeded"}, "Requests rate limit exceeded", None),
        ({"object": "error", "message": "Rate limit exceeded", "type": "rate_limited", "param": None, "code": "1300",
          "raw_status_code": 429}, "Rate limit exceeded", "1300"),
        ({"object": "error", "message": {"detail": [_EXTRA]}, "type": "invalid_request_error", "param": None,
          "code": None}, _READABLE, None),
        ({"object": "error", "message": json.dumps({"detail": [_EXTRA]}), "type": "invalid_request_error"}, _READABLE, None),
        ({"object": "error", "detail": [_EXTRA], "type": "invalid_request_error", "code": 3001}, _READABLE, "3001"),
        ({"detail": [_EXTRA, {"type": "missing", "loc": ["body", "model"], "msg": "Field required"}]},
         _READABLE + "; Field required @ body.model (missing)", None),
        ({"message": "{not json"}, "{not json", None),
        ("upstream connect error", "upstream connect error", None),
    ],
    ids=["detail-string", "message-request-id", "message-2025", "rate-limited-code", "object-message", "json-string-message",
         "top-level-detail-int-code", "sdk-422", "broken-json-string", "not-an-object"],
)
def test_error_body_variants(body: Any, text: str, code: str | None) -> None:
    assert MistralWire().error_text(body) == text
    assert error_fields(body).code == code


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retryable"),
    [
        (401, {"detail": "Unauthorized"}, {}, AuthenticationError, False),
        (429, {"message": "Requests rate limit exceeded"}, {"retry-after": "3"}, RateLimitError, True),
        (422, {"object": "error", "message": {"detail": [_EXTRA]}, "type": "invalid_request_error"}, {},
         LLMResponseException, False),
        (400, {"object": "error", "message": "Invalid model: x", "type": "invalid_model", "code": "1500"}, {},
         ModelNotFoundError, False),
        (400, {"object": "error", "message": "Prompt too long", "type": "invalid_request_error", "code": "3051"}, {},
         LLMResponseException, False),
        (500, {"message": "Internal server error"}, {}, LLMResponseException, True),
        (502, {"message": "Bad gateway"}, {}, LLMResponseException, True),
        (503, {"message": "Service unavailable"}, {}, LLMResponseException, True),
        (504, {"message": "Gateway timeout"}, {}, LLMResponseException, True),
    ],
)
def test_errors_are_classified(
    mocked: MockedMaker,
    status: int,
    body: Any,
    headers: dict[str, str],
    kind: type[LLMResponseException],
    retryable: bool,
) -> None:
    llm = mocked(lambda request: httpx.Response(status, json=body, headers=headers), retry_attempts=1)
    with pytest.raises(LLMResponseException) as caught:
        llm.generate("hello")
    assert type(caught.value) is kind
    assert caught.value.retryable is retryable and caught.value.status_code == status
    assert caught.value.retry_after == (3.0 if headers else None)


# -- unit: model info, tokens, secrets -----------------------------------------------------------


def test_model_card_without_max_context_length_means_32768() -> None:
    facts = MistralWire().model_facts({"id": "ft:open-mistral-7b:abc", "type": "fine-tuned"}, MistralSettings())
    assert facts.context_length == 32_768
    assert facts.details == {"id": "ft:open-mistral-7b:abc", "type": "fine-tuned"}


def test_estimate_tokens_is_an_approximation(mocked: MockedMaker) -> None:
    assert 5 <= mocked().estimate_tokens("def parse_port(text): return int(text)") <= 15


def test_the_key_never_shows(mocked: MockedMaker) -> None:
    llm = mocked(lambda request: httpx.Response(401, json={"detail": f"Unauthorized key {KEY}"}))
    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hello")
    settings = MistralSettings(api_key=Secret(KEY))
    shown = [repr(llm), str(llm), repr(settings), str(settings), str(caught.value), repr(caught.value),
             repr(llm.get_model_info())]
    assert all(KEY not in text for text in shown)
