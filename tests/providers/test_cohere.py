"""The cohere provider, replayed from cassettes/http/cohere (re-record: docs/providers/cohere.md).

The scenarios every HTTP provider shares are in ``test_http_contract.py``; these are Cohere's own.
Cassette tests go through ``case``: the cassette in replay, the local wire server
(``tests/support/cohere_wire.py``) when recording without a key, the real API when
``COHERE_API_KEY`` or ``CO_API_KEY`` is set. The unit tests below them need no cassette.
"""

from __future__ import annotations

import json
import logging
import re
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
from obra_llm.providers.cohere import CohereLLM, CohereSettings, CohereWire
from obra_llm.tokens import estimate_tokens
from tests.support.cohere_wire import (
    Answer,
    chat_reply,
    error_reply,
    quality_answer,
    stream_reply,
)
from tests.support.fakes import FakeClock
from tests.support.http_cases import ApiCase, Maker, ProviderSpec
from tests.support.http_specs import COHERE
from tests.support.wire_calls import mapped_error, request_body

MODEL = COHERE.model
SCORED = re.compile(r"^SCORE: \d+")
TRIAL_LIMIT = (
    "You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free "
    "or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'."
)

@pytest.fixture
def spec() -> ProviderSpec:
    return COHERE


# -- cassette tests -------------------------------------------------------------------------------


def test_generate_maps_every_option(make: Maker) -> None:
    llm = make(temperature=0.3)
    answer = llm.generate("Say OK.", system="Be terse.", temperature=0.0, max_tokens=16, stop=["\n\n"], seed=42)
    assert answer


