"""One ``FaultKit`` per HTTP provider: how to break it, in its own wire format.

A kit knows how to start the provider's local wire server, how to configure the provider
for a server URL, and how to build each fault the generic fault tests script: a normal
answer (streamed or whole, split into chunks anywhere), a retryable 5xx in the provider's
error body, a 429 carrying the provider's retry hint, an error after HTTP 200 in the
provider's stream form, a stream cut before its terminal event, and invalid JSON. The
shapes come from each wire module's own helpers (``tests/support/<provider>_wire.py``);
this module only assembles them and states what each provider raises for them.

Answers go out as raw UTF-8, as the real APIs send them: the wire modules write JSON with
``\\uXXXX`` escapes, which would keep every byte ASCII and never split a character.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import attrs

from obra_llm.errors import (
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    RateLimitError,
)
from obra_llm.providers.http_api import HttpLLM
from tests.support import anthropic_wire, cohere_wire, gemini_wire, mistral_wire, ollama_wire, openai_wire
from tests.support import http_specs as specs
from tests.support.chat_completions_wire import Answer as ChatAnswer
from tests.support.http_cases import ProviderSpec
from tests.support.http_specs import PRESETS, Preset
from tests.support.wire_server import Chunked, Json, Raw, Request, Sse, WireServer, sse_event

__all__ = [
    "ALL_KITS",
    "KITS",
    "FaultKit",
    "KeyedCohereServer",
    "Stream",
    "raw_utf8",
]

W = TypeVar("W", bound=WireServer)

#: A streamed body as the base server sends it.
Stream = Sse | Chunked
#: A whole answer's body.
Whole = Json | Raw


class KeyedCohereServer(cohere_wire.CohereWireServer):
    """Cohere's wire server accepting ``key`` instead of the fixed dummy key (for the secrets tests)."""

    def __init__(self, *, key: str = cohere_wire.ACCEPTED_KEY) -> None:
        super().__init__()
        self.key = key

    def _refused(self, request: Request) -> Json | None:
        if request.headers.get("authorization") == f"Bearer {self.key}":
            return None
        return super()._refused(request)


