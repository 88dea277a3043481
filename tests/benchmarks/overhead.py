"""Per-call overhead: every obra_llm HTTP provider vs a raw pooled ``httpx.Client``, and the popular clients.

Every contender sends the same request to the same stub server over a kept-alive
connection and parses the whole answer (for streams: every line or event, ``json.loads``
each, collect the pieces). All the contenders of one provider and call kind are measured
in the same rounds: each round calls every contender once, one call at a time, in an
order that rotates from round to round, each call timed on its own, in an
order shuffled anew each round (a fixed rotation would always put the same contender right
after the same other one, and LiteLLM leaves background work behind that the next call
pays for), so that drift and bursts of load from elsewhere on the machine hit every
contender alike. The figure per
contender is the median call; *ratio* divides it by the raw httpx median, and *paired*
is the median of the ratios to the raw call of the same round (the most robust to drift).

The comparison clients (the official ``ollama``, ``openai`` and ``anthropic`` packages,
LiteLLM) are imported by name at run time: they are the optional ``bench`` extra, and a
missing or failing one is reported as ``n/a (why)``, never an error of the run. Slow
contenders (LiteLLM, ``isolated``) are measured after the main rounds, alternating with raw
httpx alone for ``max_calls`` rounds, and their ratio is to the raw calls of those rounds:
the threads LiteLLM starts for its logging callbacks would otherwise slow down whichever
contender comes next.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata
from typing import Any, Literal

import attrs
import httpx

import obra_llm
from tests.benchmarks.stub_server import MODEL, TEXT

__all__ = [
    "HTTP_PROVIDERS",
    "PROMPT",
    "CallGroup",
    "Contender",
    "ProviderCase",
    "Timing",
    "Unavailable",
    "Wire",
    "measure_group",
    "provider_case",
    "provider_groups",
    "raw_call",
    "transport_call",
]

PROMPT = "Rate this diff from 0 to 10: ..."
API_KEY = "bench-key"
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": PROMPT}]
HTTP_PROVIDERS = ("ollama", "openai", "anthropic", "mistral", "gemini", "cohere")
Kind = Literal["generate", "generate_stream"]
KINDS: tuple[Kind, ...] = ("generate", "generate_stream")
#: obra_llm, the raw ``httpx.Client`` baseline, httpx's bare transport under both, a comparison client.
Role = Literal["ours", "raw", "floor", "peer"]
#: LiteLLM's model cost map is fetched from the network at import unless this is set.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@attrs.frozen
class Contender:
    """One way to make the call: ``call()`` returns the answer text."""

    name: str
    role: Role
    call: Callable[[], str]
    #: Measured on its own against raw httpx, for this many rounds, after the main rounds.
    max_calls: int | None = None

    @property
    def isolated(self) -> bool:
        return self.max_calls is not None


@attrs.frozen
class Unavailable:
    """A comparison client that could not be measured here, and why."""

    name: str
    reason: str


@attrs.frozen
class Wire:
    """What one call costs on the wire: new connections (0 with keep-alive) and HTTP requests."""

    connections: float
    requests: float


@attrs.frozen
class Timing:
    """One contender's figures in one group."""

    name: str
    role: Role
    median_us: float
    calls: int
    ratio: float
    paired: float
    wire: Wire | None


@attrs.frozen
class CallGroup:
    """All contenders for one provider and call kind, measured in the same rounds."""

    provider: str
    kind: Kind
    timings: tuple[Timing, ...]
    unavailable: tuple[Unavailable, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.provider} {self.kind}"

    @property
    def ours(self) -> Timing:
        return next(timing for timing in self.timings if timing.role == "ours")

    @property
    def raw(self) -> Timing:
        return next(timing for timing in self.timings if timing.role == "raw")

    @property
    def floor(self) -> Timing | None:
        return next((timing for timing in self.timings if timing.role == "floor"), None)

    @property
    def peers(self) -> tuple[Timing, ...]:
        return tuple(timing for timing in self.timings if timing.role == "peer")

    @property
    def best_peer(self) -> Timing | None:
        return min(self.peers, key=lambda timing: timing.median_us, default=None)


