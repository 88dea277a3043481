"""The anthropic provider: cassettes from cassettes/http/anthropic, and its translation unit by unit.

The scenarios every HTTP provider shares are in ``test_http_contract.py``; these are
Anthropic's own. Re-recording: docs/providers/anthropic.md (tests marked ``wire_only`` always
record from the local wire server).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from syrupy.assertion import SnapshotAssertion

from obra_llm import (
    AuthenticationError,
    ConfigError,
    LLMException,
    LLMResponseException,
    ModelNotFoundError,
    RateLimitError,
)
from obra_llm.calls import Completion, StreamEnd
from obra_llm.config.secret import Secret
from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.protocol import GenerateOptions
from obra_llm.providers.anthropic import (
    API_VERSION,
    DEFAULT_MAX_TOKENS,
    AnthropicLLM,
    AnthropicSettings,
    AnthropicWire,
)
from tests.support.anthropic_wire import (
    Answer,
    AnthropicWireServer,
    answer_frames,
    error_event,
    error_reply,
)
from tests.support.fakes import FakeClock
from tests.support.http_cases import ApiCase, Maker, ProviderSpec
from tests.support.http_specs import ANTHROPIC
from tests.support.wire_calls import mapped_error, request_body
from tests.support.wire_server import Sse, sse_event

MODEL = ANTHROPIC.model
WRONG_KEY = "not-the-right-key-0123456789"


def _body(**fields: Any) -> dict[str, Any]:
    """A valid ``/v1/messages`` body with ``fields`` changed."""
    return {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]} | fields


@pytest.fixture
def spec() -> ProviderSpec:
    return ANTHROPIC


# -- cassettes ---------------------------------------------------------------------------------


@pytest.mark.wire_only
def test_stream_usage_is_read_from_the_events(make: Maker) -> None:
    llm = make()
    assert "".join(llm.generate_stream(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)).startswith("SCORE: 8")
    assert (llm.metrics["prompt_tokens"], llm.metrics["completion_tokens"]) == (96, 17)


def test_generate_maps_every_option(make: Maker) -> None:
    llm = make()
    answer = llm.generate("Say OK.", system="Be terse.", temperature=0.0, max_tokens=16, stop=["\n\nEND"], timeout=30)
    assert answer


@pytest.mark.wire_only
def test_rate_limited_then_success(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(
        error_reply(
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests per minute.",
            {
                "retry-after": "7",
                "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "0",
                "anthropic-ratelimit-requests-reset": "2026-11-26T03:00:07Z",
            },
        )
    )
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert clock.sleeps == [7.0]
    assert llm.metrics["retries"] == 1 and llm.metrics["errors"] == 0


@pytest.mark.wire_only
def test_overloaded_529_then_success(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(error_reply(529, "overloaded_error", "Overloaded"))
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert len(clock.sleeps) == 1
    assert llm.metrics["retries"] == 1 and llm.metrics["calls"] == 1 and llm.metrics["errors"] == 0


def test_authentication_failure(make: Maker, clock: FakeClock) -> None:
    llm = make(api_key=WRONG_KEY)
    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hello")
    error = caught.value
    assert error.status_code == 401
    assert error.retryable is False
    assert "authentication_error" in str(error) and "ANTHROPIC_API_KEY" in str(error)
    assert WRONG_KEY not in str(error) and WRONG_KEY not in repr(error)
    assert clock.sleeps == []
    assert llm.metrics["errors"] == 1


def test_bad_request_is_not_retried(make: Maker, clock: FakeClock) -> None:
    llm = make()
    with pytest.raises(LLMResponseException) as caught:
        llm.generate("hello", max_tokens=1_000_000)
    assert type(caught.value) is LLMResponseException
    assert caught.value.status_code == 400
    assert "invalid_request_error" in str(caught.value) and "max_tokens" in str(caught.value)
    assert caught.value.retryable is False
    assert clock.sleeps == []


@pytest.mark.wire_only
def test_error_event_after_text_raises(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    frames = answer_frames(MODEL, Answer(pieces=["SCORE:"]), complete=False)
    case.script(Sse([*frames, error_event("overloaded_error", "Overloaded")]))
    llm = make()
    stream = llm.generate_stream("Rate this.")
    assert next(stream) == "SCORE:"
    with pytest.raises(LLMResponseException, match="overloaded_error: Overloaded") as caught:
        next(stream)
    assert caught.value.retryable is True, "overloaded is transient, but a started stream is never retried"
    assert clock.sleeps == []
    assert llm.metrics["retries"] == 0 and llm.metrics["errors"] == 1


@pytest.mark.wire_only
def test_error_event_before_text_is_retried(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    frames = answer_frames(MODEL, Answer(pieces=[]), complete=False)
    case.script(Sse([*frames, error_event("overloaded_error", "Overloaded")]))
    llm = make()
    assert "".join(llm.generate_stream(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)).startswith("SCORE: 8")
    assert len(clock.sleeps) == 1
    assert llm.metrics["retries"] == 1 and llm.metrics["errors"] == 0


@pytest.mark.wire_only
def test_split_utf8_chunks_stream_intact(case: ApiCase, make: Maker) -> None:
    case.script(Sse(answer_frames(MODEL, Answer(pieces=["Schöne ", "Grüße ✓ ", "日本語"])), chunk_size=5))
    llm = make()
    assert "".join(llm.generate_stream("Greet me.")) == "Schöne Grüße ✓ 日本語"


def test_model_info_reads_context_length(make: Maker) -> None:
    info = make().get_model_info()
    assert info["provider"] == "anthropic"
    assert info["model_name"] == MODEL
    assert isinstance(info["context_length"], int) and info["context_length"] > 0
    assert info["details"]["max_input_tokens"] == info["context_length"]


def test_is_available_names_a_refused_key(make: Maker) -> None:
    problem = make(api_key=WRONG_KEY).availability_problem()
    assert problem is not None
    assert "/v1/models" in problem and "401" in problem and "ANTHROPIC_API_KEY" in problem
    assert WRONG_KEY not in problem


# -- request mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "options"),
    [
        (AnthropicSettings(model=MODEL), {}),
        (AnthropicSettings(model=MODEL, temperature=0.3, max_tokens=512, system="From the config."), {}),
        (
            AnthropicSettings(model=MODEL, temperature=0.3, max_tokens=512, system="From the config."),
            {"system": "Be terse.", "temperature": 0.0, "max_tokens": 16, "stop": ["\n\nEND", "###"], "timeout": 30},
        ),
    ],
    ids=["defaults", "config", "every-option"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_request_body_snapshot(
    snapshot: SnapshotAssertion, settings: AnthropicSettings, options: GenerateOptions, stream: bool
) -> None:
    body = request_body(AnthropicLLM.wire, settings, "Rate this change.", options, stream=stream)
    assert json.loads(json.dumps(body)) == snapshot


def test_max_tokens_is_always_sent() -> None:
    assert request_body(AnthropicLLM.wire, AnthropicSettings(), "hi", {}, stream=False)["max_tokens"] == DEFAULT_MAX_TOKENS
    assert request_body(AnthropicLLM.wire, AnthropicSettings(max_tokens=512), "hi", {}, stream=False)["max_tokens"] == 512
    assert request_body(AnthropicLLM.wire, AnthropicSettings(max_tokens=512), "hi", {"max_tokens": 16}, stream=False)["max_tokens"] == 16


def test_empty_system_is_not_sent() -> None:
    assert "system" not in request_body(AnthropicLLM.wire, AnthropicSettings(system="cfg"), "hi", {"system": ""}, stream=False)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"seed": 42}, "option 'seed' is not supported by anthropic"),
        ({"temperature": 1.5}, "temperature=1.5 must be a number from 0 to 1"),
        ({"stop": ["\n\n"]}, "Anthropic refuses stop sequences made only of whitespace"),
        ({"stop": "END"}, "must be a list of non-empty strings"),
        ({"top_p": 0.9}, "unknown option 'top_p'"),
    ],
    ids=["seed", "temperature-above-1", "whitespace-stop", "stop-not-a-list", "unknown"],
)
def test_options_it_cannot_honour_are_rejected_before_sending(options: dict[str, Any], named: str) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=_message())

    with mocked(answer) as llm:
        with pytest.raises(ConfigError, match=named):
            llm.generate("hi", **options)
        with pytest.raises(ConfigError, match=named):
            next(llm.generate_stream("hi", **options))
    assert sent == []


def test_temperature_above_one_in_config_is_rejected() -> None:
    with pytest.raises(ConfigError, match="temperature") as caught, AnthropicLLM(environ={}) as llm:
        llm.initialize({"type": "anthropic", "api_key": "k", "temperature": 1.5})
    assert any("from 0 to 1" in problem for problem in caught.value.problems)


def test_missing_key_names_the_variable() -> None:
    with (
        pytest.raises(ConfigError, match=r"set ANTHROPIC_API_KEY.*api_key: \$\{ANTHROPIC_API_KEY\}"),
        AnthropicLLM(environ={}) as llm,
    ):
        llm.initialize({"type": "anthropic"})


@pytest.mark.parametrize(
    ("config", "environ", "sent_key"),
    [
        ({}, {"ANTHROPIC_API_KEY": "env-key"}, "env-key"),
        ({"api_key": "config-key"}, {"ANTHROPIC_API_KEY": "env-key"}, "config-key"),
    ],
    ids=["environment", "config-wins"],
)
def test_request_headers_url_and_body(config: dict[str, Any], environ: dict[str, str], sent_key: str) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=_message())

    with AnthropicLLM(transport=httpx.MockTransport(answer), environ=environ) as llm:
        llm.initialize({"type": "anthropic"} | config)
        assert llm.generate("hi", system="Be terse.") == "Rayleigh scattering."
    (request,) = sent
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == sent_key
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {
        "model": MODEL,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "system": "Be terse.",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


# -- response processing -----------------------------------------------------------------------


def test_text_joins_text_blocks_only_and_counts_cache_tokens() -> None:
    body = _message() | {
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "x"},
            {"type": "text", "text": "SCORE: 8"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {}},
            {"type": "text", "text": "\nFine."},
        ],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 7},
    }
    assert AnthropicWire().process_response(body) == Completion("SCORE: 8\nFine.", 115, 7, "max_tokens")


def test_null_cache_counts_mean_zero() -> None:
    body = _message() | {"usage": {"input_tokens": 10, "cache_creation_input_tokens": None, "output_tokens": 3}}
    completion = AnthropicWire().process_response(body)
    assert (completion.prompt_tokens, completion.completion_tokens) == (10, 3)


@pytest.mark.parametrize(
    ("body", "says"),
    [([], "not an object: list"), ({"type": "message"}, "no content list"), ({"type": "error"}, "type 'error'")],
)
def test_unusable_answers_raise(body: Any, says: str) -> None:
    with pytest.raises(LLMResponseException, match=says):
        AnthropicWire().process_response(body)


def _stream(frames: list[str], *, newline: str = "\n", chunk_size: int | None = None) -> list[str | StreamEnd]:
    payload = "".join(frames).replace("\n", newline).encode()
    size = chunk_size or len(payload)
    chunks = iter([payload[start : start + size] for start in range(0, len(payload), size)])
    return list(AnthropicWire().process_stream(chunks))


QUALITY_FRAMES = answer_frames(MODEL, Answer(pieces=["SCORE: 8", "\n", "Schöne Grüße ✓"]))
QUALITY_ITEMS: list[str | StreamEnd] = ["SCORE: 8", "\n", "Schöne Grüße ✓", StreamEnd(96, 17, "end_turn")]


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 3, 7, 64])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_stream_parses_whatever_the_chunking_and_line_endings(newline: str, chunk_size: int | None) -> None:
    assert _stream(QUALITY_FRAMES, newline=newline, chunk_size=chunk_size) == QUALITY_ITEMS


def test_stream_ignores_ping_unknown_events_and_non_text_deltas() -> None:
    frames = [
        sse_event({"type": "ping"}, "ping"),
        QUALITY_FRAMES[0],
        "event: future_event\ndata: not json at all\n\n",
        ": a comment line\n\n",
        sse_event(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
            "content_block_delta",
        ),
        sse_event(
            {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{"}},
            "content_block_delta",
        ),
        *QUALITY_FRAMES[1:],
    ]
    assert _stream(frames) == QUALITY_ITEMS


def test_stream_usage_is_cumulative_so_the_last_delta_wins() -> None:
    start = {
        "type": "message_start",
        "message": {"usage": {"input_tokens": 31, "cache_read_input_tokens": 9, "output_tokens": 1}},
    }
    frames = [
        sse_event(start, "message_start"),
        sse_event({"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"output_tokens": 5}}, "message_delta"),
        sse_event(
            {"type": "message_delta", "delta": {"stop_reason": "stop_sequence"}, "usage": {"output_tokens": 12}}, "message_delta"
        ),
        sse_event({"type": "message_stop"}, "message_stop"),
    ]
    assert _stream(frames) == [StreamEnd(40, 12, "stop_sequence")]


def test_stream_delta_repeating_input_usage_replaces_the_start_counts() -> None:
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 31, "output_tokens": 1}}}
    usage = {"input_tokens": 31, "cache_creation_input_tokens": 4, "cache_read_input_tokens": 0, "output_tokens": 9}
    frames = [
        sse_event(start, "message_start"),
        sse_event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}, "message_delta"),
        sse_event({"type": "message_stop"}, "message_stop"),
    ]
    assert _stream(frames) == [StreamEnd(35, 9, "end_turn")]


def test_stream_without_message_stop_is_cut() -> None:
    with pytest.raises(LLMResponseException, match="ended before its message_stop") as caught:
        _stream(QUALITY_FRAMES[:-1])
    assert caught.value.retryable is True


def test_stream_stops_reading_at_message_stop() -> None:
    assert _stream([*QUALITY_FRAMES, "event: content_block_delta\ndata: {broken\n\n"]) == QUALITY_ITEMS


def test_stream_event_with_broken_json_raises() -> None:
    with pytest.raises(LLMResponseException, match="content_block_delta event whose data is not JSON"):
        _stream([QUALITY_FRAMES[0], "event: content_block_delta\ndata: {broken\n\n"])


@pytest.mark.parametrize(
    ("error_type", "kind", "retryable"),
    [
        ("overloaded_error", LLMResponseException, True),
        ("api_error", LLMResponseException, True),
        ("timeout_error", LLMResponseException, True),
        ("rate_limit_error", RateLimitError, True),
        ("authentication_error", AuthenticationError, False),
        ("permission_error", AuthenticationError, False),
        ("billing_error", RateLimitError, False),
        ("not_found_error", ModelNotFoundError, False),
        ("invalid_request_error", LLMResponseException, False),
        ("brand_new_error", LLMResponseException, False),
    ],
)
def test_stream_error_event_classes(error_type: str, kind: type[LLMException], retryable: bool) -> None:
    with pytest.raises(LLMException) as caught:
        _stream([QUALITY_FRAMES[0], error_event(error_type, "Something happened")])
    assert type(caught.value) is kind
    assert caught.value.retryable is retryable
    assert f"mid-stream: {error_type}: Something happened" in str(caught.value)


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}, "request_id": "req_1"},
            "rate_limit_error: slow down",
        ),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "overloaded_error: Overloaded"),
        ({"type": "error", "error": {"type": "api_error"}}, "api_error"),
        ({"type": "error", "error": {"message": "no type"}}, "no type"),
        ({"error": "a proxy's plain string"}, "a proxy's plain string"),
        ({"type": "error", "error": {}}, None),
        ({"error": ""}, None),
        ({"message": "not Anthropic's shape"}, None),
        ([1, 2], None),
    ],
)
def test_error_text_variants(body: Any, text: str | None) -> None:
    assert AnthropicWire().error_text(body) == text


@pytest.mark.parametrize(
    ("status", "error_type", "headers", "kind", "retryable", "retry_after"),
    [
        (400, "invalid_request_error", {}, LLMResponseException, False, None),
        (401, "authentication_error", {}, AuthenticationError, False, None),
        (402, "billing_error", {}, RateLimitError, False, None),
        (403, "permission_error", {}, AuthenticationError, False, None),
        (404, "not_found_error", {}, ModelNotFoundError, False, None),
        (413, "request_too_large", {}, LLMResponseException, False, None),
        (429, "rate_limit_error", {"retry-after": "7"}, RateLimitError, True, 7.0),
        (500, "api_error", {}, LLMResponseException, True, None),
        (504, "timeout_error", {}, LLMResponseException, True, None),
        (529, "overloaded_error", {}, LLMResponseException, True, None),
        (529, "overloaded_error", {"x-should-retry": "false"}, LLMResponseException, False, None),
    ],
)
def test_status_errors_map_to_classes(
    status: int,
    error_type: str,
    headers: dict[str, str],
    kind: type[LLMException],
    retryable: bool,
    retry_after: float | None,
) -> None:
    body = {"type": "error", "error": {"type": error_type, "message": "Something happened"}, "request_id": "req_1"}
    response = httpx.Response(
        status, json=body, headers=headers, request=httpx.Request("POST", "https://api.anthropic.com/v1/messages")
    )
    wire = AnthropicWire()
    detail = wire.error_text(body)
    assert detail == f"{error_type}: Something happened"
    error = mapped_error(wire, response, AnthropicSettings(model=MODEL))
    assert type(error) is kind
    assert (error.status_code, error.retryable, error.retry_after, error.provider) == (
        status,
        retryable,
        retry_after,
        "anthropic",
    )
    assert detail in str(error)


def test_an_error_page_that_is_not_json_is_shown_as_text() -> None:
    page = b"<html><body>413 Request Entity Too Large</body></html>"
    with mocked(lambda _request: httpx.Response(413, content=page, headers={"content-type": "text/html"})) as llm:
        with pytest.raises(LLMResponseException, match="413 Request Entity Too Large") as caught:
            llm.generate("hi")
    assert caught.value.retryable is False


# -- secrets, model info, availability -----------------------------------------------------------


def test_the_key_never_shows() -> None:
    key = "sk-ant-api03-" + "S3CRET" * 8
    refused = {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
    with mocked(lambda _request: httpx.Response(401, json=refused), api_key=key) as llm:
        with pytest.raises(AuthenticationError) as caught:
            llm.generate("hi")
        info = llm.get_model_info()
        shown = [repr(llm), str(llm), str(caught.value), repr(caught.value), repr(info), str(llm.availability_problem())]
    settings = AnthropicSettings(api_key=Secret(key))
    shown += [repr(settings), str(settings)]
    assert [text for text in shown if key in text] == []


@pytest.mark.parametrize(
    ("model", "body", "context"),
    [
        (MODEL, {"type": "model", "id": MODEL, "max_input_tokens": 1_000_000, "max_tokens": 64000}, 1_000_000),
        (MODEL, {"type": "model", "id": MODEL}, 200_000),
        (MODEL, None, 200_000),
        ("claude-3-5-haiku-20241022", None, 200_000),
        ("claude-2.0", None, 100_000),
        ("my-fine-tune", None, None),
    ],
    ids=["from-api", "api-silent", "api-failed", "dated-id", "old-family", "unknown"],
)
def test_model_facts(model: str, body: Any, context: int | None) -> None:
    facts = AnthropicWire().model_facts(body, AnthropicSettings(model=model))
    assert facts.context_length == context


def test_model_info_falls_back_to_the_table_when_the_api_fails() -> None:
    with mocked(lambda _request: httpx.Response(500, json={"type": "error", "error": {"type": "api_error"}})) as llm:
        assert llm.get_model_info()["context_length"] == 200_000


def test_probe_problem() -> None:
    wire, settings = AnthropicWire(), AnthropicSettings(model=MODEL, base_url="https://proxy.example/anthropic")
    assert wire.probe_problem({"data": [], "has_more": False}, settings) is None
    assert wire.probe_problem({"models": []}, settings) == (
        "https://proxy.example/anthropic/v1/models did not answer with Anthropic's model list"
    )


def test_is_available_is_false_on_a_dead_endpoint() -> None:
    with AnthropicLLM(environ={"ANTHROPIC_API_KEY": "k"}) as llm:
        llm.initialize({"type": "anthropic", "base_url": f"http://127.0.0.1:{_free_port()}"})
        started = time.monotonic()
        assert llm.is_available() is False
        assert time.monotonic() - started < 1.0


def test_estimate_tokens_approximates_with_o200k() -> None:
    with AnthropicLLM(environ={"ANTHROPIC_API_KEY": "k"}) as llm:
        assert llm.estimate_tokens("") == 0
        assert 5 <= llm.estimate_tokens("Rayleigh scattering makes the sky blue.") <= 12
    assert "o200k_base" in (AnthropicWire.estimate_tokens.__doc__ or "")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
        (_body(seed=1), "seed: Extra inputs are not permitted"),
        (_body(temperature=1.5), "temperature: Input should be less than or equal to 1"),
        (_body(stop_sequences=["\n"]), "stop_sequences: each stop sequence must contain non-whitespace"),
        (_body(max_tokens=64001), f"max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for {MODEL}"),
    ],
    ids=["no-max-tokens", "seed", "temperature", "whitespace-stop", "max-tokens-over-limit"],
)
def test_wire_server_refuses_what_the_api_refuses(body: dict[str, Any], message: str) -> None:
    """The cassettes are only as faithful as the wire server: it must refuse what the API does."""
    headers = {"x-api-key": "test-key-not-a-secret", "anthropic-version": API_VERSION}
    with AnthropicWireServer() as server, httpx.Client(base_url=server.url, headers=headers) as client:
        response = client.post("/v1/messages", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}
    assert response.headers["request-id"].startswith("req_")


# -- helpers -----------------------------------------------------------------------------------


def _message() -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "Rayleigh scattering."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 12},
    }


def mocked(handler: Callable[[httpx.Request], httpx.Response], **config: Any) -> AnthropicLLM:
    """A provider whose HTTP goes to ``handler``; retries are instant (fake clock)."""
    clock = FakeClock()
    llm = AnthropicLLM(
        transport=httpx.MockTransport(handler), environ={"ANTHROPIC_API_KEY": "env-key"}, clock=clock, sleep=clock.sleep
    )
    llm.initialize({"type": "anthropic", "model": MODEL, "retry_attempts": 1} | config)
    return llm


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
