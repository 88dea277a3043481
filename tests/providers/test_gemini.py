"""The gemini provider, replayed from cassettes/http/gemini, plus its pure translation.

The scenarios every HTTP provider shares are in ``test_http_contract.py``; these are
Gemini's own. Re-recording: docs/providers/gemini.md (tests marked ``wire_only`` always
record from the local wire server).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from syrupy.assertion import SnapshotAssertion

from obra_llm import AuthenticationError, ConfigError, LLMResponseException, ModelNotFoundError, RateLimitError
from obra_llm.calls import Completion, StreamEnd
from obra_llm.config.secret import Secret
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.errors import LLMException
from obra_llm.options import resolve_call
from obra_llm.protocol import GenerateOptions
from obra_llm.providers.gemini import GeminiLLM, GeminiSettings, GeminiWire
from tests.support.fakes import FakeClock
from tests.support.gemini_wire import (
    VALID_KEY,
    Answer,
    ApiError,
    Blocked,
    GeminiWireServer,
    MidStreamError,
    per_day_quota,
    rate_limited,
    service_disabled,
    unavailable,
)
from tests.support.http_cases import ApiCase, Maker, ProviderSpec
from tests.support.http_replay import HTTP_CASSETTES
from tests.support.http_specs import GEMINI
from tests.support.wire_calls import mapped_error, request_body

MODEL = GEMINI.model
BASE_URL = GEMINI.replay_url

@pytest.fixture
def spec() -> ProviderSpec:
    return GEMINI


# -- replayed: cassettes/http/gemini -----------------------------------------------------------


@pytest.mark.wire_only
def test_stream_usage_is_the_last_chunks_not_a_sum(make: Maker) -> None:
    llm = make()
    assert "".join(llm.generate_stream(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)).startswith("SCORE: 8")
    assert (llm.metrics["prompt_tokens"], llm.metrics["completion_tokens"]) == (96, 17)


def test_generate_maps_every_option(make: Maker) -> None:
    llm = make(thinking_budget=0)
    answer = llm.generate("Say OK.", system="Be terse.", temperature=0.0, max_tokens=64, stop=["\n\n"], seed=42)
    assert answer


@pytest.mark.wire_only
def test_rate_limited_then_success_waits_the_retry_delay(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(rate_limited("34s"))
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert clock.sleeps == [34.0]
    assert (llm.metrics["calls"], llm.metrics["retries"], llm.metrics["errors"]) == (1, 1, 0)


@pytest.mark.wire_only
def test_per_day_quota_is_not_retried(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(per_day_quota())
    llm = make()
    with pytest.raises(RateLimitError) as caught:
        llm.generate("hello")
    assert caught.value.retryable is False
    assert caught.value.status_code == 429
    assert "PerDay" in str(caught.value)
    assert clock.sleeps == []


@pytest.mark.wire_only
def test_overloaded_model_is_retried(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(unavailable())
    llm = make()
    assert "".join(llm.generate_stream("Rate this.")).startswith("SCORE: 8")
    assert len(clock.sleeps) == 1 and 0.375 <= clock.sleeps[0] <= 0.5
    assert llm.metrics["retries"] == 1


def test_bad_key_is_an_authentication_error(make: Maker, clock: FakeClock) -> None:
    llm = make(api_key="not-a-valid-key")
    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hello")
    assert caught.value.status_code == 400
    assert caught.value.retryable is False
    assert "API key not valid" in str(caught.value)
    assert "GEMINI_API_KEY" in str(caught.value)
    assert "not-a-valid-key" not in str(caught.value) + repr(caught.value)
    assert clock.sleeps == []


def test_bad_key_makes_the_provider_unavailable(make: Maker) -> None:
    llm = make(api_key="not-a-valid-key")
    problem = llm.availability_problem()
    assert problem is not None and "API key not valid" in problem
    assert llm.is_available() is False


@pytest.mark.wire_only
def test_disabled_service_is_an_authentication_error(case: ApiCase, make: Maker) -> None:
    case.script(service_disabled())
    llm = make()
    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hello")
    assert caught.value.status_code == 403
    assert caught.value.retryable is False


def test_disabled_service_cassette_has_the_project_scrubbed() -> None:
    text = (HTTP_CASSETTES / "gemini" / "test_disabled_service_is_an_authentication_error.yaml").read_text(encoding="utf-8")
    assert "projects/REDACTED" in text
    assert "123456789012" not in text


@pytest.mark.wire_only
def test_blocked_prompt_says_why(case: ApiCase, make: Maker) -> None:
    case.script(Blocked("PROHIBITED_CONTENT"), Blocked("SAFETY"))
    llm = make()
    with pytest.raises(LLMResponseException, match="blocked the prompt: blockReason PROHIBITED_CONTENT") as caught:
        llm.generate("something forbidden")
    assert caught.value.retryable is False
    with pytest.raises(LLMResponseException, match="blocked the prompt: blockReason SAFETY"):
        list(llm.generate_stream("something forbidden"))


@pytest.mark.wire_only
def test_thinking_that_spends_the_cap_is_a_clear_error(case: ApiCase, make: Maker) -> None:
    spent = Answer(pieces=[], completion_tokens=0, thoughts_tokens=60, finish_reason="MAX_TOKENS")
    case.script(spent, spent)
    llm = make()
    with pytest.raises(LLMResponseException, match=r"maxOutputTokens .*\(60 tokens went to thinking\)"):
        llm.generate("Rate this.", max_tokens=60)
    with pytest.raises(LLMResponseException, match="thinking_budget: 0"):
        list(llm.generate_stream("Rate this.", max_tokens=60))


@pytest.mark.wire_only
def test_error_chunk_mid_stream_raises(case: ApiCase, make: Maker) -> None:
    case.script(MidStreamError(["SCORE:"], ApiError(500, "INTERNAL", "An internal error has occurred.")))
    llm = make()
    stream = llm.generate_stream("Rate this.")
    assert next(stream) == "SCORE:"
    with pytest.raises(LLMResponseException, match="INTERNAL: An internal error has occurred") as caught:
        next(stream)
    assert type(caught.value) is LLMResponseException
    assert caught.value.status_code == 500
    assert llm.metrics["errors"] == 1


@pytest.mark.wire_only
def test_quota_chunk_mid_stream_is_a_rate_limit(case: ApiCase, make: Maker) -> None:
    case.script(MidStreamError(["SCORE:"], rate_limited("2s"), pretty=False))
    llm = make()
    stream = llm.generate_stream("Rate this.")
    assert next(stream) == "SCORE:"
    with pytest.raises(RateLimitError) as caught:
        next(stream)
    assert caught.value.retry_after == 2.0


def test_model_info_reads_input_token_limit(make: Maker) -> None:
    info = make().get_model_info()
    assert info["provider"] == "gemini"
    assert info["model_name"] == MODEL
    assert info["context_length"] == 1_048_576
    assert info["details"]["output_token_limit"] == 65_536


# -- live against the wire server (what is sent) ------------------------------------------------


@pytest.fixture
def server() -> Iterator[GeminiWireServer]:
    with GeminiWireServer() as running:
        yield running


def test_key_goes_in_the_header_never_in_the_url(server: GeminiWireServer, clock: FakeClock) -> None:
    server.queue(rate_limited("1s"))
    with GeminiLLM(clock=clock, sleep=clock.sleep, environ={"MY_GEMINI_KEY": VALID_KEY}) as llm:
        llm.initialize({"base_url": server.url, "api_key_env": "MY_GEMINI_KEY"})
        assert llm.generate("hi").startswith("SCORE: 8")
        assert "".join(llm.generate_stream("hi")).startswith("SCORE: 8")
        assert llm.is_available()
        assert llm.get_model_info()["context_length"] == 1_048_576
    assert len(server.requests) == 5
    for request in server.requests:
        assert "key" not in parse_qs(request.query), request
        assert VALID_KEY not in request.path + request.query
        assert request.headers["x-goog-api-key"] == VALID_KEY
    assert [request.query for request in server.requests[:3]] == ["", "", "alt=sse"]


def test_google_api_key_is_the_fallback_variable() -> None:
    sent: list[str] = []

    def models(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["x-goog-api-key"])
        return httpx.Response(200, json={"models": []})

    for environ in ({"GOOGLE_API_KEY": VALID_KEY}, {"GEMINI_API_KEY": VALID_KEY, "GOOGLE_API_KEY": "wrong"}):
        with GeminiLLM(transport=httpx.MockTransport(models), environ=environ) as llm:
            llm.initialize({})
            assert llm.is_available()
    assert sent == [VALID_KEY, VALID_KEY]


def test_config_key_wins_over_the_environment(server: GeminiWireServer) -> None:
    with GeminiLLM(environ={"GEMINI_API_KEY": "wrong"}) as llm:
        llm.initialize({"base_url": server.url, "api_key": VALID_KEY})
        assert llm.is_available()


def test_split_lf_stream_over_the_wire_is_intact(server: GeminiWireServer) -> None:
    server.queue(Answer(pieces=["Schöne ", "Grüße ✓ ", "日本語"], line_ending="\n", chunk_size=3))
    with GeminiLLM(environ={}) as llm:
        llm.initialize({"base_url": server.url, "api_key": VALID_KEY})
        assert "".join(llm.generate_stream("Greet me.")) == "Schöne Grüße ✓ 日本語"


# -- options and configuration ------------------------------------------------------------------


@pytest.fixture
def offline() -> Iterator[GeminiLLM]:
    """A provider that must fail before sending anything (the transport refuses every request)."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"nothing should be sent, but {request.url} was")

    with GeminiLLM(transport=httpx.MockTransport(refuse), environ={"GEMINI_API_KEY": "k"}) as llm:
        llm.initialize({})
        yield llm


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"stop": ["1", "2", "3", "4", "5", "6"]}, "at most 5"),
        ({"temperature": 2.5}, "from 0 to 2"),
        ({"seed": 2**31}, "fit in 32 bits"),
        ({"seed": -(2**31) - 1}, "fit in 32 bits"),
        ({"top_p": 0.9}, "unknown option 'top_p'"),
        ({"max_tokens": 0}, "max_tokens=0"),
    ],
)
def test_options_gemini_cannot_honour_are_rejected(offline: GeminiLLM, options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        offline.generate("hi", **options)
    with pytest.raises(ConfigError, match=problem):
        offline.generate_stream("hi", **options)


def test_largest_int32_seed_and_five_stops_are_accepted() -> None:
    wire = GeminiWire()
    options: dict[str, Any] = {"seed": 2**31 - 1, "stop": ["a", "b", "c", "d", "e"], "temperature": 2.0}
    assert wire.check_options(options, GeminiSettings()) == options


@pytest.mark.parametrize(
    ("config", "problem"),
    [({"temperature": 3}, "temperature"), ({"thinking_budget": -2}, "thinking_budget")],
)
def test_bad_settings_fail_at_initialize(config: dict[str, Any], problem: str) -> None:
    with GeminiLLM(environ={"GEMINI_API_KEY": "k"}) as llm, pytest.raises(ConfigError, match=problem):
        llm.initialize(config)


def test_missing_key_names_both_variables() -> None:
    with GeminiLLM(environ={}) as llm, pytest.raises(ConfigError) as caught:
        llm.initialize({"model": MODEL})
    assert "GEMINI_API_KEY" in str(caught.value) and "GOOGLE_API_KEY" in str(caught.value)
    assert "api_key: ${GEMINI_API_KEY}" in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"system": "Be terse.", "temperature": 0.0, "max_tokens": 64, "stop": ["\n\n"], "seed": 42},
    ],
    ids=["defaults", "every-option"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("thinking_budget", [None, 0], ids=["thinking-default", "thinking-off"])
def test_request_snapshot(
    snapshot: SnapshotAssertion, options: GenerateOptions, stream: bool, thinking_budget: int | None
) -> None:
    settings = GeminiSettings(model=MODEL, thinking_budget=thinking_budget)
    request = GeminiWire().chat(settings, "Rate this change.", resolve_call(settings, options), stream=stream)
    normalized = {"method": request.method, "path": request.path, "params": request.params, "json": request.json}
    assert json.loads(json.dumps(normalized)) == snapshot


def test_settings_system_and_sampling_are_sent_and_options_override_them() -> None:
    settings = GeminiSettings(system="From config.", temperature=0.7, max_tokens=100)
    body = request_body(GeminiWire(), settings, "hi", {"max_tokens": 10}, stream=False)
    assert body["systemInstruction"] == {"parts": [{"text": "From config."}]}
    assert body["generationConfig"] == {"temperature": 0.7, "maxOutputTokens": 10}


def test_model_names_keep_or_gain_their_collection() -> None:
    wire, call = GeminiWire(), resolve_call(GeminiSettings(), {})
    assert wire.chat(GeminiSettings(model="models/gemini-2.0-flash"), "hi", call, stream=False).path == (
        "/models/gemini-2.0-flash:generateContent"
    )
    assert wire.chat(GeminiSettings(model="tunedModels/mine-1"), "hi", call, stream=True).path == (
        "/tunedModels/mine-1:streamGenerateContent"
    )


def test_model_info_falls_back_to_the_table() -> None:
    wire = GeminiWire()
    assert wire.model_facts(None, GeminiSettings(model="gemini-1.5-pro-002")).context_length == 2_097_152
    assert wire.model_facts(None, GeminiSettings(model="models/gemini-2.5-flash-lite")).context_length == 1_048_576
    assert wire.model_facts(None, GeminiSettings(model="learnlm-2.0")).context_length is None
    assert wire.model_facts({"inputTokenLimit": 32768}, GeminiSettings()).context_length == 32768


def test_estimate_tokens_is_an_offline_approximation() -> None:
    assert GeminiWire.estimate_tokens.__doc__ is not None and "o200k_base" in GeminiWire.estimate_tokens.__doc__
    with GeminiLLM() as llm:
        assert 3 <= llm.estimate_tokens("Why is the sky blue?") <= 8


# -- the secret never shows ---------------------------------------------------------------------

SECRET = "AIzaSyD-not-real-but-secret-0123456789"


def test_key_is_in_no_repr_message_or_info() -> None:
    with GeminiWireServer(key=SECRET) as server, GeminiLLM(environ={}) as llm:
        llm.initialize({"base_url": server.url, "api_key": SECRET})
        settings = GeminiSettings(api_key=Secret(SECRET))
        info = llm.get_model_info()
        server.queue(ApiError(400, "INVALID_ARGUMENT", f"echoing the key {SECRET} back"))
        with pytest.raises(LLMException) as caught:
            llm.generate("hi")
        shown = [repr(llm), repr(settings), str(settings), repr(info), str(caught.value), repr(caught.value)]
    assert "echoing the key" in str(caught.value)
    assert [text for text in shown if SECRET in text] == []


# -- stream parsing -----------------------------------------------------------------------------


def chunk(text: str | None = None, *, finish: str | None = None, usage: dict[str, int] | None = None, **extra: Any) -> str:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}] if text is not None else []}}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {"candidates": [candidate], **extra}
    if usage is not None:
        body["usageMetadata"] = usage
    return json.dumps(body)