@attrs.frozen(kw_only=True)
class FaultKit(Generic[W]):
    """Everything the generic fault tests need to know about one HTTP provider."""

    #: The provider's one description (class, model, key rule), shared with the contract suite.
    spec: ProviderSpec
    #: Starts the wire server; ``key`` is the key it accepts (``None``: its default).
    server_type: Callable[..., W]
    key: str
    #: Whether ``server_type`` takes a ``key`` (Ollama's server checks none).
    checks_key: bool = True
    #: Path suffixes of the generation requests (what ``attempts`` counts).
    generation_paths: tuple[str, ...]
    #: The whole streamed body of an answer with these pieces.
    stream_body: Callable[[W, Sequence[str]], Stream]
    #: The non-streamed body of an answer with these pieces.
    whole_body: Callable[[W, Sequence[str]], Whole]
    #: A streamed body that ends cleanly without the provider's terminal event.
    partial_stream: Callable[[W, Sequence[str]], Stream]
    #: (prompt, completion) tokens the provider reports for an answer with these pieces.
    tokens: Callable[[Sequence[str]], tuple[int, int]]
    #: A retryable 5xx in the provider's error body.
    server_error: Callable[[], Any]
    #: A 429 asking to wait this many seconds, the provider's way (header or body).
    rate_limited: Callable[[float], Any]
    #: HTTP 200, these pieces, then the provider's own mid-stream error form.
    stream_error: Callable[[W, Sequence[str]], Any]
    stream_error_class: type[LLMException]
    stream_error_retryable: bool
    #: HTTP 200 and a stream whose first event is not JSON.
    invalid_stream: Callable[[], Stream]
    #: HTTP 200 and a stream whose first line is not UTF-8 (a ``Raw`` body: the base replies write text).
    invalid_utf8_stream: Raw = Raw(200, b'data: {"text": "\xff\xfe"}\n\n', "text/event-stream")
    #: What the provider's server sends while it has nothing to say: an SSE comment line by default.
    keep_alive: str = ": keep-alive\n\n"
    #: What each fault raises (the same for every provider today; a kit may differ).
    server_error_class: type[LLMException] = LLMResponseException
    rate_limit_class: type[LLMException] = RateLimitError
    truncated_class: type[LLMException] = LLMResponseException
    invalid_json_class: type[LLMException] = LLMResponseException
    reset_class: type[LLMException] = LLMConnectionException
    refused_class: type[LLMException] = LLMConnectionException
    timeout_class: type[LLMException] = LLMTimeoutException

    @property
    def name(self) -> str:
        return self.spec.provider

    @property
    def provider_type(self) -> type[HttpLLM[Any]]:
        return self.spec.llm

    @property
    def model(self) -> str:
        return self.spec.model

    # -- the server and the provider ---------------------------------------------------------

    @contextmanager
    def running(self, *, key: str | None = None) -> Iterator[W]:
        """The wire server, started; it accepts ``key`` (default: the kit's key)."""
        server = self.server_type(key=key or self.key) if self.checks_key else self.server_type()
        with server:
            yield server

    def config(self, url: str, *, key: str | None = None, **settings: Any) -> dict[str, Any]:
        """The provider config for a server at ``url``: the right key, a model it knows, ``settings``."""
        api_key = {"api_key": key or self.key}
        return {"type": self.name, "base_url": url, "model": self.model} | api_key | settings

    def make(
        self, url: str, *, clock: Callable[[], float], sleep: Callable[[float], None], key: str | None = None, **settings: Any
    ) -> HttpLLM[Any]:
        """An initialized provider for ``url`` with the injected clock and sleep (no environment)."""
        llm = self.provider_type(clock=clock, sleep=sleep, environ={})
        llm.initialize(self.config(url, key=key, **settings))
        return llm

    def attempts(self, server: WireServer) -> int:
        """How many generation requests the server has seen."""
        return sum(len(server.requests_to(path)) for path in self.generation_paths)

    # -- replies ---------------------------------------------------------------------------------

    def answer(self, server: W, pieces: Sequence[str], *, stream: bool, chunk_size: int | None = None) -> Stream | Whole:
        """A normal answer in raw UTF-8; ``chunk_size`` splits a stream's bytes anywhere."""
        if not stream:
            return _raw_whole(self.whole_body(server, pieces))
        return attrs.evolve(raw_utf8(self.stream_body(server, pieces)), chunk_size=chunk_size)

    def truncated(self, server: W, pieces: Sequence[str]) -> Stream:
        """The pieces, then a clean end of the body without the terminal event."""
        return raw_utf8(self.partial_stream(server, pieces))

    def reset(self, server: W, pieces: Sequence[str]) -> Stream:
        """The pieces, then the connection closes inside the chunked body."""
        return attrs.evolve(self.truncated(server, pieces), drop_connection=True)

    def slow_body(self, server: W, pieces: Sequence[str], stall: float) -> Stream:
        """The pieces, then nothing for ``stall`` seconds."""
        return attrs.evolve(self.truncated(server, pieces), stall=stall)

    def retry_after_beyond_cap(self, seconds: float = 3600.0) -> Any:
        """A 429 asking for a wait far beyond the default ``retry_after_max`` (60 s)."""
        return self.rate_limited(seconds)


# -- generic helpers ---------------------------------------------------------------------------

#: An invalid JSON body with status 200 (a cut-off object).
INVALID_JSON = Raw(200, b'{"id": "x", "choices": [{"message": ', "application/json")
#: A whole JSON body cut by a reset: headers say 200, the chunked body never ends.
RESET_WHOLE = Chunked(['{"id": "x", "choices": [{"message": '], content_type="application/json", drop_connection=True)
_LINE_BREAK = re.compile(r"(\r\n|\n|\r)")


def raw_utf8(reply: Stream) -> Stream:
    """``reply`` with every JSON line (NDJSON, or an SSE ``data:`` line) re-written in raw UTF-8.

    Re-serializing keeps key order and the compact separators the wire modules use, so only
    ``\\uXXXX`` escapes change; lines that are not single JSON values are left alone.
    """
    if isinstance(reply, Sse):
        return attrs.evolve(reply, frames=[_raw_text(frame) for frame in reply.frames])
    return attrs.evolve(reply, pieces=[_raw_text(piece) for piece in reply.pieces])


