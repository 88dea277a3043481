"""Cohere's v2 Chat API (``POST /v2/chat``).

Wire facts this module relies on (``docs/providers/cohere.md`` has the sources): the key
goes in ``Authorization: Bearer``; ``model`` is required; the system prompt is a
``system`` role message; the answer is the ``text`` items of ``message.content``;
``finish_reason`` is UPPERCASE and ``ERROR``/``TIMEOUT`` mean the generation failed;
usage has two counts, ``tokens`` (what the model processed, reported as our prompt and
completion tokens) and ``billed_units`` (what is paid, logged at DEBUG); streams are SSE
with named events ending in ``message-end`` and then ``data: [DONE]``, and a failure
after HTTP 200 is a ``message-end`` with ``finish_reason: ERROR`` and a ``delta.error``
text; errors are ``{"message": "..."}``, and 498 (invalid token) is an authentication
error like 401.
A ``json_schema`` is ``response_format: {"type": "json_object", "json_schema": ...}``
(https://docs.cohere.com/docs/structured-outputs).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any, TypeGuard

import attrs

from obra_llm.calls import Completion, StreamEnd, StreamItems, token_count
from obra_llm.errors import AuthenticationError, LLMException, LLMResponseException, ModelNotFoundError
from obra_llm.options import Call
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import HttpSettings, HttpWire, Identity, ModelFacts, ModelListing, answer_object
from obra_llm.structured import native
from obra_llm.transports.endpoint import WireRequest, path_segment
from obra_llm.transports.framing import SSEEvent, iter_sse, json_object
from obra_llm.transports.http import ErrorReply, error_for_status, safe_url

__all__ = ["COHERE", "CohereLLM", "CohereSettings", "CohereWire"]

logger = logging.getLogger(__name__)

COHERE = Identity(
    name="cohere", label="Cohere", base_url="https://api.cohere.com", default_model="command-a-03-2025",
    key_variables=("COHERE_API_KEY", "CO_API_KEY"), docs="https://docs.cohere.com/reference/chat"
)
_PROVIDER = COHERE.name
#: ``stop_sequences`` takes "a list of up to 5 strings" (cohere-python ``v2/raw_client.py``).
_MAX_STOP = 5
#: Finish reasons that mean no usable answer; a model that ran out of time may answer if asked again.
_FAILED_RETRYABLE = {"ERROR": False, "TIMEOUT": True}
#: Statuses that mean a refused key: 401 ``invalid api token`` and Cohere's own 498 ``invalid token``.
_AUTH_STATUSES = frozenset({401, 498})
#: Where Cohere differs from the shared status defaults: 499 (request cancelled) is worth
#: another try (docs.cohere.com/reference/errors), 501 (not implemented) is not.
_RETRYABLE = {499: True, 501: False}
#: Context windows for when ``GET /v1/models/{model}`` cannot be asked (docs.cohere.com/docs/models).
#: Keys are id prefixes (``command-r`` covers ``command-r-plus-08-2024`` and ``command-r7b-12-2024``).
CONTEXT_LENGTHS: Mapping[str, int] = {
    "command-a-03-2025": 256_000,
    "command-a-reasoning": 256_000,
    "command-a-vision": 128_000,
    "command-r": 128_000,
    "command-light": 4_096,
}


@attrs.frozen(kw_only=True)
class CohereSettings(HttpSettings):
    """Keys of the ``cohere`` provider.

    ``base_url`` is the API root (``/v2/chat`` and ``/v1/models`` are under it).
    ``temperature`` keeps the shared 0-2 range: the SDK documents only "a non-negative float".
    """

    model: str = COHERE.default_model


class CohereWire(HttpWire[CohereSettings]):
    """Translation for Cohere's v2 Chat API (see the module docstring)."""

    identity = COHERE
    settings_type = CohereSettings
    model_listing = ModelListing(path="/v1/models", key="models", id_field="name", page_size_param="page_size")
    structured_mode = native("response_format.json_object+json_schema")
    max_stop = _MAX_STOP
    context_lengths = CONTEXT_LENGTHS

    def chat(self, settings: CohereSettings, prompt: str, call: Call, *, stream: bool) -> WireRequest:
        return WireRequest("/v2/chat", _map_request(settings, prompt, call, stream=stream))

    def process_response(self, body: Any) -> Completion:
        body = answer_object(body, label="Cohere", provider=_PROVIDER)
        reason = _finish_reason(body)
        if reason in _FAILED_RETRYABLE:
            raise _generation_failed(reason, body.get("error"), when="")
        message = body.get("message")
        content = message.get("content", []) if isinstance(message, dict) else None
        if not isinstance(content, list):
            msg = "Cohere's answer has no message.content list"
            raise LLMResponseException(msg, provider=_PROVIDER)
        text = "".join(
            item["text"]
            for item in content
            if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str)
        )
        prompt_tokens, completion_tokens = _process_usage(body.get("usage"))
        return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, stop_reason=reason)

    def process_stream(self, chunks: Iterator[bytes]) -> StreamItems:
        """Text from ``content-delta`` events until ``message-end``; every other event is skipped."""
        for event in iter_sse(chunks):
            if event.data == "[DONE]":
                break
            payload = _parse_event(event)
            kind = payload.get("type", event.event)
            if kind == "content-delta":
                piece = _delta_text(payload)
                if piece:
                    yield piece
            elif kind == "message-end":
                delta = payload.get("delta")
                delta = delta if isinstance(delta, dict) else {}
                reason = _finish_reason(delta)
                if reason in _FAILED_RETRYABLE:
                    raise _generation_failed(reason, delta.get("error"), when=" mid-stream")
                prompt_tokens, completion_tokens = _process_usage(delta.get("usage"))
                yield StreamEnd(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, stop_reason=reason)
                return
        msg = "Cohere's stream ended before its message-end event (the answer is cut)"
        raise LLMResponseException(msg, provider=_PROVIDER, retryable=True)

    def error_text(self, body: Any) -> str | None:
        message = body.get("message") if isinstance(body, dict) else None
        return message if isinstance(message, str) and message else None

    def map_error(self, reply: ErrorReply, settings: CohereSettings) -> LLMException:
        status = reply.status
        if status in _AUTH_STATUSES:
            msg = f"{reply.detail} (check the API key: {COHERE.key_hint()})"
            return error_for_status(reply, provider=_PROVIDER, detail=msg, kind=AuthenticationError, retryable=False)
        if status == 404:
            model, target = settings.model, safe_url(COHERE.url(settings))
            msg = f"model {model!r} not found at {target}: {reply.detail} (GET /v1/models lists the models this key can use)"
            return error_for_status(reply, provider=_PROVIDER, detail=msg, kind=ModelNotFoundError, retryable=False)
        return error_for_status(reply, provider=_PROVIDER, retryable=_RETRYABLE.get(status))

    def model_request(self, settings: CohereSettings) -> WireRequest | None:
        return WireRequest(f"/v1/models/{path_segment(settings.model)}", method="GET")

    def model_facts(self, body: Any | None, settings: CohereSettings) -> ModelFacts:
        """``context_length`` from ``GET /v1/models/{model}``, else the ``CONTEXT_LENGTHS`` table."""
        details = _process_model(body)
        reported = details.pop("context_length", None)
        if isinstance(reported, int):
            return ModelFacts(reported, details)
        return ModelFacts(self.table_context(settings.model), details)