def parse(raw: str, size: int | None = None) -> list[str | StreamEnd]:
    data = raw.encode()
    pieces = [data[start : start + size] for start in range(0, len(data), size)] if size else [data]
    return list(GeminiWire().process_stream(iter(pieces)))


FINAL = {"promptTokenCount": 14, "candidatesTokenCount": 9, "thoughtsTokenCount": 120, "totalTokenCount": 143}
STREAM = (
    f"data: {chunk('Rayleigh', usage={'promptTokenCount': 14, 'totalTokenCount': 14})}\r\n\r\n"
    f"data: {chunk(' scattering ✓.', finish='STOP', usage=FINAL)}\r\n\r\n"
)
EXPECTED: list[str | StreamEnd] = ["Rayleigh", " scattering ✓.", StreamEnd(14, 129, "STOP")]


@pytest.mark.parametrize("size", [None, 1, 2, 3, 5, 7, 64])
def test_stream_split_anywhere_parses_the_same(size: int | None) -> None:
    assert parse(STREAM, size) == EXPECTED
    assert parse(STREAM.replace("\r\n", "\n"), size) == EXPECTED


def test_stream_skips_comments_pings_and_unknown_fields() -> None:
    noisy = ": keep-alive\r\n\r\nevent: ping\r\ndata: {}\r\n\r\nretry: 100\r\nid: 7\r\n" + STREAM
    assert parse(noisy) == EXPECTED