def _raw_text(text: str) -> str:
    parts = _LINE_BREAK.split(text)
    parts[::2] = [_raw_line(line) for line in parts[::2]]
    return "".join(parts)


def _raw_line(line: str) -> str:
    prefix, body = "", line
    if line.startswith("data:"):
        prefix, body = ("data: ", line[6:]) if line.startswith("data: ") else ("data:", line[5:])
    if not body.startswith(("{", "[")):
        return line
    try:
        value = json.loads(body)
    except ValueError:
        return line
    return prefix + json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _raw_whole(reply: Whole) -> Whole:
    if isinstance(reply, Raw):
        return reply
    body = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode()
    return Raw(reply.status, body, reply.content_type)


def _fixed(prompt: int, completion: int) -> Callable[[Sequence[str]], tuple[int, int]]:
    return lambda _pieces: (prompt, completion)


def _seconds(value: float) -> str:
    return f"{value:g}"


# -- ollama ----------------------------------------------------------------------------------------

_OLLAMA_MODEL = "qwen2.5-coder:32b"


def _ollama_lines(lines: Sequence[Mapping[str, Any]]) -> Chunked:
    """NDJSON as ``OllamaWireServer._chat`` writes it."""
    return Chunked([json.dumps(line, separators=(",", ":")) + "\n" for line in lines])


def _ollama_stream(_server: ollama_wire.OllamaWireServer, pieces: Sequence[str]) -> Stream:
    answer = ollama_wire.Answer(pieces=pieces)
    return _ollama_lines(
        [*(ollama_wire._piece(_OLLAMA_MODEL, piece) for piece in pieces), ollama_wire._final(_OLLAMA_MODEL, answer, whole=False)]
    )


def _ollama_partial(_server: ollama_wire.OllamaWireServer, pieces: Sequence[str]) -> Stream:
    return _ollama_lines([ollama_wire._piece(_OLLAMA_MODEL, piece) for piece in pieces])


def _ollama_whole(_server: ollama_wire.OllamaWireServer, pieces: Sequence[str]) -> Whole:
    return ollama_wire._json(200, ollama_wire._final(_OLLAMA_MODEL, ollama_wire.Answer(pieces=pieces), whole=True))


OLLAMA: FaultKit[ollama_wire.OllamaWireServer] = FaultKit(
    spec=specs.OLLAMA,
    server_type=ollama_wire.OllamaWireServer,
    checks_key=False,
    key="ollama-hosted-key-not-a-secret",
    generation_paths=("/api/chat",),
    keep_alive="\n",  # a blank NDJSON line
    stream_body=_ollama_stream,
    whole_body=_ollama_whole,
    partial_stream=_ollama_partial,
    tokens=lambda pieces: (26, len(pieces)),
    server_error=lambda: ollama_wire.Status(503, "server busy, please try again.  maximum pending requests exceeded"),
    rate_limited=lambda seconds: ollama_wire.Status(429, "too many requests", {"Retry-After": _seconds(seconds)}),
    stream_error=lambda _server, pieces: ollama_wire.MidStreamError(pieces, "an error was encountered while running the model"),
    stream_error_class=LLMResponseException,
    stream_error_retryable=False,
    invalid_stream=lambda: Chunked(['{"model": "qwen2.5-coder:32b", "message": \n']),
    invalid_utf8_stream=Raw(200, b'{"message": {"content": "\xff\xfe"}}\n', "application/x-ndjson"),
)

# -- anthropic -------------------------------------------------------------------------------------

_ANTHROPIC_MODEL = "claude-sonnet-4-5"

