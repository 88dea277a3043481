"""A local server that speaks OpenAI's Chat Completions API as ``wire.md`` section 3 documents it.

No OpenAI key is available where the cassettes are made, so this is what they are recorded
from (their provenance says so). Its ``url`` ends in ``/v1``, like the real base URL, so
recorded paths replay for the default ``https://api.openai.com/v1``. It checks the Bearer
key (a wrong one gets the real 401, which echoes the key's masked tail, so the recorder's
scrubbing is exercised), refuses unknown request fields, more than 4 stop sequences and
temperatures above 2, and answers like the API: a ``chat.completion``, or data-only SSE
chunks (with ``obfuscation`` padding, ``"usage": null`` and a last usage chunk with empty
``choices`` only when ``stream_options.include_usage`` is asked), then ``data: [DONE]``.
Identity headers (``x-request-id``, ``openai-organization``) and ``org-...`` in 429
messages are sent as the real API sends them, for the recorder to drop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tests.support.chat_completions_wire import CREATED, Answer, ChatCompletionsWireServer, done_frame
from tests.support.wire_server import Json, Reply, Sse, sse_event

__all__ = [
    "API_VERSION",
    "OpenAIWireServer",
    "error_reply",
    "insufficient_quota",
    "mid_stream_error",
    "rate_limited",
    "server_overloaded",
    "stream_reply",
]

#: The API this server imitates (``openai-version`` header; openai-openapi f85dbe2).
API_VERSION = "openai-version 2020-10-01 (openai-openapi f85dbe2)"
_COMPLETION_ID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
_FINGERPRINT = "fp_e4fa3702df"
_ORGANIZATION = "org-x4Kq9ZrTu2WbLmN8cVfH1pDs"
#: Headers the real API sends; the recorder drops the identifying ones.
_HEADERS = {
    "openai-organization": "user-x4kq9zrtu2wblmn8cvfh1pds",
    "openai-processing-ms": "312",
    "openai-version": "2020-10-01",
    "x-request-id": "req_7f3e2a9c1b8d4e6f0a5b3c2d1e0f9a8b",
}
_RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-limit-tokens": "200000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "0",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-reset-tokens": "1.25s",
}
#: The deterministic stand-in for the random ``obfuscation`` padding of real delta chunks.
_OBFUSCATION = "k3Qz"
#: Fields ``POST /v1/chat/completions`` accepts; others are "Unrecognized request argument".
CHAT_FIELDS = frozenset(
    {
        *("model", "messages", "temperature", "top_p", "n", "stream", "stream_options", "stop"),
        *("max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias"),
        *("logprobs", "top_logprobs", "user", "seed", "tools", "tool_choice", "parallel_tool_calls"),
        *("response_format", "service_tier", "store", "metadata", "reasoning_effort", "modalities"),
        *("audio", "prediction", "web_search_options", "verbosity", "safety_identifier", "prompt_cache_key"),
    }
)
_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "o4-mini")


def error_reply(
    status: int,
    message: str,
    *,
    type: str,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Json:
    """An error with OpenAI's body: all four keys of ``error`` are always present."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Json(status, body, {**_HEADERS, **(headers or {})})


def rate_limited(*, retry_after_ms: str | None = "1250", retry_after: str | None = "2") -> Json:
    """A 429 ``rate_limit_exceeded`` naming the organization, with the retry hints asked for."""
    hints = {"retry-after-ms": retry_after_ms, "retry-after": retry_after}
    message = (
        f"Rate limit reached for gpt-4o-mini in organization {_ORGANIZATION} on tokens per min (TPM): "
        "Limit 200000, Used 199800, Requested 500. Please try again in 1.25s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    headers = _RATE_LIMIT_HEADERS | {name: value for name, value in hints.items() if value is not None}
    return error_reply(429, message, type="tokens", code="rate_limit_exceeded", headers=headers)


def insufficient_quota() -> Json:
    """The 429 that means the quota is spent: retrying cannot help."""
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more information on this "
        "error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
    )
    return error_reply(429, message, type="insufficient_quota", code="insufficient_quota")


def server_overloaded() -> Json:
    """The 503 seen when OpenAI is overloaded."""
    return error_reply(503, "The server is temporarily overloaded. Please try again later.", type="server_error")


def _chunk(model: str, choices: list[dict[str, Any]], *, usage: bool, **extra: Any) -> str:
    chunk = {
        "id": _COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
        "choices": choices,
        **({"usage": None} if usage else {}),
        **extra,
    }
    return sse_event(chunk)