def test_stream_usage_is_taken_from_the_last_chunk_never_summed() -> None:
    early = {"promptTokenCount": 14, "candidatesTokenCount": 4, "totalTokenCount": 18}
    raw = f"data: {chunk('a', usage=early)}\n\ndata: {chunk('b', usage=early)}\n\ndata: {chunk('c', finish='STOP', usage=FINAL)}\n\n"
    assert parse(raw)[-1] == StreamEnd(14, 129, "STOP")


def test_stream_reads_a_trailing_usage_only_chunk() -> None:
    raw = f"data: {chunk('a', finish='STOP')}\n\ndata: {json.dumps({'usageMetadata': FINAL})}\n\n"
    assert parse(raw) == ["a", StreamEnd(14, 129, "STOP")]


def test_stream_skips_thought_parts() -> None:
    thought = {"candidates": [{"content": {"parts": [{"text": "Let me think", "thought": True}, {"text": "Answer"}]}}]}
    raw = f"data: {json.dumps(thought)}\n\ndata: {chunk('.', finish='STOP')}\n\n"
    assert parse(raw) == ["Answer", ".", StreamEnd(0, 0, "STOP")]


def test_stream_pretty_printed_error_with_braces_in_its_message() -> None:
    error = {"error": {"code": 503, "message": "unbalanced } and { in text", "status": "UNAVAILABLE"}}
    raw = f"data: {chunk('a')}\r\n\r\n" + json.dumps(error, indent=2).replace("\n", "\r\n") + "\r\n"
    for size in (None, 4):
        stream = GeminiWire().process_stream(iter([raw.encode()] if size is None else [raw.encode()[i : i + size] for i in range(0, len(raw.encode()), size)]))
        assert next(stream) == "a"
        with pytest.raises(LLMResponseException, match="unbalanced } and \\{ in text") as caught:
            next(stream)
        assert caught.value.retryable is True
        assert caught.value.status_code == 503


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        ({"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}, RateLimitError, True),
        ({"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}, LLMResponseException, False),
        ({"code": 403, "status": "PERMISSION_DENIED", "message": "no"}, AuthenticationError, False),
        ({"message": "no code at all"}, LLMResponseException, False),
    ],
)
def test_stream_data_framed_error_gets_its_class(error: dict[str, Any], kind: type[LLMException], retryable: bool) -> None:
    with pytest.raises(kind) as caught:
        parse(f"data: {json.dumps({'error': error})}\n\n")
    assert type(caught.value) is kind
    assert caught.value.retryable is retryable


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (f"data: {chunk('cut short')}\n\n", "ended before any chunk carried a finishReason"),
        ('data: {"candidates": [\n\n', "not JSON"),
        ("data: [1, 2]\n\n", "not a JSON object"),
        (f"data: {chunk('a')}\n\n{{\n  \"error\": {{\n", "ended inside a JSON value"),
        (f"data: {json.dumps({'promptFeedback': {'blockReason': 'OTHER'}})}\n\n", "blockReason OTHER"),
        (f"data: {chunk(None, finish='SAFETY')}\n\n", "finishReason SAFETY: a filter blocked the answer"),
    ],
    ids=["no-finish", "bad-json", "not-object", "cut-inside-error", "blocked", "safety-empty"],
)
def test_stream_problems_raise(raw: str, message: str) -> None:
    with pytest.raises(LLMResponseException, match=message):
        parse(raw)


