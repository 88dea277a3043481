"""A parameter the real API accepts is sent; one it refuses is a clear, non-retried error.

Seen on 19bf5c7: obra_llm refused ``stop`` for ``o3-mini`` before sending (real traffic
shows OpenAI accepting and honouring it), while ``o1-mini``, which really answers 400
``Unsupported parameter: 'stop'``, was not pre-checked. Now no model is refused a parameter
up front, and the API's own 400 names the parameter; for every provider speaking the
chat-completions dialect (OpenAI, Mistral and the compatible presets).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from obra_llm.errors import LLMResponseException
from obra_llm.providers.chat_completions import ChatCompletionsWire
from tests.faults.kits import ALL_KITS, FaultKit
from tests.support.chat_completions_wire import ChatCompletionsWireServer
from tests.support.fakes import FakeClock
from tests.support.wire_server import Json

CHAT_KITS = [kit for kit in ALL_KITS if isinstance(kit.spec.llm.wire, ChatCompletionsWire)]
PIECES = ["Hello", "."]
UNSUPPORTED_STOP = {
    "error": {
        "message": "Unsupported parameter: 'stop' is not supported with this model.",
        "type": "invalid_request_error",
        "param": "stop",
        "code": "unsupported_parameter",
    }
}
UNSUPPORTED_SYSTEM = {
    "error": {
        "message": "Unsupported value: 'messages[0].role' does not support 'system' with this model.",
        "type": "invalid_request_error",
        "param": "messages[0].role",
        "code": "unsupported_value",
    }
}


@pytest.fixture(params=CHAT_KITS, ids=[kit.name for kit in CHAT_KITS])
def kit(request: pytest.FixtureRequest) -> FaultKit[Any]:
    chosen: FaultKit[Any] = request.param
    return chosen


@pytest.fixture
def server(kit: FaultKit[Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatCompletionsWireServer]:
    """The kit's server, which also knows the two reasoning models."""
    with kit.running() as running:
        known = running.models()
        extra = {name: {**next(iter(known.values())), "id": name} for name in ("o3-mini", "o1-mini")}
        monkeypatch.setattr(running, "models", lambda: {**known, **extra})
        yield running


def test_the_dialect_covers_openai_and_mistral() -> None:
    assert {"openai", "mistral"} <= {kit.name for kit in CHAT_KITS}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_stop_for_o3_mini_is_sent(kit: FaultKit[Any], server: ChatCompletionsWireServer, stream: bool) -> None:
    clock = FakeClock()
    server.queue(kit.answer(server, PIECES, stream=stream))
    llm = kit.make(server.url, clock=clock, sleep=clock.sleep, model="o3-mini")
    with llm:
        answer = "".join(llm.generate_stream("hi", stop=["\n\n"])) if stream else llm.generate("hi", stop=["\n\n"])
    assert answer == "".join(PIECES)
    (request,) = [request for path in kit.generation_paths for request in server.requests_to(path)]
    assert request.body["stop"] == ["\n\n"] and request.body["model"] == "o3-mini"


@pytest.mark.parametrize(("body", "parameter"), [(UNSUPPORTED_STOP, "stop"), (UNSUPPORTED_SYSTEM, "messages[0].role")])
def test_the_apis_own_400_names_the_refused_parameter(
    kit: FaultKit[Any], server: ChatCompletionsWireServer, body: dict[str, Any], parameter: str
) -> None:
    clock = FakeClock()
    server.queue(Json(400, body))
    llm = kit.make(server.url, clock=clock, sleep=clock.sleep, model="o1-mini")
    with llm, pytest.raises(LLMResponseException) as caught:
        llm.generate("hi", stop=["x"], system="be brief")
    error = caught.value
    assert type(error) is LLMResponseException and error.retryable is False and error.status_code == 400
    assert f"model 'o1-mini' refuses the parameter {parameter!r}" in error.message, error.message
    assert kit.attempts(server) == 1 and clock.sleeps == []
