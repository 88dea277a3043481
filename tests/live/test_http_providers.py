"""The HTTP providers against a real model: llama-server's chat-completions and Messages APIs.

``llamacpp`` is the keyless preset for this server; ``openai`` and ``anthropic`` reach it with a
``base_url`` (and a placeholder key, since environment keys never go to a custom host).

Everything goes through ``obra_llm.create_llm``, as the orchestrator calls it. A 135M model's
words are not a contract, so the assertions are on structure and invariants: non-empty text,
usage counted (streamed too) and consistent with the server's own tokenizer, the output cap
and stop sequences honoured, errors classified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from obra_llm import LLMResponseException, create_llm
from obra_llm.protocol import LLMPlugin, SupportsClose
from tests.support.live_server import QUESTION, LiveServer, skip_unless_installed, tokenize

pytestmark = pytest.mark.live
skip_unless_installed()

Maker = Callable[..., LLMPlugin]

LONG_ASK = "Write a long story about a lighthouse keeper and the sea."


@pytest.fixture(params=["llamacpp", "openai", "anthropic"])
def dialect(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


@pytest.fixture
def make(live: LiveServer, dialect: str) -> Iterator[Callable[..., LLMPlugin]]:
    """Builds providers on the live server with ``create_llm``; closes them afterwards."""
    made: list[LLMPlugin] = []

    def build(**extra: Any) -> LLMPlugin:
        llm = create_llm(live.config(dialect, **extra))
        made.append(llm)
        return llm

    yield build
    for llm in made:
        if isinstance(llm, SupportsClose):
            llm.close()


def _usage(llm: LLMPlugin) -> tuple[int, int, int]:
    metrics = llm.metrics
    return int(metrics["prompt_tokens"]), int(metrics["completion_tokens"]), int(metrics["total_tokens"])


def test_generate_answers_and_counts_usage(make: Maker, live: LiveServer) -> None:
    llm = make()
    answer = llm.generate(QUESTION, max_tokens=48)

    assert answer.strip(), "a real model answers something"
    prompt_tokens, completion_tokens, total = _usage(llm)
    assert prompt_tokens >= (tokenize(live, QUESTION) or 1), "the prompt (plus the chat template) was counted"
    assert 0 < completion_tokens <= 48
    assert total == prompt_tokens + completion_tokens
    written = tokenize(live, answer)
    assert written is None or abs(completion_tokens - written) <= 1, "usage agrees with the server's tokenizer"
    assert llm.metrics["calls"] == 1 and llm.metrics["errors"] == 0
    assert llm.metrics["total_latency_ms"] > 0


def test_stream_gives_the_same_answer_in_pieces_with_usage(make: Maker) -> None:
    whole = make().generate(QUESTION, max_tokens=48)
    llm = make()
    pieces = list(llm.generate_stream(QUESTION, max_tokens=48))

    assert len(pieces) > 1, "a real server streams token by token"
    assert "".join(pieces) == whole, "temperature 0 and a fixed seed: the stream is the same answer"
    prompt_tokens, completion_tokens, total = _usage(llm)
    assert prompt_tokens > 0 and completion_tokens > 0, "usage is read from the stream"
    assert total == prompt_tokens + completion_tokens


def test_max_tokens_is_honoured(make: Maker, live: LiveServer) -> None:
    llm = make()
    answer = llm.generate(LONG_ASK, max_tokens=5)

    assert answer.strip()
    assert _usage(llm)[1] == 5, "a long story stops at the cap"
    assert (tokenize(live, answer) or 0) <= 6


def test_streamed_max_tokens_is_honoured(make: Maker) -> None:
    llm = make()
    pieces = list(llm.generate_stream(LONG_ASK, max_tokens=5))

    assert 1 <= len(pieces) <= 5
    assert _usage(llm)[1] == 5


def test_a_short_answer_ends_before_the_cap(make: Maker) -> None:
    llm = make()
    llm.generate("Say hello.", max_tokens=200)

    assert 0 < _usage(llm)[1] < 200, "the model ended its turn itself"


def test_stop_sequence_cuts_the_answer_where_it_occurs(make: Maker) -> None:
    full = make().generate(LONG_ASK, max_tokens=40)
    words = full.split()
    assert len(words) > 4, f"need a few words to choose a stop sequence from: {full!r}"
    stop = f" {words[3]}"
    expected = full[: full.index(stop)]

    llm = make()
    cut = llm.generate(LONG_ASK, max_tokens=40, stop=[stop])

    assert cut == expected, "the answer ends right before the stop sequence, which is not included"
    assert _usage(llm)[1] < 40


def test_streamed_stop_sequence(make: Maker) -> None:
    full = make().generate(LONG_ASK, max_tokens=40)
    stop = f" {full.split()[3]}"

    pieces = list(make().generate_stream(LONG_ASK, max_tokens=40, stop=[stop]))

    assert "".join(pieces) == full[: full.index(stop)]


def test_is_available_for_the_served_model(make: Maker) -> None:
    assert make().is_available() is True


#: Whether ``is_available`` checks the model id: ``openai`` looks for it in ``/v1/models``; the
#: ``llamacpp`` preset knows the server answers any id with its one model; Anthropic's probe lists
#: one model only, so it cannot look.
UNKNOWN_MODEL_AVAILABLE = {"openai": False, "llamacpp": True, "anthropic": True}


def test_an_unknown_model_is_still_answered_by_the_loaded_one(make: Maker, dialect: str) -> None:
    """llama-server lists only its model, yet answers any model id with it."""
    llm = make(model="no-such-model")

    assert llm.is_available() is UNKNOWN_MODEL_AVAILABLE[dialect]
    assert llm.generate(QUESTION, max_tokens=8).strip()


def test_model_info_takes_the_window_from_the_server_or_guesses_none(make: Maker, dialect: str, live: LiveServer) -> None:
    """The ``llamacpp`` preset reads the window from the server's model list; ``openai`` and
    ``anthropic`` know no such field, and no table knows this model: ``None``, never a guess."""
    info = make().get_model_info()

    assert info["provider"] == dialect
    assert info["model_name"] == live.model
    assert live.url in str(info["endpoint"])
    if dialect != "llamacpp":
        assert info["context_length"] is None
    elif live.context_length is not None:  # the local server: its window is known
        assert info["context_length"] == live.context_length
    else:  # a server elsewhere reports its own window, or none
        assert info["context_length"] is None or info["context_length"] > 0


@pytest.mark.parametrize("dialect", ["openai"])
def test_a_configured_context_length_is_reported(make: Maker, live: LiveServer) -> None:
    assert make(context_length=live.context_length).get_model_info()["context_length"] == live.context_length


def test_a_bad_request_is_a_permanent_response_error(make: Maker, live: LiveServer) -> None:
    """A prompt longer than the server's context is refused with a 400, not retried."""
    llm = make(retry_attempts=3)
    too_long = "lighthouse " * ((live.context_length or 8192) + 100)

    with pytest.raises(LLMResponseException) as caught:
        llm.generate(too_long, max_tokens=4)

    error = caught.value
    assert error.status_code == 400
    assert error.retryable is False
    assert llm.metrics["calls"] == 1 and llm.metrics["errors"] == 1