def test_stream_cut_is_retryable() -> None:
    with pytest.raises(LLMResponseException) as caught:
        parse(f"data: {chunk('cut short')}\n\n")
    assert caught.value.retryable is True


# -- whole responses ----------------------------------------------------------------------------


def test_response_skips_thoughts_and_counts_them_as_output() -> None:
    body = {
        "candidates": [
            {"content": {"parts": [{"text": "hmm", "thought": True}, {"text": "Rayleigh"}, {"text": " scattering."}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": FINAL,
    }
    assert GeminiWire().process_response(body) == Completion("Rayleigh scattering.", 14, 129, "STOP")


def test_partial_answer_keeps_its_stop_reason() -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "Rayleigh"}]}, "finishReason": "MAX_TOKENS"}]}
    assert GeminiWire().process_response(body) == Completion("Rayleigh", 0, 0, "MAX_TOKENS")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "unsafe"}}, r"blockReason SAFETY \(unsafe\)"),
        ({"candidates": []}, "no candidates and no promptFeedback"),
        ({"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}]}, "maxOutputTokens"),
        ({"candidates": [{"finishReason": "RECITATION"}]}, "finishReason RECITATION"),
        ([], "not an object"),
        ({"error": {"code": 500, "status": "INTERNAL", "message": "boom"}}, "INTERNAL: boom"),
    ],
)
def test_unusable_responses_raise(body: Any, message: str) -> None:
    with pytest.raises(LLMResponseException, match=message):
        GeminiWire().process_response(body)


