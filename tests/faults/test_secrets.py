"""A distinctive API key per HTTP provider, and every error path: the key appears nowhere.

Nowhere means: the log (everything at DEBUG, obra_llm and httpx alike), the exception's
``str``, ``repr`` and formatted traceback (its notes and the chain of causes included), the
provider's ``repr``, ``get_model_info()``, ``availability_problem()``, the metrics, and a
cassette recorded around calls against the wire server. Each test first proves that the
key really went out (the server saw it), so a test that never sent it cannot pass.
"""

from __future__ import annotations

import json
import logging
import socket
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from obra_llm import LLMException
from obra_llm.providers.http_api import HttpLLM
from obra_llm.recording.cassettes import provenance, use_cassette
from obra_llm.redaction import secret_forms
from tests.faults.kits import ALL_KITS, INVALID_JSON, FaultKit
from tests.support import ollama_wire
from tests.support.fakes import FakeClock
from tests.support.wire_server import Hang, Json, Raw, Reply, Request, WireServer

PIECES = ["Hello", " there"]


def secret_key(kit: FaultKit[Any]) -> str:
    return f"sk-obra-secret-{kit.name}-7f3a9c"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(params=ALL_KITS, ids=[kit.name for kit in ALL_KITS])
def kit(request: pytest.FixtureRequest) -> FaultKit[Any]:
    chosen: FaultKit[Any] = request.param
    return chosen


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="obra_llm")
    yield caplog


def stream(llm: HttpLLM[Any]) -> str:
    return "".join(llm.generate_stream("hi"))


#: Each error path: (what the server is scripted with, the call, extra provider settings).
ErrorPath = tuple[Callable[[FaultKit[Any], WireServer], list[Any]], Callable[[HttpLLM[Any]], object], dict[str, Any]]
PATHS: dict[str, ErrorPath] = {
    "401": (lambda kit, _server: [] if kit.checks_key else [ollama_wire.Status(401, "unauthorized")], lambda llm: llm.generate("hi"), {}),
    "429-fail-fast": (lambda kit, _server: [kit.retry_after_beyond_cap()], lambda llm: llm.generate("hi"), {}),
    "429-retried": (lambda kit, server: [kit.rate_limited(2), kit.answer(server, PIECES, stream=True)], stream, {}),
    "5xx": (lambda kit, _server: [kit.server_error(), kit.server_error()], stream, {"retry_attempts": 2}),
    "error-after-200": (lambda kit, server: [kit.stream_error(server, PIECES[:1])], stream, {}),
    "truncated": (lambda kit, server: [kit.truncated(server, PIECES[:1])], stream, {}),
    "invalid-json": (lambda _kit, _server: [INVALID_JSON], lambda llm: llm.generate("hi"), {}),
    "refused": (lambda _kit, _server: [], lambda llm: llm.generate("hi"), {"retry_attempts": 2}),
    "timeout": (lambda _kit, _server: [Hang(0.6)], lambda llm: llm.generate("hi"), {"timeout": 0.3, "retry_attempts": 1}),
}


def everything_said(llm: HttpLLM[Any], error: BaseException | None, log: pytest.LogCaptureFixture) -> str:
    """Every text the provider and its failure expose."""
    said = [
        log.text,
        *(record.getMessage() for record in log.records),
        repr(llm),
        json.dumps(llm.get_model_info(), default=str),
        str(llm.availability_problem()),
        json.dumps(llm.metrics),
    ]
    if error is not None:
        said += [str(error), repr(error), "".join(traceback.format_exception(error))]
    return "\n".join(said)


def assert_no_secret(text: str, key: str) -> None:
    assert key not in text
    assert key.removeprefix("sk-") not in text  # not even with a prefix masked away


@pytest.mark.parametrize("path", list(PATHS))
def test_the_key_is_nowhere(kit: FaultKit[Any], path: str, debug_log: pytest.LogCaptureFixture) -> None:
    key = secret_key(kit)
    script, call, settings = PATHS[path]
    # For 401 the server accepts only its own key; otherwise it accepts the secret one.
    with kit.running(key=None if path == "401" else key) as server:
        server.queue(*script(kit, server))
        url = f"http://127.0.0.1:{closed_port()}" if path == "refused" else server.url
        clock = FakeClock()
        with kit.make(url, clock=clock, sleep=clock.sleep, key=key, **settings) as llm:
            error: LLMException | None = None
            try:
                call(llm)
            except LLMException as raised:
                error = raised
            assert (error is None) is (path == "429-retried"), repr(error)
            text = everything_said(llm, error, debug_log)
        assert "provider ready" in debug_log.text  # DEBUG records really are captured
        if path != "refused":
            sent = [request.headers for request in server.requests]
            assert any(key in value for headers in sent for value in headers.values()), "the key was never sent"
    assert_no_secret(text, key)


