"""A model name never escapes its place in a URL, for every HTTP provider.

Seen on 19bf5c7: a Gemini model ``../../../admin/x`` posted to ``/admin/x:generateContent``
and ``m?alt=json`` dropped the rest of the path. Wherever a model enters a URL path (Gemini's
generate, the model-info requests of Anthropic, Cohere, Mistral and Gemini) it is quoted as
one segment; elsewhere it travels in the body, and the path must not move either.
"""

from __future__ import annotations

from typing import Any

import pytest

from obra_llm.errors import ConfigError, LLMException
from tests.faults.kits import FaultKit
from tests.support.fakes import FakeClock

#: (model, how it must appear in a path): Gemini's names may have a collection, the id is quoted.
HOSTILE = [
    ("../../../admin/x?alt=json#frag", "..%2F..%2F..%2Fadmin%2Fx%3Falt%3Djson%23frag"),
    ("m?alt=json#frag", "m%3Falt%3Djson%23frag"),
    ("models/../../admin/x?alt=json", "models/..%2F..%2Fadmin%2Fx%3Falt%3Djson"),
]
#: The providers whose requests carry the model in their path.
IN_PATH = {"anthropic", "cohere", "mistral", "gemini"}


@pytest.mark.parametrize(("model", "quoted"), HOSTILE, ids=["dot-dot", "query", "collection-dot-dot"])
def test_a_hostile_model_name_stays_in_its_segment(kit: FaultKit[Any], model: str, quoted: str) -> None:
    clock = FakeClock()
    if kit.name == "gemini" and model.startswith(".."):
        with pytest.raises(ConfigError, match=r"a Gemini model is an id or models/<id> or tunedModels/<id> @ \$.model"):
            kit.make("http://127.0.0.1:9", clock=clock, sleep=clock.sleep, model=model)
        return
    if kit.name != "gemini" and "/" in model and not model.startswith(".."):
        quoted = quoted.replace("/", "%2F")
    with kit.running() as server:
        llm = kit.make(server.url, clock=clock, sleep=clock.sleep, model=model, retry_attempts=1)
        with llm:
            for call in (lambda: llm.generate("hi"), lambda: list(llm.generate_stream("hi"))):
                try:
                    call()
                except LLMException:
                    pass  # the server may well not know the model: only where the request went matters
            llm.get_model_info()
        assert server.requests, "nothing was sent"
        for request in server.requests:
            assert "/admin" not in request.path, request.path
            assert "frag" not in request.path or quoted in request.path, request.path
            assert "alt=json" not in request.query, request.query
        if kit.name in IN_PATH:
            assert any(quoted in request.path for request in server.requests), [r.path for r in server.requests]


@pytest.mark.parametrize("model", ["..", "."])
def test_a_dot_segment_model_is_refused_before_sending(kit: FaultKit[Any], model: str) -> None:
    clock = FakeClock()
    with pytest.raises(ConfigError, match=r"is a URL dot segment, not a model name @ \$.model"):
        kit.make("http://127.0.0.1:9", clock=clock, sleep=clock.sleep, model=model)