ANTHROPIC: FaultKit[anthropic_wire.AnthropicWireServer] = FaultKit(
    spec=specs.ANTHROPIC,
    server_type=anthropic_wire.AnthropicWireServer,
    key=anthropic_wire.DEFAULT_KEY,
    generation_paths=("/v1/messages",),
    keep_alive=sse_event({"type": "ping"}, "ping"),
    stream_body=lambda _server, pieces: Sse(anthropic_wire.answer_frames(_ANTHROPIC_MODEL, anthropic_wire.Answer(pieces))),
    whole_body=lambda _server, pieces: Json(200, anthropic_wire.message_body(_ANTHROPIC_MODEL, anthropic_wire.Answer(pieces))),
    partial_stream=lambda _server, pieces: Sse(
        anthropic_wire.answer_frames(_ANTHROPIC_MODEL, anthropic_wire.Answer(pieces), complete=False)
    ),
    tokens=_fixed(96, 17),
    server_error=lambda: anthropic_wire.error_reply(529, "overloaded_error", "Overloaded"),
    rate_limited=lambda seconds: anthropic_wire.error_reply(
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 input tokens per minute.",
        {"retry-after": _seconds(seconds)},
    ),
    stream_error=lambda _server, pieces: Sse(
        [
            *anthropic_wire.answer_frames(_ANTHROPIC_MODEL, anthropic_wire.Answer(pieces), complete=False),
            anthropic_wire.error_event("overloaded_error", "Overloaded"),
        ]
    ),
    stream_error_class=LLMResponseException,
    stream_error_retryable=True,
    invalid_stream=lambda: Sse([sse_event('{"type": "message_start", "message": ', "message_start")]),
)

# -- openai ----------------------------------------------------------------------------------------

_OPENAI_MODEL = "gpt-4o-mini"


def _without_done(reply: Sse) -> Sse:
    """A chat-completions stream without its last frame, ``data: [DONE]``."""
    return attrs.evolve(reply, frames=list(reply.frames[:-1]))


OPENAI: FaultKit[openai_wire.OpenAIWireServer] = FaultKit(
    spec=specs.OPENAI,
    server_type=openai_wire.OpenAIWireServer,
    key="sk-proj-unitTestKeyAbcdefghijklmnopqrstuvwxyz0123",
    generation_paths=("/chat/completions",),
    stream_body=lambda _server, pieces: openai_wire.stream_reply(ChatAnswer(pieces), model=_OPENAI_MODEL),
    whole_body=lambda server, pieces: server.completion({"model": _OPENAI_MODEL}, ChatAnswer(pieces)),
    partial_stream=lambda _server, pieces: _without_done(openai_wire.stream_reply(ChatAnswer(pieces), model=_OPENAI_MODEL)),
    tokens=_fixed(96, 17),
    server_error=openai_wire.server_overloaded,
    rate_limited=lambda seconds: openai_wire.rate_limited(
        retry_after_ms=_seconds(seconds * 1000), retry_after=_seconds(seconds)
    ),
    stream_error=lambda _server, pieces: openai_wire.mid_stream_error(
        pieces, "The server had an error while processing your request. Sorry about that!", model=_OPENAI_MODEL
    ),
    stream_error_class=LLMResponseException,
    stream_error_retryable=False,
    invalid_stream=lambda: Sse([sse_event('{"id": "chatcmpl-1", "choices": ')]),
)

# -- mistral ---------------------------------------------------------------------------------------

_MISTRAL_MODEL = "mistral-small-latest"

MISTRAL: FaultKit[mistral_wire.MistralWireServer] = FaultKit(
    spec=specs.MISTRAL,
    server_type=mistral_wire.MistralWireServer,
    key="mistral-unit-test-key-0123456789abcdef",
    generation_paths=("/v1/chat/completions",),
    stream_body=lambda _server, pieces: mistral_wire.stream_reply(ChatAnswer(pieces), model=_MISTRAL_MODEL),
    whole_body=lambda server, pieces: server.completion({"model": _MISTRAL_MODEL}, ChatAnswer(pieces)),
    partial_stream=lambda _server, pieces: _without_done(mistral_wire.stream_reply(ChatAnswer(pieces), model=_MISTRAL_MODEL)),
    tokens=_fixed(96, 17),
    server_error=lambda: mistral_wire.error_reply(
        503, mistral_wire._error_body("Service unavailable, please retry", type="service_unavailable", code="3000")
    ),
    rate_limited=lambda seconds: mistral_wire.rate_limited(retry_after=_seconds(seconds)),
    stream_error=lambda _server, pieces: mistral_wire.mid_stream_error(pieces, model=_MISTRAL_MODEL),
    stream_error_class=LLMResponseException,
    stream_error_retryable=False,
    invalid_stream=lambda: Sse([sse_event('{"id": "cmpl-1", "choices": ')]),
)

# -- gemini ----------------------------------------------------------------------------------------

_GEMINI_MODEL = "gemini-2.5-flash"


