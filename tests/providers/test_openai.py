"""The openai provider: cassettes replayed from cassettes/http/openai, and its translation unit-tested.

The scenarios every HTTP provider shares are in ``test_http_contract.py``; these are
OpenAI's own. Re-recording: docs/providers/openai.md (tests marked ``wire_only`` always
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
from obra_llm.calls import StreamEnd
from obra_llm.config.secret import Secret
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.protocol import GenerateOptions
from obra_llm.providers.openai import OpenAILLM, OpenAISettings, OpenAIWire
from obra_llm.tokens import load_encoding
from tests.support.chat_completions_wire import Answer
from tests.support.fakes import FakeClock
from tests.support.http_cases import ApiCase, Handler, Maker, MockedMaker, ProviderSpec, mocked_providers
from tests.support.http_specs import OPENAI
from tests.support.openai_wire import (
    insufficient_quota,
    mid_stream_error,
    rate_limited,
    server_overloaded,
    stream_reply,
)
from tests.support.wire_calls import request_body

MODEL = OPENAI.model
KEY = "sk-proj-unitTestKeyAbcdefghijklmnopqrstuvwxyz0123"
#: A wrong key: the API's 401 echoes it as ``sk-proj-****MWcA``.
WRONG_KEY = "sk-proj-wrongKeyForTheAuthenticationCassetteMWcA"

@pytest.fixture
def spec() -> ProviderSpec:
    return OPENAI


# -- cassettes -------------------------------------------------------------------------------------


def test_generate_maps_every_option(make: Maker) -> None:
    llm = make()
    answer = llm.generate("Say OK.", system="Be terse.", temperature=0.0, max_tokens=16, stop=["\n\n"], seed=42)
    assert answer


@pytest.mark.wire_only
def test_rate_limited_then_success_waits_retry_after_ms(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(rate_limited(retry_after_ms="1250", retry_after="2"))
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert clock.sleeps == [1.25], "retry-after-ms wins over retry-after, exactly"
    assert llm.metrics["retries"] == 1 and llm.metrics["errors"] == 0


@pytest.mark.wire_only
def test_rate_limited_without_ms_waits_retry_after(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(rate_limited(retry_after_ms=None, retry_after="2"))
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert clock.sleeps == [2.0]


@pytest.mark.wire_only
def test_insufficient_quota_is_not_retried(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(insufficient_quota())
    llm = make()
    with pytest.raises(RateLimitError) as caught:
        llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)
    assert caught.value.retryable is False
    assert caught.value.status_code == 429
    assert "quota is spent" in str(caught.value)
    assert clock.sleeps == [] and llm.metrics["retries"] == 0 and llm.metrics["errors"] == 1


@pytest.mark.wire_only
def test_overloaded_server_is_retried(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(server_overloaded())
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert len(clock.sleeps) == 1 and llm.metrics["retries"] == 1


def test_authentication_failure(make: Maker, clock: FakeClock) -> None:
    llm = make(api_key=WRONG_KEY)
    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hello")
    error = caught.value
    assert error.retryable is False and error.status_code == 401
    assert "Incorrect API key provided" in str(error)
    assert "MWcA" not in str(error) and WRONG_KEY not in repr(error), "the echoed key tail is masked"
    assert clock.sleeps == []


@pytest.mark.wire_only
def test_error_after_http_200_mid_stream(case: ApiCase, make: Maker) -> None:
    case.script(mid_stream_error(["SCORE:"], "The server had an error while processing your request."))
    llm = make()
    stream = llm.generate_stream("Rate this.")
    assert next(stream) == "SCORE:"
    with pytest.raises(LLMResponseException, match="server had an error"):
        next(stream)
    assert llm.metrics["errors"] == 1


@pytest.mark.wire_only
def test_stream_split_inside_characters(case: ApiCase, make: Maker) -> None:
    case.script(stream_reply(Answer(pieces=["Schöne ", "Grüße ✓ ", "日本語"]), chunk_size=5))
    assert "".join(make().generate_stream("Greet me.")) == "Schöne Grüße ✓ 日本語"


def test_availability_names_a_missing_model(make: Maker) -> None:
    llm = make(model="gpt-no-such-model")
    problem = llm.availability_problem()
    assert problem is not None and "'gpt-no-such-model' is not offered" in problem


# -- unit: no cassette -----------------------------------------------------------------------------

@pytest.fixture
def mocked() -> Iterator[MockedMaker]:
    """Providers whose HTTP goes to a handler (no socket), with a fake clock."""
    with mocked_providers(OPENAI, api_key=KEY) as build:
        yield build


def _error(status: int, message: str, *, type: str, code: str | None, headers: dict[str, str] | None = None) -> Handler:
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return lambda request: httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
        ({"temperature": 2.5}, "from 0 to 2"),
        ({"top_k": 5}, "unknown option 'top_k'"),
    ],
)
def test_options_it_cannot_honour_are_rejected(
    mocked: MockedMaker, options: dict[str, Any], problem: str
) -> None:
    llm = mocked()
    with pytest.raises(ConfigError, match=problem):
        llm.generate("hello", **options)


def test_stop_is_sent_for_every_model_and_the_api_decides(mocked: MockedMaker) -> None:
    """Recorded traffic shows o3-mini taking ``stop``: no model-capability rule is guessed ahead of time."""
    sent: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["stop"])
        return httpx.Response(200, json={"choices": [{"message": {"content": "OK"}, "finish_reason": "stop"}]})

    assert mocked(answer, model="o3-mini").generate("hello", stop=["\n"]) == "OK"
    assert sent == [["\n"]]


def test_max_tokens_field_must_be_known(mocked: MockedMaker) -> None:
    with pytest.raises(ConfigError, match="max_tokens_field"):
        mocked(max_tokens_field="max_output_tokens")


def test_missing_key_names_the_variable() -> None:
    llm = OpenAILLM(environ={})
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        llm.initialize({"type": "openai"})


def test_key_organization_and_project_headers(mocked: MockedMaker) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"choices": [{"message": {"content": "OK"}, "finish_reason": "stop"}]})

    llm = mocked(answer, environ={"OPENAI_API_KEY": "sk-from-the-environment"}, api_key=None, organization="org-test",
                 project="proj_test")
    assert llm.generate("hello") == "OK"
    request = seen[0]
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-from-the-environment"
    assert request.headers["openai-organization"] == "org-test"
    assert request.headers["openai-project"] == "proj_test"


@pytest.mark.parametrize(
    "options",
    [{}, {"system": "Be terse.", "temperature": 0.0, "max_tokens": 16, "stop": ["\n\n"], "seed": 42}],
    ids=["defaults", "every-option"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_request_body_snapshot(snapshot: SnapshotAssertion, options: GenerateOptions, stream: bool) -> None:
    body = request_body(OpenAILLM.wire, OpenAISettings(model=MODEL), "Rate this change.", options, stream=stream)
    assert json.loads(json.dumps(body)) == snapshot


def test_request_body_with_legacy_max_tokens(snapshot: SnapshotAssertion) -> None:
    settings = OpenAISettings(model="qwen2.5-coder-32b", max_tokens_field="max_tokens", max_tokens=256, temperature=0.2)
    body = request_body(OpenAILLM.wire, settings, "Rate this change.", {}, stream=True)
    assert "max_completion_tokens" not in body
    assert json.loads(json.dumps(body)) == snapshot


# -- unit: stream parsing ------------------------------------------------------------------------

_CHUNK = '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":%s},"finish_reason":%s}],"usage":null,"obfuscation":"x9"}'
_USAGE = '{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":5,"total_tokens":18}}'
STREAM = (
    "data: " + _CHUNK % ('"Rayleigh"', "null") + "\n\n"
    ": keep-alive comment\n\n"
    "event: ping\ndata: {}\n\n"
    "data: " + _CHUNK % ('" scattering ✓"', "null") + "\n\n"
    "data: " + _CHUNK % ('""', '"stop"') + "\n\n"
    "data: " + _USAGE + "\n\n"
    "data: [DONE]\n\n"
)
EXPECTED = ["Rayleigh", " scattering ✓", StreamEnd(prompt_tokens=13, completion_tokens=5, stop_reason="stop")]


def _parse(*chunks: bytes) -> list[str | StreamEnd]:
    return list(OpenAIWire().process_stream(iter(chunks)))


def test_stream_parses_usage_from_the_empty_choices_chunk() -> None:
    assert _parse(STREAM.encode()) == EXPECTED


def test_stream_with_crlf_line_endings() -> None:
    assert _parse(STREAM.replace("\n", "\r\n").encode()) == EXPECTED


def test_stream_split_at_every_byte() -> None:
    data = STREAM.encode()
    assert _parse(*(data[i : i + 1] for i in range(len(data)))) == EXPECTED


def test_stream_without_usage_counts_zero() -> None:
    data = STREAM.replace("data: " + _USAGE + "\n\n", "").encode()
    assert _parse(data)[-1] == StreamEnd(stop_reason="stop")


def test_stream_without_done_is_cut() -> None:
    data = STREAM.replace("data: [DONE]\n\n", "").encode()
    with pytest.raises(LLMResponseException, match=r"ended before its data: \[DONE\]") as caught:
        _parse(data)
    assert caught.value.retryable is True


def test_stream_error_line_raises() -> None:
    error = '{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}'
    first = _CHUNK % ('"SCORE"', "null")
    with pytest.raises(LLMResponseException, match="error mid-stream: The server had an error"):
        _parse(f"data: {first}\n\ndata: {error}\n\n".encode())


def test_stream_event_that_is_not_json_raises() -> None:
    with pytest.raises(LLMResponseException, match="not JSON"):
        _parse(b"data: {oops\n\n")


# -- unit: errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            {"error": {"message": "Incorrect API key provided: sk-proj-****MWcA. You can find it.", "type": "invalid_request_error",
                       "param": None, "code": "invalid_api_key"}},
            "Incorrect API key provided: sk-proj-****. You can find it.",
        ),
        ({"error": {"message": "Rate limit reached", "type": "tokens", "param": None, "code": "rate_limit_exceeded"}},
         "Rate limit reached"),
        ({"error": "model is loading"}, "model is loading"),
        ({"error": {"message": "", "type": "server_error", "param": None, "code": None}}, None),
        ({"object": "list"}, None),
    ],
    ids=["key-tail-masked", "standard", "string-error", "empty-message", "no-message"],
)
def test_error_text_variants(body: Any, text: str | None) -> None:
    assert OpenAIWire().error_text(body) == text


@pytest.mark.parametrize(
    ("status", "message", "error_type", "code", "kind", "retryable"),
    [
        (429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota", RateLimitError, False),
        (429, "Rate limit reached", "requests", "rate_limit_exceeded", RateLimitError, True),
        (401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key", AuthenticationError, False),
        (404, "The model does not exist", "invalid_request_error", "model_not_found", ModelNotFoundError, False),
        (400, "context too long", "invalid_request_error", "context_length_exceeded", LLMResponseException, False),
        (500, "The server had an error", "server_error", None, LLMResponseException, True),
        (503, "The server is temporarily overloaded.", "server_error", None, LLMResponseException, True),
    ],
)
def test_errors_are_classified(
    mocked: MockedMaker,
    status: int,
    message: str,
    error_type: str,
    code: str | None,
    kind: type[LLMResponseException],
    retryable: bool,
) -> None:
    llm = mocked(_error(status, message, type=error_type, code=code), retry_attempts=1)
    with pytest.raises(LLMResponseException) as caught:
        llm.generate("hello")
    assert type(caught.value) is kind
    assert caught.value.retryable is retryable
    assert caught.value.status_code == status


def test_404_without_model_code_hints_at_base_url(mocked: MockedMaker) -> None:
    llm = mocked(lambda request: httpx.Response(404, text="404 page not found"), base_url="http://127.0.0.1:1234")
    with pytest.raises(LLMResponseException, match="serve the API under /v1"):
        llm.generate("hello")


# -- unit: model info, tokens, secrets -----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "context"),
    [("gpt-4o-mini", 128_000), ("gpt-4o-2024-08-06", 128_000), ("gpt-4.1-mini", 1_047_576), ("o3", 200_000),
     ("gpt-5", 400_000), ("my-local-model", None)],
)
def test_model_info_from_the_table(mocked: MockedMaker, model: str, context: int | None) -> None:
    info = mocked(model=model).get_model_info()
    assert info["provider"] == "openai" and info["model_name"] == model
    assert info["context_length"] == context


def test_model_info_prefers_the_configured_context_length(mocked: MockedMaker) -> None:
    assert mocked(model="my-local-model", context_length=32768).get_model_info()["context_length"] == 32768


@pytest.mark.parametrize(("model", "encoding"), [("gpt-4o-mini", "o200k_base"), ("gpt-4", "cl100k_base")])
def test_estimate_tokens_uses_the_models_encoding(mocked: MockedMaker, model: str, encoding: str) -> None:
    text = "def parse_port(text):\n    return int(text)  # ✓ ports 1-65535\n"
    expected = load_encoding(encoding)
    assert expected is not None
    assert mocked(model=model).estimate_tokens(text) == len(expected.encode_ordinary(text))


def test_the_key_never_shows(mocked: MockedMaker) -> None:
    message = f"Incorrect API key provided: {KEY} (organization org-SecretOrganization1)"
    echo = _error(401, message, type="invalid_request_error", code="invalid_api_key")
    llm = mocked(echo, organization="org-SecretOrganization1")
    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hello")
    settings = OpenAISettings(api_key=Secret(KEY))
    shown = [repr(llm), str(llm), repr(settings), str(settings), str(caught.value), repr(caught.value),
             repr(llm.get_model_info())]
    assert all(KEY not in text for text in shown)
    assert "org-SecretOrganization1" not in str(caught.value) + repr(llm)
