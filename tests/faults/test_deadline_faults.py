"""``timeout`` bounds a whole answer from the request to its last byte, for every HTTP provider.

Seen on 19bf5c7: with ``timeout: 2`` a server trickling the body a byte at a time held the
call for as long as it went on (httpx times each read, and each byte came within it). Here
the body trickles for about 10 s against ``timeout: 1``; the call must give up after about
1 s (generous margin: 4 s, since this test waits for real).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from obra_llm.errors import LLMTimeoutException
from tests.faults.kits import FaultKit
from tests.support.fakes import FakeClock
from tests.support.wire_server import Chunked, Json, Raw

TIMEOUT = 1.0
MARGIN = 4.0


def test_a_trickling_whole_answer_times_out_on_time(kit: FaultKit[Any]) -> None:
    clock = FakeClock()
    with kit.running() as server:
        answer = kit.answer(server, ["Hello", "."], stream=False)
        assert isinstance(answer, Json | Raw)
        text = json.dumps(answer.body) if isinstance(answer, Json) else answer.body.decode()
        server.queue(Chunked([text], content_type="application/json", chunk_size=max(1, len(text) // 100), gap=0.1))
        llm = kit.make(server.url, clock=clock, sleep=clock.sleep, timeout=TIMEOUT, retry_attempts=1)
        with llm:
            started = time.monotonic()
            with pytest.raises(LLMTimeoutException) as caught:
                llm.generate("hi")
            spent = time.monotonic() - started
    assert f"did not send its whole answer within {TIMEOUT:g} s" in caught.value.message
    assert spent < MARGIN, f"{spent:.1f} s"
    assert llm.metrics["timeouts"] == 1