def _gemini_stream(server: gemini_wire.GeminiWireServer, reply: gemini_wire.Reply) -> Sse:
    """The ``?alt=sse`` body ``GeminiWireServer`` writes for ``reply``."""
    built = server._generate(_GEMINI_MODEL, reply, stream=True, sse=True)
    if not isinstance(built, Sse):
        raise TypeError(f"the Gemini wire server streamed {type(built).__name__}, not Sse")
    return built


def _gemini_whole(server: gemini_wire.GeminiWireServer, pieces: Sequence[str]) -> Whole:
    built = server._generate(_GEMINI_MODEL, gemini_wire.Answer(pieces), stream=False, sse=False)
    if not isinstance(built, Json):
        raise TypeError(f"the Gemini wire server answered {type(built).__name__}, not Json")
    return built


def _gemini_partial(server: gemini_wire.GeminiWireServer, pieces: Sequence[str]) -> Stream:
    """The chunks of a mid-stream error without the error: no chunk carries a ``finishReason``."""
    cut = _gemini_stream(server, gemini_wire.MidStreamError(pieces, gemini_wire.unavailable()))
    return attrs.evolve(cut, frames=list(cut.frames[:-1]))


GEMINI: FaultKit[gemini_wire.GeminiWireServer] = FaultKit(
    spec=specs.GEMINI,
    server_type=gemini_wire.GeminiWireServer,
    key=gemini_wire.VALID_KEY,
    generation_paths=(":generateContent", ":streamGenerateContent"),
    stream_body=lambda server, pieces: _gemini_stream(server, gemini_wire.Answer(pieces)),
    whole_body=_gemini_whole,
    partial_stream=_gemini_partial,
    tokens=_fixed(96, 17),
    server_error=gemini_wire.unavailable,
    rate_limited=lambda seconds: gemini_wire.rate_limited(f"{seconds:g}s"),
    stream_error=lambda _server, pieces: gemini_wire.MidStreamError(pieces, gemini_wire.unavailable()),
    stream_error_class=LLMResponseException,
    stream_error_retryable=True,
    invalid_stream=lambda: Sse(['data: {"candidates": [{"content": \r\n\r\n']),
)

# -- cohere ----------------------------------------------------------------------------------------

COHERE: FaultKit[KeyedCohereServer] = FaultKit(
    spec=specs.COHERE,
    server_type=KeyedCohereServer,
    key=cohere_wire.ACCEPTED_KEY,
    generation_paths=("/v2/chat",),
    stream_body=lambda _server, pieces: cohere_wire.stream_reply(cohere_wire.Answer(pieces)),
    whole_body=lambda _server, pieces: cohere_wire.chat_reply(cohere_wire.Answer(pieces)),
    partial_stream=lambda _server, pieces: cohere_wire.stream_reply(cohere_wire.Answer(pieces), end=False),
    tokens=_fixed(71, 4),
    server_error=lambda: cohere_wire.error_reply(500, "internal server error, this has been reported to our developers"),
    rate_limited=lambda seconds: cohere_wire.error_reply(
        429, "You are past the per minute request limit, please wait and try again later.", {"retry-after": _seconds(seconds)}
    ),
    stream_error=lambda _server, pieces: cohere_wire.stream_reply(cohere_wire.Answer(pieces), error="internal server error"),
    stream_error_class=LLMResponseException,
    stream_error_retryable=False,
    invalid_stream=lambda: Sse([sse_event('{"type": "message-start", "id": ', "message-start")]),
)

# -- the OpenAI-compatible presets: OpenAI's faults, on each preset's own server ---------------------


def _preset_kit(preset: Preset) -> FaultKit[Any]:
    return attrs.evolve(
        OPENAI,
        spec=preset.spec(),
        server_type=preset.server,
    )


#: Every HTTP provider's kit, by provider name.
_OWN_KITS: tuple[FaultKit[Any], ...] = (OLLAMA, ANTHROPIC, OPENAI, MISTRAL, GEMINI, COHERE)
KITS: Mapping[str, FaultKit[Any]] = {kit.name: kit for kit in (*_OWN_KITS, *(_preset_kit(preset) for preset in PRESETS))}
ALL_KITS: tuple[FaultKit[Any], ...] = tuple(KITS.values())
