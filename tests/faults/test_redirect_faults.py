"""A 3xx is never an answer, for every HTTP provider, whole or streamed.

Seen on 19bf5c7: a 307 (or 301/302/303/308) whose body happened to be JSON was parsed as the
completion. Here the body is the provider's own valid answer and the ``Location`` points
at a second local server holding a token in its query: the call must fail at once
(``LLMResponseException``, not retried), name only the origin, and send nothing there.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from obra_llm.errors import LLMResponseException
from tests.faults.kits import FaultKit
from tests.support.fakes import FakeClock
from tests.support.wire_server import Json, Raw

PIECES = ["Hello", ", world", "."]
TOKEN = "tok-REDIRECT-8d1f"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_redirect_with_a_valid_body_is_refused_and_not_followed(kit: FaultKit[Any], status: int, stream: bool) -> None:
    clock = FakeClock()
    with kit.running() as server, kit.running() as elsewhere:
        answer = kit.answer(server, PIECES, stream=False)
        assert isinstance(answer, Json | Raw)
        body = answer.body if isinstance(answer, Json) else json.loads(answer.body)
        location = f"{elsewhere.url}/steal?key={TOKEN}"
        server.queue(Json(status, body, headers={"Location": location}))
        llm = kit.make(server.url, clock=clock, sleep=clock.sleep)
        with llm:
            with pytest.raises(LLMResponseException) as caught:
                if stream:
                    list(llm.generate_stream("hi"))
                else:
                    llm.generate("hi")
        error = caught.value
        assert type(error) is LLMResponseException and error.retryable is False and error.status_code == status
        origin = "/".join(elsewhere.url.split("/")[:3])
        assert f"a redirect to {origin}, not followed" in error.message, error.message
        assert TOKEN not in str(error) and "steal" not in str(error)
        assert kit.attempts(server) == 1 and clock.sleeps == []
        assert elsewhere.requests == []