@pytest.mark.wire_only
def test_rate_limited_then_success_honours_retry_after(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(error_reply(429, TRIAL_LIMIT, {"Retry-After": "3"}))
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert clock.sleeps == [3.0]
    assert llm.metrics["retries"] == 1 and llm.metrics["calls"] == 1 and llm.metrics["errors"] == 0


@pytest.mark.wire_only
def test_rate_limited_without_hint_backs_off(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(error_reply(429, TRIAL_LIMIT))
    llm = make()
    assert "".join(llm.generate_stream(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)).startswith("SCORE: 8")
    assert len(clock.sleeps) == 1 and 0.375 <= clock.sleeps[0] <= 0.5, "first backoff: 0.5 s less up to 25 % jitter"
    assert llm.metrics["retries"] == 1


@pytest.mark.wire_only
def test_rate_limit_is_raised_when_retries_run_out(case: ApiCase, make: Maker) -> None:
    case.script(error_reply(429, TRIAL_LIMIT))
    with pytest.raises(RateLimitError) as caught:
        make(retry_attempts=1).generate("hello")
    assert caught.value.status_code == 429 and caught.value.retryable is True
    assert "Trial key" in str(caught.value)


def test_authentication_failure_is_not_retried(make: Maker, clock: FakeClock) -> None:
    llm = make(api_key="wrong-key-not-a-secret")
    with pytest.raises(AuthenticationError) as caught:
        llm.generate("hello")
    assert caught.value.status_code == 401
    assert caught.value.retryable is False
    assert "COHERE_API_KEY" in str(caught.value)
    assert clock.sleeps == []
    assert llm.metrics["errors"] == 1


@pytest.mark.wire_only
def test_invalid_token_498_is_an_authentication_error(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(error_reply(498, "invalid token"))
    llm = make()
    with pytest.raises(AuthenticationError) as caught:
        list(llm.generate_stream("hello"))
    assert caught.value.status_code == 498
    assert caught.value.retryable is False
    assert "invalid token" in str(caught.value)
    assert clock.sleeps == []


@pytest.mark.wire_only
def test_error_after_200_mid_stream(case: ApiCase, make: Maker) -> None:
    failure = "internal server error, this has been reported to our developers"
    case.script(stream_reply(Answer(pieces=["SCORE:"]), error=failure))
    llm = make()
    stream = llm.generate_stream("Rate this.")
    assert next(stream) == "SCORE:"
    with pytest.raises(LLMResponseException) as caught:
        next(stream)
    assert failure in str(caught.value) and "ERROR" in str(caught.value)
    assert caught.value.retryable is False
    assert llm.metrics["errors"] == 1


@pytest.mark.wire_only
def test_stream_cut_before_message_end(case: ApiCase, make: Maker) -> None:
    case.script(stream_reply(Answer(pieces=["SCORE: 8", " and then"]), end=False))
    with pytest.raises(LLMResponseException, match="ended before its message-end"):
        list(make(retry_attempts=1).generate_stream("Rate this."))


@pytest.mark.wire_only
def test_split_utf8_chunks_stream_intact(case: ApiCase, make: Maker) -> None:
    case.script(stream_reply(Answer(pieces=["Schöne ", "Grüße ✓ ", "日本語"]), chunk_size=3))
    assert "".join(make().generate_stream("Greet me.")) == "Schöne Grüße ✓ 日本語"


@pytest.mark.wire_only
def test_finish_reason_error_is_a_response_error(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(chat_reply(Answer(pieces=[], finish_reason="ERROR")))
    with pytest.raises(LLMResponseException, match="finish_reason ERROR") as caught:
        make().generate("hello")
    assert caught.value.retryable is False
    assert clock.sleeps == []


@pytest.mark.wire_only
def test_finish_reason_timeout_is_retried(case: ApiCase, make: Maker, clock: FakeClock) -> None:
    case.script(chat_reply(Answer(pieces=[], finish_reason="TIMEOUT")))
    llm = make()
    assert llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM).startswith("SCORE: 8")
    assert len(clock.sleeps) == 1 and llm.metrics["retries"] == 1


def test_model_info_reads_context_length(make: Maker) -> None:
    info = make().get_model_info()
    assert info["provider"] == "cohere"
    assert info["model_name"] == MODEL
    assert info["type"] == "http"
    assert isinstance(info["context_length"], int) and info["context_length"] > 0
    assert "chat" in info["details"]["endpoints"]


def test_is_available_names_a_refused_key(make: Maker) -> None:
    llm = make(api_key="wrong-key-not-a-secret")
    problem = llm.availability_problem()
    assert problem is not None and "401" in problem and "COHERE_API_KEY" in problem
    assert llm.is_available() is False


# -- unit tests: configuration and options ---------------------------------------------------------

KEY = "co-live-0123456789abcdefSECRET"


def refuse(request: httpx.Request) -> httpx.Response:
    msg = f"no request was expected: {request.method} {request.url}"
    raise AssertionError(msg)


def offline(handler: Callable[[httpx.Request], httpx.Response] = refuse, **environ: str) -> CohereLLM:
    return CohereLLM(transport=httpx.MockTransport(handler), environ=environ)


def test_missing_key_names_both_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        offline().initialize({"type": "cohere"})
    assert "COHERE_API_KEY" in str(caught.value) and "CO_API_KEY" in str(caught.value)


@pytest.mark.parametrize(
    ("environ", "config", "sent"),
    [
        ({"CO_API_KEY": "from-co"}, {}, "from-co"),
        ({"COHERE_API_KEY": "from-cohere", "CO_API_KEY": "from-co"}, {}, "from-cohere"),
        ({"COHERE_API_KEY": "from-cohere"}, {"api_key": "from-config"}, "from-config"),
    ],
    ids=["co-variable", "cohere-variable-first", "config-first"],
)
def test_key_sources_in_order(environ: dict[str, str], config: dict[str, Any], sent: str) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"models": []})

    with offline(answer, **environ) as llm:
        llm.initialize({"type": "cohere"} | config)
        assert llm.is_available() is True
    assert seen == [f"Bearer {sent}"]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"stop": ["a", "b", "c", "d", "e", "f"]}, "at most 5"),
        ({"temperature": 2.5}, "temperature=2.5"),
        ({"top_p": 0.9}, "unknown option 'top_p'"),
        ({"max_tokens": 0}, "max_tokens=0"),
        ({"seed": 1.5}, "seed=1.5"),
    ],
)
def test_options_it_cannot_honour_are_rejected_before_any_request(options: dict[str, Any], problem: str) -> None:
    with offline(COHERE_API_KEY=KEY) as llm:
        llm.initialize({"type": "cohere"})
        with pytest.raises(ConfigError, match=re.escape(problem)):
            llm.generate("hello", **options)
        with pytest.raises(ConfigError, match=re.escape(problem)):
            llm.generate_stream("hello", **options)