def measure_group(
    provider: str,
    kind: Kind,
    contenders: Sequence[Contender],
    *,
    rounds: int,
    warmup: int = 200,
    stats: Callable[[], Mapping[str, int]] | None = None,
    unavailable: Sequence[Unavailable] = (),
) -> CallGroup:
    """Time every contender in ``rounds`` shuffled rounds (isolated ones after); check each answers right first.

    With ``stats`` (the stub's counters), first count the connections and requests each
    contender makes per call.
    """
    for contender in contenders:
        answer = contender.call()
        if answer != TEXT:
            msg = f"{contender.name} answered {answer!r}, expected {TEXT!r}"
            raise AssertionError(msg)
        for _ in range(min(warmup, 10) if contender.isolated else warmup):
            contender.call()
    wires = [_wire(contender.call, stats, probes=5 if contender.isolated else 20) if stats else None for contender in contenders]
    raw_index = next(index for index, contender in enumerate(contenders) if contender.role == "raw")
    main = [index for index, contender in enumerate(contenders) if not contender.isolated]
    samples: list[dict[int, int]] = [{} for _ in contenders]
    main_samples = _rounds([contenders[index].call for index in main], rounds, seed=rounds)
    for index, taken in zip(main, main_samples, strict=True):
        samples[index] = taken
    raw_samples = samples[raw_index]
    raw_median = statistics.median(raw_samples.values())
    baselines: dict[int, tuple[dict[int, int], float]] = {}
    for index, contender in enumerate(contenders):
        if contender.isolated:
            assert contender.max_calls is not None
            mine, own_raw = _rounds([contender.call, contenders[raw_index].call], contender.max_calls, seed=index)
            samples[index] = mine
            baselines[index] = (own_raw, statistics.median(own_raw.values()))
    timings = []
    for index, (contender, mine, wire) in enumerate(zip(contenders, samples, wires, strict=True)):
        median = statistics.median(mine.values())
        base_samples, base_median = baselines.get(index, (raw_samples, raw_median))
        timings.append(
            Timing(
                name=contender.name,
                role=contender.role,
                median_us=median / 1000.0,
                calls=len(mine),
                ratio=median / base_median,
                paired=statistics.median(value / base_samples[number] for number, value in mine.items()),
                wire=wire,
            )
        )
    return CallGroup(provider=provider, kind=kind, timings=tuple(timings), unavailable=tuple(unavailable))


def _rounds(calls: Sequence[Callable[[], str]], rounds: int, *, seed: int) -> list[dict[int, int]]:
    """Nanoseconds per call, by round, for each of ``calls``: every call once a round, in shuffled order."""
    order = list(range(len(calls)))
    shuffle = random.Random(seed).shuffle
    samples: list[dict[int, int]] = [{} for _ in calls]
    clock = time.perf_counter_ns
    gc.collect()
    for round_number in range(rounds):
        shuffle(order)
        for index in order:
            call = calls[index]
            started = clock()
            call()
            samples[index][round_number] = clock() - started
    return samples


def _wire(call: Callable[[], str], stats: Callable[[], Mapping[str, int]], probes: int = 20) -> Wire:
    """Connections and requests per call over ``probes`` calls (each ``stats()`` is one request on its own connection)."""
    before = stats()
    for _ in range(probes):
        call()
    after = stats()

    def grown(key: str | None) -> int:
        if key is not None:
            return after.get(key, 0) - before.get(key, 0)
        return sum(after.values()) - after.get("connections", 0) - (sum(before.values()) - before.get("connections", 0))

    return Wire(connections=(grown("connections") - 1) / probes, requests=(grown(None) - 1) / probes)


# -- the providers, and the raw httpx equivalent of each call ------------------------------------


@attrs.frozen
class ProviderCase:
    """One HTTP provider: its obra_llm config and the equivalent raw request and parsing."""

    provider: str
    config: Mapping[str, Any]
    headers: Mapping[str, str]
    whole_path: str
    whole_body: Mapping[str, Any]
    stream_path: str
    stream_body: Mapping[str, Any]
    stream_params: Mapping[str, str] | None
    whole_text: Callable[[Any], str]
    framing: Literal["ndjson", "sse"]
    #: The text piece of one streamed event (parsed JSON), or ``None``.
    piece: Callable[[Any], str | None]


def _chat_choice_piece(event: Any) -> str | None:
    choices = event["choices"]
    if not choices:
        return None
    content: str | None = choices[0]["delta"].get("content")
    return content