def _delta(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _content_frames(model: str, pieces: Sequence[str], *, usage: bool) -> list[str]:
    frames = [_chunk(model, [_delta({"role": "assistant", "content": "", "refusal": None})], usage=usage, obfuscation="")]
    frames += [_chunk(model, [_delta({"content": piece})], usage=usage, obfuscation=_OBFUSCATION) for piece in pieces]
    return frames


def _answer_frames(model: str, answer: Answer, *, include_usage: bool) -> list[str]:
    frames = _content_frames(model, answer.pieces, usage=include_usage)
    frames.append(_chunk(model, [_delta({}, answer.finish_reason)], usage=include_usage, obfuscation=_OBFUSCATION))
    if include_usage:
        frames.append(sse_event({**_usage_chunk(model), "usage": _usage(answer)}))
    frames.append(done_frame())
    return frames


def _usage_chunk(model: str) -> dict[str, Any]:
    return {
        "id": _COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
        "choices": [],
        "obfuscation": _OBFUSCATION,
    }


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def stream_reply(
    answer: Answer, *, model: str = "gpt-4o-mini", include_usage: bool = True, chunk_size: int | None = None
) -> Sse:
    """A streamed answer; ``chunk_size`` splits its bytes anywhere (inside lines and characters)."""
    return Sse(_answer_frames(model, answer, include_usage=include_usage), chunk_size=chunk_size, headers=_HEADERS)


def mid_stream_error(pieces: Sequence[str], message: str, *, model: str = "gpt-4o-mini") -> Sse:
    """HTTP 200, some pieces, then a ``data:`` line holding an ``error`` object, and the end."""
    error = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    return Sse([*_content_frames(model, pieces, usage=True), sse_event(error)], headers=_HEADERS)


class OpenAIWireServer(ChatCompletionsWireServer):
    """OpenAI's Chat Completions API on 127.0.0.1; ``url`` is the base URL, ending in ``/v1``."""

    @property
    def url(self) -> str:
        return super().url + "/v1"

    def models(self) -> Mapping[str, Mapping[str, Any]]:
        return {model: {"id": model, "object": "model", "created": CREATED, "owned_by": "system"} for model in _MODELS}

    def auth_failure(self, header: str | None) -> Reply:
        key = header.removeprefix("Bearer ").strip() if header else ""
        if not key:
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header using "
                "Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
                "https://platform.openai.com/account/api-keys."
            )
            return error_reply(401, message, type="invalid_request_error")
        message = (
            f"Incorrect API key provided: {_masked(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return error_reply(401, message, type="invalid_request_error", code="invalid_api_key")

    def unknown_model(self, model: str, *, generating: bool) -> Reply:
        message = f"The model `{model}` does not exist or you do not have access to it."
        param = "model" if generating else None
        return error_reply(404, message, type="invalid_request_error", param=param, code="model_not_found")

    def invalid_request(self, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return error_reply(400, "We could not parse the JSON body of your request.", type="invalid_request_error")
        unknown = sorted(set(body) - CHAT_FIELDS)
        if unknown:
            message = f"Unrecognized request argument supplied: {unknown[0]}"
            return error_reply(400, message, type="invalid_request_error")
        if "model" not in body:
            return error_reply(400, "you must provide a model parameter", type="invalid_request_error")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            message = "Missing required parameter: 'messages'."
            return error_reply(400, message, type="invalid_request_error", param="messages", code="missing_required_parameter")
        stop = body.get("stop")
        if isinstance(stop, list) and len(stop) > 4:
            message = f"Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length {len(stop)} instead."
            return error_reply(400, message, type="invalid_request_error", param="stop", code="array_above_max_length")
        temperature = body.get("temperature")
        if isinstance(temperature, int | float) and not 0 <= temperature <= 2:
            message = f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got {temperature} instead."
            return error_reply(400, message, type="invalid_request_error", param="temperature", code="decimal_above_max_value")
        return None

    def completion(self, body: Mapping[str, Any], answer: Answer) -> Json:
        completion = {
            "id": _COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": str(body["model"]),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": _usage(answer),
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
        }
        return Json(200, completion, _HEADERS)

    def stream(self, body: Mapping[str, Any], answer: Answer) -> Sse:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return stream_reply(answer, model=str(body["model"]), include_usage=include_usage)


def _masked(key: str) -> str:
    """The key as OpenAI's 401 echoes it: its prefix, stars, and its last four characters."""
    prefix = "sk-proj-" if key.startswith("sk-proj-") else key[:3]
    return f"{prefix}****{key[-4:]}"
