"""32 threads share one provider instance, for every HTTP provider, against its local wire server.

Each call carries a distinct marker in its prompt and the server answers with text made
from that marker (``EchoServer`` below), so an answer handed to the wrong thread, or
pieces of two streams interleaved, show up as a mismatch. Metrics must be exact: every
call counted once, tokens summed, no errors, no retries.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from tests.faults.kits import KITS, FaultKit, KeyedCohereServer
from tests.support.anthropic_wire import AnthropicWireServer
from tests.support.fakes import FakeClock
from tests.support.gemini_wire import GeminiWireServer
from tests.support.leaks import no_leaks
from tests.support.mistral_wire import MistralWireServer
from tests.support.ollama_wire import OllamaWireServer
from tests.support.openai_wire import OpenAIWireServer
from tests.support.wire_server import Request, WireServer

THREADS = 32
#: Calls per thread: streamed and whole, alternating.
CALLS = 4
_MARKER = re.compile(r"marker-(\d+)-(\d+)")


def pieces_for(thread: int, call: int) -> list[str]:
    """The answer to call ``call`` of thread ``thread``: distinct per call, with multi-byte text."""
    return [f"answer {thread}.{call}: ", "Zürich → 東京 ", f"#{thread:02d}{call:02d}"]


class EchoServer(WireServer):
    """Answers each generation request with ``pieces_for`` its prompt's marker.

    The reply is built in ``route`` (in the request's own handler thread) and handed out by
    ``_pop_script``, which every wire server's generation path asks for its scripted reply.
    """

    kit: ClassVar[FaultKit[Any]]
    _local: ClassVar[threading.local]

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        # socketserver listens with a backlog of 5: 32 clients connecting at once overflow it
        # and the kernel resets some connections (the provider then retries them, correctly,
        # but metrics would no longer be exact). A real server's backlog is in the hundreds.
        self._server.socket.listen(4 * THREADS)

    def route(self, request: Request) -> Any:
        found = _MARKER.search(json.dumps(request.body))
        generating = any(request.path.endswith(path) for path in self.kit.generation_paths)
        if found and generating:
            body = request.body if isinstance(request.body, dict) else {}
            stream = request.path.endswith(":streamGenerateContent") or body.get("stream") is True
            pieces = pieces_for(int(found.group(1)), int(found.group(2)))
            self._local.reply = self.kit.answer(self, pieces, stream=stream)
        try:
            return super().route(request)
        finally:
            self._local.reply = None

    def _pop_script(self) -> Any | None:
        reply = getattr(self._local, "reply", None)
        if reply is not None:
            self._local.reply = None
            return reply
        return super()._pop_script()


class EchoOllama(EchoServer, OllamaWireServer):
    kit = KITS["ollama"]
    _local = threading.local()


class EchoAnthropic(EchoServer, AnthropicWireServer):
    kit = KITS["anthropic"]
    _local = threading.local()


class EchoOpenAI(EchoServer, OpenAIWireServer):
    kit = KITS["openai"]
    _local = threading.local()


class EchoMistral(EchoServer, MistralWireServer):
    kit = KITS["mistral"]
    _local = threading.local()


class EchoGemini(EchoServer, GeminiWireServer):
    kit = KITS["gemini"]
    _local = threading.local()


class EchoCohere(EchoServer, KeyedCohereServer):
    kit = KITS["cohere"]
    _local = threading.local()


ECHO_SERVERS: dict[str, type[EchoServer]] = {
    server.kit.name: server for server in (EchoOllama, EchoAnthropic, EchoOpenAI, EchoMistral, EchoGemini, EchoCohere)
}


@pytest.fixture(params=list(ECHO_SERVERS))
def echo(request: pytest.FixtureRequest) -> Iterator[EchoServer]:
    server_type = ECHO_SERVERS[request.param]
    kit = server_type.kit
    with server_type(key=kit.key) if kit.checks_key else server_type() as server:
        yield server


def test_threads_share_one_provider(echo: EchoServer) -> None:
    kit = echo.kit
    clock = FakeClock()
    start = threading.Barrier(THREADS)
    results: dict[tuple[int, int], str] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work(thread: int) -> None:
        try:
            start.wait(timeout=10)
            for call in range(CALLS):
                prompt = f"Rate change marker-{thread}-{call} please."
                answer = "".join(llm.generate_stream(prompt)) if call % 2 == 0 else llm.generate(prompt)
                with lock:
                    results[thread, call] = answer
        except BaseException as error:  # collected and reported by the main thread
            with lock:
                failures.append(error)

    with no_leaks():
        llm = kit.make(echo.url, clock=clock, sleep=clock.sleep)
        with llm:
            threads = [threading.Thread(target=work, args=(index,), name=f"caller-{index}") for index in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert not any(thread.is_alive() for thread in threads)
            assert failures == []
            assert results == {
                (thread, call): "".join(pieces_for(thread, call)) for thread in range(THREADS) for call in range(CALLS)
            }
            assert kit.attempts(echo) == THREADS * CALLS
            prompt, completion = kit.tokens(pieces_for(0, 0))
            total = THREADS * CALLS
            metrics = llm.metrics
            assert metrics == {
                "calls": total,
                "total_tokens": total * (prompt + completion),
                "total_latency_ms": 0.0,
                "errors": 0,
                "timeouts": 0,
                "prompt_tokens": total * prompt,
                "completion_tokens": total * completion,
                "retries": 0,
                "structured_repairs": 0,
            }
            assert clock.sleeps == []