class CohereLLM(HttpLLM[CohereSettings]):
    """The ``cohere`` provider: Cohere's hosted Command models over the v2 Chat API."""

    wire = CohereWire()


# -- request mapping (ours -> wire) ------------------------------------------------------------


def _map_request(settings: CohereSettings, prompt: str, call: Call, *, stream: bool) -> dict[str, Any]:
    messages = call.messages(prompt)
    sampling = call.sampling(temperature="temperature", max_tokens="max_tokens", stop="stop_sequences", seed="seed")
    body = {"model": settings.model, "messages": messages, "stream": stream, **sampling}
    if call.json_schema is not None:
        body["response_format"] = {"type": "json_object", "json_schema": call.json_schema}
    return body


# -- response processing (wire -> ours) ----------------------------------------------------------


def _parse_event(event: SSEEvent) -> dict[str, Any]:
    return json_object(event.data, what=f"Cohere streamed a {event.event!r} event whose data", provider=_PROVIDER)


def _delta_text(payload: Mapping[str, Any]) -> str | None:
    """``delta.message.content.text`` of a ``content-delta`` (thinking deltas carry ``thinking`` instead)."""
    delta = payload.get("delta")
    message = delta.get("message") if isinstance(delta, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    text = content.get("text") if isinstance(content, dict) else None
    return text if isinstance(text, str) else None


def _finish_reason(holder: Mapping[str, Any]) -> str | None:
    reason = holder.get("finish_reason")
    return reason if isinstance(reason, str) else None


def _generation_failed(reason: str, error: Any, *, when: str) -> LLMResponseException:
    said = f": {error}" if isinstance(error, str) and error else ""
    msg = f"Cohere's generation ended with finish_reason {reason}{when}{said}"
    return LLMResponseException(msg, provider=_PROVIDER, retryable=_FAILED_RETRYABLE[reason])


def _process_usage(usage: Any) -> tuple[int, int]:
    """(input, output) from ``usage.tokens``, or ``usage.billed_units`` when ``tokens`` is absent.

    ``tokens`` is what the model processed (the chat template included); ``billed_units``
    is what is paid, and is logged at DEBUG. Counts are numbers in the SDK's types
    (``Optional[float]``), so ``71.0`` is read as 71; absent counts are 0.
    """
    if not isinstance(usage, dict):
        return 0, 0
    tokens, billed = usage.get("tokens"), usage.get("billed_units")
    if isinstance(billed, dict):
        logger.debug("cohere billed units: input %s, output %s", billed.get("input_tokens"), billed.get("output_tokens"))
    counted = tokens if isinstance(tokens, dict) else billed if isinstance(billed, dict) else {}
    return token_count(counted, "input_tokens"), token_count(counted, "output_tokens")


def _is_count(value: object) -> TypeGuard[int | float]:
    """A finite, non-negative JSON number (``bool`` is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _process_model(body: Any) -> dict[str, Any]:
    """What ``GET /v1/models/{model}`` says: context length, endpoints, features, deprecation."""
    if not isinstance(body, dict):
        return {}
    facts: dict[str, Any] = {}
    context_length = body.get("context_length")
    if _is_count(context_length) and context_length > 0:
        facts["context_length"] = int(context_length)
    for key in ("endpoints", "features"):
        values = body.get(key)
        if isinstance(values, list):
            facts[key] = [value for value in values if isinstance(value, str)]
    if isinstance(body.get("is_deprecated"), bool):
        facts["is_deprecated"] = body["is_deprecated"]
    return facts