def test_a_recorded_cassette_holds_no_key(kit: FaultKit[Any], tmp_path: Path, debug_log: pytest.LogCaptureFixture) -> None:
    key = secret_key(kit)
    cassette = tmp_path / f"{kit.name}.yaml"
    made_by = provenance("synthesized", how="tests/faults/test_secrets.py", service=kit.name)
    with kit.running(key=key) as server, kit.running() as refusing:
        server.queue(
            kit.answer(server, PIECES, stream=False),
            kit.answer(server, PIECES, stream=True),
            kit.retry_after_beyond_cap(),
            kit.stream_error(server, PIECES[:1]),
        )
        if not kit.checks_key:
            refusing.queue(ollama_wire.Status(401, "unauthorized"))
        clock = FakeClock()
        failures: list[LLMException] = []
        with use_cassette(cassette, mode="once", made_by=made_by), kit.make(
            server.url, clock=clock, sleep=clock.sleep, key=key
        ) as llm, kit.make(refusing.url, clock=clock, sleep=clock.sleep, key=key) as refused:
            assert llm.generate("hi") == "".join(PIECES)
            assert stream(llm) == "".join(PIECES)
            calls: list[Callable[[], object]] = [lambda: llm.generate("hi"), lambda: stream(llm), lambda: refused.generate("hi")]
            for failing in calls:
                with pytest.raises(LLMException) as caught:
                    failing()
                failures.append(caught.value)
        assert kit.attempts(server) == 4 and kit.attempts(refusing) == 1
        sent = [request.headers for request in server.requests + refusing.requests]
        assert all(key in " ".join(headers.values()) for headers in sent), "the key was not sent on every request"
    recorded = cassette.read_text()
    assert recorded.count("uri:") == 5  # every request went into the cassette
    assert_no_secret(recorded, key)
    for error in failures:
        assert_no_secret("".join(traceback.format_exception(error)) + repr(error), key)
    assert_no_secret(debug_log.text, key)


def test_a_cassette_holds_no_key_the_server_echoes_in_headers_and_body(kit: FaultKit[Any], tmp_path: Path) -> None:
    """With the key listed as a secret, a response header or body echoing it (any form) is written masked."""
    key = secret_key(kit)
    forms = sorted(secret_forms(key))
    cassette = tmp_path / f"{kit.name}-echo.yaml"
    made_by = provenance("synthesized", how="tests/faults/test_secrets.py", service=kit.name)
    body = json.dumps({"error": {"message": "bad request", "echo": forms}}).encode()
    echo = Raw(400, body, "application/json", headers={"x-echo-key": key, "x-echo-forms": " ".join(forms)})
    with kit.running(key=key) as server:
        server.queue(echo)
        clock = FakeClock()
        with use_cassette(cassette, mode="once", made_by=made_by, secrets=[key]), kit.make(
            server.url, clock=clock, sleep=clock.sleep, key=key
        ) as llm, pytest.raises(LLMException):
            llm.generate("hi")
        assert kit.attempts(server) == 1
    recorded = cassette.read_text()
    assert "x-echo-key" in recorded.lower() and "x-echo-forms" in recorded.lower()  # the headers were recorded
    assert [form for form in forms if form in recorded] == []


class _EchoServer(WireServer):
    """Answers every request 200 with a body naming the key wherever a model list or model facts go."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def route(self, request: Request) -> Reply:
        forms = sorted(secret_forms(self.key))
        entry = {"name": f"models/{self.key}", "id": self.key, "model": self.key, "display_name": self.key}
        return Json(200, {
            "models": [entry], "data": [entry], "object": "list", "echo": forms,
            "model_info": {"general.architecture": self.key, f"{self.key}.context_length": 8192},
            "details": {"family": self.key, "parameter_size": self.key}, "modelfile": self.key,
            "context_length": 8192, "max_tokens": 8192, "context_window": 8192,
        })


def test_what_availability_model_info_and_list_say_holds_no_key(kit: FaultKit[Any]) -> None:
    """Texts made from a 200 answer, outside the error boundary (the probe's verdict, model facts, the model
    list): a server echoing the key there shows it masked."""
    key = secret_key(kit)
    with _EchoServer(key) as server:
        clock = FakeClock()
        with kit.make(server.url, clock=clock, sleep=clock.sleep, key=key) as llm:
            said = [
                str(llm.availability_problem()),
                json.dumps(llm.get_model_info(), default=str),
                json.dumps(llm.list_models()),
                repr(llm),
            ]
        assert server.requests, "the provider asked nothing"
    text = "\n".join(said)
    assert [form for form in secret_forms(key) if form in text] == []