def _join_text(items: Sequence[Mapping[str, Any]]) -> str:
    return "".join(item["text"] for item in items if "text" in item)


def provider_case(provider: str, base_url: str) -> ProviderCase:
    """The case for ``provider`` against the stub at ``base_url``."""
    chat: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}
    bearer = {"authorization": f"Bearer {API_KEY}"}
    if provider == "ollama":
        return ProviderCase(
            provider,
            {"type": "ollama", "endpoint": base_url, "model": MODEL},
            {},
            "/api/chat",
            {**chat, "stream": False},
            "/api/chat",
            {**chat, "stream": True},
            None,
            lambda body: body["message"]["content"],
            "ndjson",
            lambda event: event["message"]["content"],
        )
    if provider == "openai":
        return ProviderCase(
            provider,
            {"type": "openai", "base_url": f"{base_url}/v1", "model": MODEL, "api_key": API_KEY},
            bearer,
            "/v1/chat/completions",
            {**chat, "stream": False},
            "/v1/chat/completions",
            {**chat, "stream": True, "stream_options": {"include_usage": True}},
            None,
            lambda body: body["choices"][0]["message"]["content"],
            "sse",
            _chat_choice_piece,
        )
    if provider == "mistral":
        return ProviderCase(
            provider,
            {"type": "mistral", "base_url": f"{base_url}/mistral", "model": MODEL, "api_key": API_KEY},
            bearer,
            "/mistral/v1/chat/completions",
            {**chat, "stream": False},
            "/mistral/v1/chat/completions",
            {**chat, "stream": True},
            None,
            lambda body: body["choices"][0]["message"]["content"],
            "sse",
            _chat_choice_piece,
        )
    if provider == "anthropic":
        body = {"model": MODEL, "max_tokens": 4096, "messages": MESSAGES}
        return ProviderCase(
            provider,
            {"type": "anthropic", "base_url": base_url, "model": MODEL, "api_key": API_KEY},
            {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
            "/v1/messages",
            {**body, "stream": False},
            "/v1/messages",
            {**body, "stream": True},
            None,
            lambda body: _join_text(body["content"]),
            "sse",
            lambda event: event["delta"]["text"] if event["type"] == "content_block_delta" else None,
        )
    if provider == "gemini":
        body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
        return ProviderCase(
            provider,
            {"type": "gemini", "base_url": f"{base_url}/v1beta", "model": MODEL, "api_key": API_KEY},
            {"x-goog-api-key": API_KEY},
            f"/v1beta/models/{MODEL}:generateContent",
            body,
            f"/v1beta/models/{MODEL}:streamGenerateContent",
            body,
            {"alt": "sse"},
            lambda body: _join_text(body["candidates"][0]["content"]["parts"]),
            "sse",
            lambda event: _join_text(event["candidates"][0]["content"]["parts"]),
        )
    if provider == "cohere":
        return ProviderCase(
            provider,
            {"type": "cohere", "base_url": base_url, "model": MODEL, "api_key": API_KEY},
            bearer,
            "/v2/chat",
            {**chat, "stream": False},
            "/v2/chat",
            {**chat, "stream": True},
            None,
            lambda body: _join_text(body["message"]["content"]),
            "sse",
            lambda event: event["delta"]["message"]["content"]["text"] if event["type"] == "content-delta" else None,
        )
    msg = f"no benchmark case for provider {provider!r}"
    raise ValueError(msg)


def raw_call(case: ProviderCase, client: httpx.Client, kind: Kind) -> Callable[[], str]:
    """The raw httpx call: POST + ``raise_for_status`` + ``json()``, or stream + ``iter_lines`` + ``json.loads``."""
    if kind == "generate":
        path, body, whole_text = case.whole_path, case.whole_body, case.whole_text

        def generate() -> str:
            response = client.post(path, json=body)
            response.raise_for_status()
            return whole_text(response.json())

        return generate
    path, body, params, read = case.stream_path, case.stream_body, case.stream_params, _stream_reader(case)

    def stream() -> str:
        with client.stream("POST", path, json=body, params=params) as response:
            response.raise_for_status()
            return read(response.iter_lines())

    return stream


def transport_call(case: ProviderCase, transport: httpx.BaseTransport, client: httpx.Client, kind: Kind) -> Callable[[], str]:
    """The floor under both: raw httpx's request, built by hand and sent straight to its transport.

    The URL is parsed once and the client's headers are reused, so what remains is what no
    httpx-based client can avoid: a ``Request``, the transport's round trip, the parsing.
    """
    headers = client.headers
    extensions = {"timeout": client.timeout.as_dict()}
    if kind == "generate":
        url, body, whole_text = client.base_url.join(case.whole_path.lstrip("/")), case.whole_body, case.whole_text

        def generate() -> str:
            response = transport.handle_request(httpx.Request("POST", url, headers=headers, json=body, extensions=extensions))
            try:
                response.read()
            finally:
                response.close()
            _expect_success(response)
            return whole_text(response.json())

        return generate
    url = client.base_url.join(case.stream_path.lstrip("/")).copy_merge_params(case.stream_params or {})
    body, read = case.stream_body, _stream_reader(case)

    def stream() -> str:
        response = transport.handle_request(httpx.Request("POST", url, headers=headers, json=body, extensions=extensions))
        try:
            _expect_success(response)
            return read(response.iter_lines())
        finally:
            response.close()

    return stream


def _expect_success(response: httpx.Response) -> None:
    if response.is_error:
        msg = f"the stub answered HTTP {response.status_code}"
        raise AssertionError(msg)


def _stream_reader(case: ProviderCase) -> Callable[[Iterator[str]], str]:
    """Collects the text of a streamed body's lines: every NDJSON line, or every SSE ``data:`` line."""
    piece_of, loads = case.piece, json.loads
    if case.framing == "ndjson":

        def read_ndjson(lines: Iterator[str]) -> str:
            pieces: list[str] = []
            for line in lines:
                if line:
                    piece = piece_of(loads(line))
                    if piece:
                        pieces.append(piece)
            return "".join(pieces)

        return read_ndjson

    def read_sse(lines: Iterator[str]) -> str:
        pieces: list[str] = []
        for line in lines:
            if line.startswith("data:"):
                data = line[5:].strip()
                if data != "[DONE]":
                    piece = piece_of(loads(data))
                    if piece:
                        pieces.append(piece)
        return "".join(pieces)

    return read_sse


def ours_call(llm: Any, kind: Kind) -> Callable[[], str]:
    if kind == "generate":

        def generate() -> str:
            text: str = llm.generate(PROMPT)
            return text

        return generate

    def stream() -> str:
        return "".join(llm.generate_stream(PROMPT))

    return stream


# -- the comparison clients (optional; imported by name) --------------------------------------------


def package_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _import(module: str) -> Any:
    """``module`` imported at run time, as ``Any``: the ``bench`` extra is not part of type checking."""
    return importlib.import_module(module)


#: (display name, package, provider) -> factory(base_url, kind, closers) -> call
PeerFactory = Callable[[str, Kind, list[Callable[[], object]]], Callable[[], str]]


def _ollama_client(base_url: str, kind: Kind, closers: list[Callable[[], object]]) -> Callable[[], str]:
    client = _import("ollama").Client(host=base_url)
    inner = getattr(client, "_client", None)
    if inner is not None and callable(getattr(inner, "close", None)):
        closers.append(inner.close)
    if kind == "generate":
        return lambda: str(client.chat(model=MODEL, messages=MESSAGES, stream=False).message.content)
    return lambda: "".join(part.message.content or "" for part in client.chat(model=MODEL, messages=MESSAGES, stream=True))


def _openai_sdk(base_url: str, kind: Kind, closers: list[Callable[[], object]]) -> Callable[[], str]:
    client = _import("openai").OpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0)
    closers.append(client.close)
    create = client.chat.completions.create
    if kind == "generate":
        return lambda: str(create(model=MODEL, messages=MESSAGES).choices[0].message.content)

    def stream() -> str:
        pieces: list[str] = []
        for chunk in create(model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
        return "".join(pieces)

    return stream


def _anthropic_sdk(base_url: str, kind: Kind, closers: list[Callable[[], object]]) -> Callable[[], str]:
    client = _import("anthropic").Anthropic(base_url=base_url, api_key=API_KEY, max_retries=0)
    closers.append(client.close)
    create = client.messages.create
    if kind == "generate":
        return lambda: "".join(
            block.text for block in create(model=MODEL, max_tokens=4096, messages=MESSAGES).content if block.type == "text"
        )

    def stream() -> str:
        pieces: list[str] = []
        for event in create(model=MODEL, max_tokens=4096, messages=MESSAGES, stream=True):
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                pieces.append(event.delta.text)
        return "".join(pieces)

    return stream


def _litellm(model: str, suffix: str) -> PeerFactory:
    def factory(base_url: str, kind: Kind, closers: list[Callable[[], object]]) -> Callable[[], str]:
        litellm = _import("litellm")
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        completion = litellm.completion
        api_base = base_url + suffix
        if kind == "generate":
            return lambda: str(
                completion(model=model, messages=MESSAGES, api_base=api_base, api_key=API_KEY, max_retries=0)
                .choices[0]
                .message.content
            )

        def stream() -> str:
            pieces: list[str] = []
            for chunk in completion(model=model, messages=MESSAGES, api_base=api_base, api_key=API_KEY, stream=True, max_retries=0):
                content = chunk.choices[0].delta.content if chunk.choices else None
                if content:
                    pieces.append(content)
            return "".join(pieces)

        return stream

    return factory


#: provider -> [(display name, package, factory, max_calls)]
PEERS: Mapping[str, Sequence[tuple[str, str, PeerFactory, int | None]]] = {
    "ollama": [("ollama client", "ollama", _ollama_client, None), ("LiteLLM", "litellm", _litellm(f"ollama_chat/{MODEL}", ""), 100)],
    "openai": [("openai SDK", "openai", _openai_sdk, None), ("LiteLLM", "litellm", _litellm(f"openai/{MODEL}", "/v1"), 100)],
    "anthropic": [
        ("anthropic SDK", "anthropic", _anthropic_sdk, None),
        ("LiteLLM", "litellm", _litellm(f"anthropic/{MODEL}", ""), 100),
    ],
    "mistral": [("LiteLLM", "litellm", _litellm(f"mistral/{MODEL}", "/mistral/v1"), 100)],
    "gemini": [],
    "cohere": [],
}


def _peer(
    name: str, package: str, factory: PeerFactory, max_calls: int | None, base_url: str, kind: Kind, closers: list[Callable[[], object]]
) -> Contender | Unavailable:
    version = package_version(package)
    label = f"{name} {version}" if version else name
    if version is None:
        return Unavailable(name, f"n/a (`{package}` is not installed: pip install -e '.[bench]')")
    try:
        call = factory(base_url, kind, closers)
        answer = call()
    except Exception as error:  # any failure of a third-party client is a finding, not a crash
        return Unavailable(label, f"n/a ({type(error).__name__}: {str(error)[:160]})")
    if answer != TEXT:
        return Unavailable(label, f"n/a (answered {answer[:60]!r}, not the stub's text)")
    return Contender(label, "peer", call, max_calls)


@contextlib.contextmanager
def provider_groups(
    provider: str, base_url: str, *, peers: bool = True
) -> Iterator[list[tuple[Kind, list[Contender], list[Unavailable]]]]:
    """For each call kind: the contenders (obra_llm, raw httpx, then the peers) and the peers not measured."""
    case = provider_case(provider, base_url)
    llm = obra_llm.create_llm(case.config)
    raw = httpx.Client(base_url=base_url, headers=dict(case.headers), timeout=httpx.Timeout(120.0, connect=10.0))
    bare = httpx.HTTPTransport()
    closers: list[Callable[[], object]] = [raw.close, bare.close]
    close = getattr(llm, "close", None)
    if callable(close):
        closers.append(close)
    groups: list[tuple[Kind, list[Contender], list[Unavailable]]] = []
    try:
        for kind in KINDS:
            contenders = [
                Contender(f"obra_llm {provider}", "ours", ours_call(llm, kind)),
                Contender("raw httpx", "raw", raw_call(case, raw, kind)),
                Contender("httpx transport", "floor", transport_call(case, bare, raw, kind)),
            ]
            missing: list[Unavailable] = []
            for name, package, factory, max_calls in PEERS.get(provider, ()) if peers else ():
                found = _peer(name, package, factory, max_calls, base_url, kind, closers)
                if isinstance(found, Contender):
                    contenders.append(found)
                else:
                    missing.append(found)
            groups.append((kind, contenders, missing))
        yield groups
    finally:
        for closer in reversed(closers):
            with contextlib.suppress(Exception):
                closer()
        gc.collect()