def test_temperature_setting_keeps_the_shared_range() -> None:
    with offline(COHERE_API_KEY=KEY) as llm:
        llm.initialize({"type": "cohere", "temperature": 2.0})
        with pytest.raises(ConfigError, match="temperature"):
            llm.initialize({"type": "cohere", "temperature": 2.1})


def test_five_stop_sequences_are_sent() -> None:
    bodies: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=chat_reply(quality_answer()).body)

    with offline(answer, COHERE_API_KEY=KEY) as llm:
        llm.initialize({"type": "cohere"})
        llm.generate("hello", stop=["1", "2", "3", "4", "5"])
    assert bodies[0]["stop_sequences"] == ["1", "2", "3", "4", "5"]


CONFIGURED = CohereSettings(temperature=0.3, max_tokens=512, system="You review code.")


@pytest.mark.parametrize(
    ("settings", "options"),
    [
        (CohereSettings(), {}),
        (CONFIGURED, {}),
        (CONFIGURED, {"system": "Be terse.", "temperature": 0.0, "max_tokens": 16, "stop": ["\n\n"], "seed": 42}),
    ],
    ids=["bare", "from-settings", "every-option"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_request_body_snapshot(
    snapshot: SnapshotAssertion, settings: CohereSettings, options: GenerateOptions, stream: bool
) -> None:
    body = request_body(CohereLLM.wire, settings, "Rate this change.", options, stream=stream)
    assert json.loads(json.dumps(body)) == snapshot


# -- unit tests: responses, streams and errors ------------------------------------------------------

WIRE = CohereWire()
SETTINGS = CohereSettings(api_key=Secret(KEY))


def test_usage_counts_tokens_not_billed_units(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="obra_llm.providers.cohere")
    completion = WIRE.process_response(chat_reply(quality_answer()).body)
    assert completion == Completion(
        text="SCORE: 8\nThe change validates the port range and keeps the happy path.",
        prompt_tokens=96,
        completion_tokens=17,
        stop_reason="COMPLETE",
    )
    assert "billed units: input 74, output 17" in caplog.text


@pytest.mark.parametrize(
    ("usage", "counts"),
    [
        ({"billed_units": {"input_tokens": 5, "output_tokens": 4}}, (5, 4)),
        ({"tokens": {"input_tokens": 71.0, "output_tokens": 4.0}}, (71, 4)),
        ({"tokens": {"output_tokens": True}}, (0, 0)),
        ({"tokens": {"input_tokens": float("inf"), "output_tokens": -3}}, (0, 0)),
        (None, (0, 0)),
    ],
    ids=["billed-only", "float-counts", "bool-is-no-count", "nonsense", "absent"],
)
def test_usage_variants(usage: Any, counts: tuple[int, int]) -> None:
    body = {"finish_reason": "MAX_TOKENS", "message": {"role": "assistant", "content": []}, "usage": usage}
    completion = WIRE.process_response(body)
    assert (completion.prompt_tokens, completion.completion_tokens) == counts
    assert completion.stop_reason == "MAX_TOKENS"


def test_answer_text_joins_text_items_only() -> None:
    content = [
        {"type": "thinking", "thinking": "Let me see."},
        {"type": "text", "text": "SCORE: 8"},
        {"type": "text", "text": "\nFine."},
    ]
    body = {"finish_reason": "COMPLETE", "message": {"role": "assistant", "content": content}}
    assert WIRE.process_response(body).text == "SCORE: 8\nFine."


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "not an object"),
        ({"finish_reason": "COMPLETE"}, "no message.content"),
        ({"finish_reason": "COMPLETE", "message": {"content": "text"}}, "no message.content"),
        ({"finish_reason": "ERROR", "message": {"content": []}}, "finish_reason ERROR"),
    ],
)
def test_unusable_answers_raise(body: Any, problem: str) -> None:
    with pytest.raises(LLMResponseException, match=problem):
        WIRE.process_response(body)