# -- error bodies -------------------------------------------------------------------------------


def error_body(code: int, status: str, message: str = "m", *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


def retry_info(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


KEY_INVALID = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}


def mapped(status: int, body: Any) -> LLMException:
    wire = GeminiWire()
    request = httpx.Request("POST", f"{BASE_URL}/models/{MODEL}:generateContent")
    response = httpx.Response(status, request=request, **({"json": body} if not isinstance(body, bytes) else {"content": body}))
    return mapped_error(wire, response, GeminiSettings())


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable", "retry_after"),
    [
        (400, error_body(400, "INVALID_ARGUMENT", "API key not valid.", KEY_INVALID), AuthenticationError, False, None),
        (403, error_body(403, "PERMISSION_DENIED", "denied"), AuthenticationError, False, None),
        (401, error_body(401, "UNAUTHENTICATED", "who?"), AuthenticationError, False, None),
        (404, error_body(404, "NOT_FOUND", "models/x is not found"), ModelNotFoundError, False, None),
        (429, error_body(429, "RESOURCE_EXHAUSTED", "quota", retry_info("34s")), RateLimitError, True, 34.0),
        (429, error_body(429, "RESOURCE_EXHAUSTED", "quota", retry_info("0.5s")), RateLimitError, True, 0.5),
        (429, error_body(429, "RESOURCE_EXHAUSTED", "quota"), RateLimitError, True, None),
        (429, per_day_quota().body(), RateLimitError, False, 13.0),
        (400, error_body(400, "FAILED_PRECONDITION", "billing required"), LLMResponseException, False, None),
        (400, error_body(400, "INVALID_ARGUMENT", "bad field"), LLMResponseException, False, None),
        (500, error_body(500, "INTERNAL", "oops"), LLMResponseException, True, None),
        (503, error_body(503, "UNAVAILABLE", "overloaded"), LLMResponseException, True, None),
        (504, error_body(504, "DEADLINE_EXCEEDED", "slow"), LLMResponseException, True, None),
        (502, b"<html>Bad Gateway</html>", LLMResponseException, True, None),
        (429, [error_body(429, "RESOURCE_EXHAUSTED", "wrapped", retry_info("3s"))], RateLimitError, True, 3.0),
    ],
    ids=[
        "bad-key",
        "permission",
        "unauthenticated",
        "not-found",
        "rate-34s",
        "rate-0.5s",
        "rate-no-hint",
        "per-day",
        "precondition",
        "invalid",
        "internal",
        "unavailable",
        "deadline",
        "html",
        "array-wrapped",
    ],
)
def test_error_bodies_map_to_classes(
    status: int, body: Any, kind: type[LLMException], retryable: bool, retry_after: float | None
) -> None:
    error = mapped(status, body)
    assert type(error) is kind
    assert (error.retryable, error.retry_after, error.status_code) == (retryable, retry_after, status)


def test_error_text_reads_status_and_message() -> None:
    wire = GeminiWire()
    assert wire.error_text(error_body(404, "NOT_FOUND", "no model")) == "NOT_FOUND: no model"
    assert wire.error_text({"error": {"status": "INTERNAL"}}) == "INTERNAL"
    assert wire.error_text({"error": {"message": "plain"}}) == "plain"
    assert wire.error_text({"detail": "not google's shape"}) is None
    assert wire.error_text("text") is None
    assert "lists the models this key can use" in str(mapped(404, error_body(404, "NOT_FOUND")))


def test_probe_problem_checks_the_answer_shape() -> None:
    wire, settings = GeminiWire(), GeminiSettings()
    assert wire.probe_problem({"models": []}, settings) is None
    assert wire.probe_problem({}, settings) is None
    assert wire.probe_problem(["x"], settings) == f"{BASE_URL}/models did not answer with Gemini's model list"


def test_cassettes_hold_no_key_parameter() -> None:
    for path in Path(HTTP_CASSETTES / "gemini").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert "key=" not in text and "x-goog-api-key" not in text, path.name
