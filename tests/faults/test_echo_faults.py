"""A server that echoes the key back, on the paths that are not a non-2xx error: it appears nowhere.

Seen on 19bf5c7: the key, echoed by the server, appeared in the exception text for an error
body sent with status 200, for a garbage stream line, and for an error after a 200 stream
started (and so in the INFO retry log). Every failure of an HTTP provider now leaves through
one boundary that masks the key and its base64 and URL-encoded forms; this sweeps each
echo path x each form x every HTTP provider with ``tests/faults/test_secrets.py``'s checks.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from obra_llm import LLMException
from obra_llm.providers.http_api import HttpLLM
from tests.faults.kits import FaultKit
from tests.faults.test_secrets import assert_no_secret, everything_said, secret_key
from tests.support.fakes import FakeClock
from tests.support.wire_server import Chunked, Json, Raw, Sse, WireServer

FORMS: dict[str, Callable[[str], str]] = {
    "plain": lambda key: key,
    "base64": lambda key: base64.b64encode(key.encode()).decode(),
    "url-encoded": lambda key: urllib.parse.quote(key + "/+&", safe=""),
}


def _garbage_stream(kit: FaultKit[Any], server: WireServer, text: str, *, after_a_piece: bool) -> Sse | Chunked:
    """A stream in the kit's own framing whose next line is not JSON but ``text``."""
    good = kit.answer(server, ["Hello"], stream=True)
    assert isinstance(good, Sse | Chunked)
    if isinstance(good, Sse):
        frames = [*good.frames[:1]] if after_a_piece else []
        return Sse([*frames, f"data: {{not json {text}\n\n"])
    lines = [*good.pieces[:1]] if after_a_piece else []
    return Chunked([*lines, f"{{not json {text}\n"], content_type=good.content_type)


ECHOES: dict[str, Callable[[FaultKit[Any], WireServer, str], Any]] = {
    "error-body-with-200": lambda _kit, _server, text: Json(200, {"error": {"message": f"bad key {text}"}, "detail": text}),
    "text-body-with-200": lambda _kit, _server, text: Raw(200, f"oops: key {text} refused".encode()),
    "garbage-stream-line": lambda kit, server, text: _garbage_stream(kit, server, text, after_a_piece=False),
    "garbage-after-a-piece": lambda kit, server, text: _garbage_stream(kit, server, text, after_a_piece=True),
}


def _call(llm: HttpLLM[Any], echo: str) -> object:
    return llm.generate("hi") if echo.endswith("200") else "".join(llm.generate_stream("hi"))


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("echo", list(ECHOES))
def test_an_echoed_key_is_nowhere(kit: FaultKit[Any], echo: str, form: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    key = secret_key(kit)
    echoed = FORMS[form](key)
    with kit.running(key=key) as server:
        reply = ECHOES[echo](kit, server, echoed)
        server.queue(reply, reply)
        clock = FakeClock()
        with kit.make(server.url, clock=clock, sleep=clock.sleep, key=key, retry_attempts=2) as llm:
            with pytest.raises(LLMException) as caught:
                _call(llm, echo)
            text = everything_said(llm, caught.value, caplog)
        assert any(key in value for request in server.requests for value in request.headers.values())
    assert_no_secret(text, key)
    assert echoed not in text