def test_timeout_finish_reason_is_retryable() -> None:
    with pytest.raises(LLMResponseException) as caught:
        WIRE.process_response({"finish_reason": "TIMEOUT", "message": {"content": []}})
    assert caught.value.retryable is True


def wire_bytes(*frames: str) -> bytes:
    return "".join(frames).encode()


STREAM = wire_bytes(*stream_reply(quality_answer()).frames)
PIECES = list(quality_answer().pieces)
END = StreamEnd(prompt_tokens=96, completion_tokens=17, stop_reason="COMPLETE")


def read_stream(chunks: list[bytes]) -> list[str | StreamEnd]:
    return list(WIRE.process_stream(iter(chunks)))


def test_stream_yields_pieces_then_end() -> None:
    assert read_stream([STREAM]) == [*PIECES, END]


def test_stream_with_crlf_and_one_byte_chunks() -> None:
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert read_stream([crlf[index : index + 1] for index in range(len(crlf))]) == [*PIECES, END]


def test_stream_skips_pings_and_unknown_events() -> None:
    noise = [
        ": keep-alive\n\n",
        'event: debug\ndata: {"type":"debug","prompt":"..."}\n\n',
        'event: tool-plan-delta\ndata: {"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will"}}}\n\n',
        'event: citation-start\ndata: {"type":"citation-start","index":0,"delta":{"message":{"citations":{}}}}\n\n',
        'event: content-delta\ndata: {"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":"hmm"}}}}\n\n',
    ]
    frames = list(stream_reply(quality_answer()).frames)
    mixed = [frames[0], *noise, *frames[1:4], *noise, *frames[4:]]
    assert read_stream([wire_bytes(*mixed)]) == [*PIECES, END]


def test_stream_stops_at_message_end() -> None:
    trailing = (
        STREAM + b'event: content-delta\ndata: {"type":"content-delta","delta":{"message":{"content":{"text":"late"}}}}\n\n'
    )
    assert read_stream([trailing]) == [*PIECES, END]


@pytest.mark.parametrize(
    ("body", "problem", "retryable"),
    [
        (STREAM.split(b"event: content-end")[0], "ended before its message-end", True),
        (STREAM.split(b"event: content-end")[0] + b"data: [DONE]\n\n", "ended before its message-end", True),
        (b"event: content-delta\ndata: {not json\n\n", "not JSON", False),
        (b"event: content-delta\ndata: [1, 2]\n\n", "not a JSON object", False),
        (wire_bytes(*stream_reply(Answer(pieces=[]), error="boom").frames), "finish_reason ERROR mid-stream: boom", False),
    ],
    ids=["eof", "done-first", "bad-json", "not-object", "error-end"],
)
def test_broken_streams_raise(body: bytes, problem: str, retryable: bool) -> None:
    with pytest.raises(LLMResponseException, match=re.escape(problem)) as caught:
        read_stream([body])
    assert caught.value.retryable is retryable


def test_stream_timeout_end_is_retryable() -> None:
    end = 'event: message-end\ndata: {"type":"message-end","delta":{"finish_reason":"TIMEOUT"}}\n\n'
    with pytest.raises(LLMResponseException, match="TIMEOUT") as caught:
        read_stream([end.encode()])
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"message": "invalid api token"}, "invalid api token"),
        ({"message": ""}, None),
        ({"message": {"nested": "object"}}, None),
        ({"detail": "elsewhere"}, None),
        (["message"], None),
        ("message", None),
    ],
)
def test_error_text(body: Any, text: str | None) -> None:
    assert WIRE.error_text(body) == text


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, LLMResponseException, False),
        (401, AuthenticationError, False),
        (402, LLMResponseException, False),
        (403, AuthenticationError, False),
        (404, ModelNotFoundError, False),
        (422, LLMResponseException, False),
        (429, RateLimitError, True),
        (498, AuthenticationError, False),
        (499, LLMResponseException, True),
        (500, LLMResponseException, True),
        (501, LLMResponseException, False),
        (503, LLMResponseException, True),
        (504, LLMResponseException, True),
    ],
)
def test_status_mapping(status: int, kind: type[LLMException], retryable: bool) -> None:
    response = httpx.Response(status, json={"message": "m"}, request=httpx.Request("POST", "https://api.cohere.com/v2/chat"))
    error = mapped_error(WIRE, response, SETTINGS)
    assert type(error) is kind
    assert error.retryable is retryable
    assert error.status_code == status and error.provider == "cohere"


def test_retry_after_is_kept_on_the_error() -> None:
    request = httpx.Request("POST", "https://api.cohere.com/v2/chat")
    response = httpx.Response(429, json={"message": TRIAL_LIMIT}, headers={"retry-after": "12"}, request=request)
    assert mapped_error(WIRE, response, SETTINGS).retry_after == 12.0


# -- unit tests: model facts, estimates, secrets ----------------------------------------------------


@pytest.mark.parametrize(
    ("model", "body", "context_length"),
    [
        (MODEL, {"name": MODEL, "context_length": 256000, "endpoints": ["chat"]}, 256000),
        (MODEL, {"name": MODEL, "context_length": 131072.0}, 131072),
        (MODEL, None, 256000),
        ("command-r-plus-08-2024", {"name": "command-r-plus-08-2024"}, 128000),
        ("command-r7b-12-2024", None, 128000),
        ("my-fine-tune-ft", None, None),
    ],
    ids=["reported", "float", "table", "table-when-unreported", "table-family", "unknown"],
)
def test_model_facts(model: str, body: Any, context_length: int | None) -> None:
    assert WIRE.model_facts(body, CohereSettings(model=model)).context_length == context_length


def test_model_request_quotes_the_model_id() -> None:
    request = WIRE.model_request(CohereSettings(model="team/fine tune"))
    assert request is not None and request.path == "/v1/models/team%2Ffine%20tune" and request.method == "GET"


def test_probe_problem_names_a_wrong_answer() -> None:
    assert WIRE.probe_problem({"models": []}, SETTINGS) is None
    assert (
        WIRE.probe_problem({"data": []}, SETTINGS) == "https://api.cohere.com/v1/models did not answer with Cohere's model list"
    )


def test_estimate_uses_the_o200k_approximation() -> None:
    text = "def parse_port(text):\n    return int(text)\n"
    with offline(COHERE_API_KEY=KEY) as llm:
        assert llm.estimate_tokens(text) == estimate_tokens(text, "gpt-4o") > 0
        llm.initialize({"type": "cohere"})
        assert llm.estimate_tokens(text) == estimate_tokens(text, "gpt-4o")


def test_the_key_never_shows() -> None:
    def leak(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/models/"):
            return httpx.Response(200, json={"name": MODEL, "context_length": 256000, "owner": KEY})
        return httpx.Response(401, json={"message": f"invalid api token {KEY}"})

    with offline(leak) as llm:
        llm.initialize({"type": "cohere", "api_key": KEY})
        with pytest.raises(AuthenticationError) as caught:
            llm.generate("hello")
        problem = llm.availability_problem()
        shown = [repr(llm), str(llm), repr(SETTINGS), str(SETTINGS), repr(caught.value), str(caught.value)]
        shown += [str(problem), repr(llm.get_model_info())]
    assert all(KEY not in text for text in shown)
    assert "**********" in str(caught.value)
