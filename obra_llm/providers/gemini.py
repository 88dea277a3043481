"""Google's Gemini API (Generative Language API ``v1beta``), authenticated with an API key.

Wire facts this module relies on (``docs/providers/gemini.md`` has the sources): the key
goes in the ``x-goog-api-key`` header, never in the URL; ``models/{m}:generateContent``
answers whole and ``models/{m}:streamGenerateContent?alt=sse`` streams data-only SSE that
ends at EOF (no ``[DONE]``), each event a whole response; text is the candidate's parts
minus ``"thought": true`` ones; thought tokens count against ``maxOutputTokens``; a
blocked prompt has no candidates, only ``promptFeedback.blockReason``. Errors are
``{"error": {"code", "message", "status", "details"}}``: a bad key is a 400
``INVALID_ARGUMENT`` whose ``ErrorInfo.reason`` is ``API_KEY_INVALID``, and a 429's wait
is ``RetryInfo.retryDelay`` in the body. Mid-stream, an error arrives as an
``{"error": ...}`` chunk, sometimes pretty-printed over several lines without ``data:``.
A ``json_schema`` is ``generationConfig.responseMimeType: application/json`` with
``responseJsonSchema`` (https://ai.google.dev/gemini-api/docs/structured-output).
A blocked prompt (``promptFeedback.blockReason``) and an answer stopped by a filter
(``finishReason`` ``SAFETY``, ``RECITATION``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``,
``IMAGE_SAFETY``: the API reference's ``FinishReason``) raise ``RefusalError``, whatever text
came before the stop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from obra_llm import errors
from obra_llm.calls import Completion, StreamEnd, StreamItems, token_count
from obra_llm.config.constraints import at_least
from obra_llm.config.convert import shown_value
from obra_llm.options import Call
from obra_llm.protocol import GenerateOptions
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import HttpSettings, HttpWire, Identity, ModelFacts, ModelListing, answer_object
from obra_llm.structured import native
from obra_llm.transports.endpoint import WireRequest, path_segment
from obra_llm.transports.framing import iter_sse_or_json
from obra_llm.transports.http import ErrorReply, error_for_status, safe_url

__all__ = ["GEMINI", "GeminiLLM", "GeminiSettings", "GeminiWire"]

GEMINI = Identity(
    name="gemini", label="Gemini", base_url="https://generativelanguage.googleapis.com/v1beta",
    default_model="gemini-2.5-flash", key_variables=("GEMINI_API_KEY", "GOOGLE_API_KEY"), key_header="x-goog-api-key",
    key_scheme="", docs="https://ai.google.dev/api/generate-content"
)
_PROVIDER = GEMINI.name
#: ``GenerationConfig.stop_sequences`` holds at most 5 (generative_service.proto).
_MAX_STOP = 5
#: ``GenerationConfig.seed`` is an ``int32``.
_SEED_RANGE = (-(2**31), 2**31 - 1)
#: A pretty-printed error chunk larger than this is not an error chunk but corrupt input.
_MAX_BARE_JSON_BYTES = 1024 * 1024
#: The collections a Gemini model name may start with.
_COLLECTIONS = ("models", "tunedModels")
_RETRY_DELAY = re.compile(r"\s*(\d+(?:\.\d*)?)s\s*")
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
#: ``ErrorInfo.reason`` values that mean the key itself is refused (whatever the HTTP status).
_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})
#: Canonical statuses worth retrying; INTERNAL, UNAVAILABLE (overloaded), DEADLINE_EXCEEDED.
_RETRYABLE_STATUSES = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})
#: Context windows (``inputTokenLimit``) for when ``GET models/{m}`` cannot be asked; longest prefix wins.
_CONTEXT_LENGTHS: Mapping[str, int] = {
    "gemini-3": 1_048_576,
    "gemini-2.5-pro": 1_048_576,
    "gemini-2.5-flash": 1_048_576,
    "gemini-2.0-flash": 1_048_576,
    "gemini-1.5-pro": 2_097_152,
    "gemini-1.5-flash": 1_048_576,
}


@attrs.frozen(kw_only=True)
class GeminiSettings(HttpSettings):
    """Keys of the ``gemini`` provider.

    ``thinking_budget`` becomes ``thinkingConfig.thinkingBudget`` (0 turns thinking off on
    2.5 Flash, -1 lets the model decide); thought tokens count against ``max_tokens``.
    """

    model: str = GEMINI.default_model
    thinking_budget: int | None = attrs.field(default=None, metadata=at_least(-1))

    def problems(self) -> list[str]:
        collection, slash, _ = self.model.partition("/")
        if slash and collection not in _COLLECTIONS:
            allowed = " or ".join(f"{name}/<id>" for name in _COLLECTIONS)
            return [*super().problems(), f"{shown_value(self.model)} is not valid: a Gemini model is an id or {allowed} @ $.model"]
        return super().problems()


class GeminiWire(HttpWire[GeminiSettings]):
    """Translation for the Gemini API (see the module docstring)."""

    identity = GEMINI
    settings_type = GeminiSettings
    model_listing = ModelListing(path="/models", key="models", id_field="name", page_size_param="pageSize", key_optional=True)
    structured_mode = native("generationConfig.responseJsonSchema")
    max_stop = _MAX_STOP
    context_lengths = _CONTEXT_LENGTHS

    def option_problems(self, options: GenerateOptions) -> list[str]:
        seed = options.get("seed")
        if seed is None or _SEED_RANGE[0] <= seed <= _SEED_RANGE[1]:
            return []
        return [f"seed={seed} must fit in 32 bits (Gemini's seed is an int32)"]

    def chat(self, settings: GeminiSettings, prompt: str, call: Call, *, stream: bool) -> WireRequest:
        model = _model_path(settings.model)
        body = _map_request(settings, prompt, call)
        if stream:
            return WireRequest(f"/{model}:streamGenerateContent", body, params={"alt": "sse"})
        return WireRequest(f"/{model}:generateContent", body)

    def process_response(self, body: Any) -> Completion:
        return _process_response(body)

    def process_stream(self, chunks: Iterator[bytes]) -> StreamItems:
        return _process_stream(iter_sse_or_json(chunks, max_value_bytes=_MAX_BARE_JSON_BYTES))

    def error_text(self, body: Any) -> str | None:
        error = _error_object(body)
        if error is None:
            return None
        message, status = error.get("message"), error.get("status")
        if not isinstance(message, str) or not message:
            return status if isinstance(status, str) else None
        return f"{status}: {message}" if isinstance(status, str) else message

    def map_error(self, reply: ErrorReply, settings: GeminiSettings) -> errors.LLMException:
        kind, retryable, retry_after, advice = _classify_error(_error_object(reply.body) or {}, reply.status, settings)
        text = f"{reply.detail} ({advice})" if advice else reply.detail
        return error_for_status(reply, provider=_PROVIDER, detail=text, kind=kind, retryable=retryable, retry_after=retry_after)

    def model_names(self, body: Any) -> list[str]:
        return [name.removeprefix("models/") for name in super().model_names(body)]

    def model_request(self, settings: GeminiSettings) -> WireRequest | None:
        return WireRequest(f"/{_model_path(settings.model)}", method="GET")

    def model_facts(self, body: Any | None, settings: GeminiSettings) -> ModelFacts:
        """``inputTokenLimit`` from ``GET models/{m}``, else the maintained table."""
        details = _process_model(body)
        limit = details.get("input_token_limit")
        if isinstance(limit, int):
            return ModelFacts(limit, details)
        return ModelFacts(self.table_context(settings.model.removeprefix("models/")), details)


class GeminiLLM(HttpLLM[GeminiSettings]):
    """The ``gemini`` provider: Google's Gemini API with an API key."""

    wire = GeminiWire()


# -- request mapping (ours -> wire) ------------------------------------------------------------


def _model_path(model: str) -> str:
    """``models/<id>`` for a bare id; ``tunedModels/<id>`` (or ``models/<id>``) as given; the id quoted.

    The collection is checked with the settings (``GeminiSettings.problems``).
    """
    collection, slash, name = model.partition("/")
    return f"{collection}/{path_segment(name)}" if slash else f"models/{path_segment(model)}"


def _map_request(settings: GeminiSettings, prompt: str, call: Call) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if call.system:
        body["systemInstruction"] = {"parts": [{"text": call.system}]}
    body["contents"] = [{"role": "user", "parts": [{"text": prompt}]}]
    config = call.sampling(temperature="temperature", max_tokens="maxOutputTokens", stop="stopSequences", seed="seed")
    if settings.thinking_budget is not None:
        config["thinkingConfig"] = {"thinkingBudget": settings.thinking_budget}
    if call.json_schema is not None:
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = call.json_schema
    if config:
        body["generationConfig"] = config
    return body


# -- response processing (wire -> ours) ----------------------------------------------------------


def _usage(usage: Any) -> tuple[int, int]:
    """(input, output) tokens; output counts thoughts too, as they are billed and capped as output."""
    if not isinstance(usage, dict):
        return 0, 0
    return token_count(usage, "promptTokenCount"), token_count(usage, "candidatesTokenCount") + token_count(usage, "thoughtsTokenCount")


def _candidate(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    candidates = body.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return None


def _texts(candidate: Mapping[str, Any]) -> Iterator[str]:
    """The answer's text parts, thoughts left out."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    for part in parts if isinstance(parts, list) else ():
        if isinstance(part, dict) and part.get("thought") is not True and isinstance(part.get("text"), str):
            yield part["text"]


def _block_reason(body: Mapping[str, Any]) -> str | None:
    feedback = body.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return reason if isinstance(reason, str) else None


#: ``finishReason`` values meaning a filter stopped the answer (the API reference's ``FinishReason`` enum).
_FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"})


def _filtered(reason: str) -> errors.RefusalError:
    msg = f"Gemini stopped with finishReason {reason}: a filter blocked the answer; rephrase the prompt or review the API's safety settings"
    return errors.RefusalError(msg, provider=_PROVIDER)


def _blocked(body: Mapping[str, Any]) -> errors.LLMResponseException:
    """The error for an answer without candidates: the prompt was blocked (and why), or nothing came."""
    reason = _block_reason(body)
    feedback = body["promptFeedback"] if reason is not None else {}
    why = f" ({feedback['blockReasonMessage']})" if isinstance(feedback.get("blockReasonMessage"), str) else ""
    if reason is None:
        return errors.LLMResponseException("Gemini answered with no candidates and no promptFeedback", provider=_PROVIDER)
    msg = f"Gemini blocked the prompt: blockReason {reason}{why}; rephrase it or review the API's safety settings"
    return errors.RefusalError(msg, provider=_PROVIDER)


def _empty_answer(reason: str, usage: Any) -> errors.LLMResponseException:
    """The error for an answer with no text that stopped for ``reason`` (not ``STOP``)."""
    if reason == "MAX_TOKENS":
        thoughts = token_count(usage, "thoughtsTokenCount") if isinstance(usage, dict) else 0
        spent = f" ({thoughts} tokens went to thinking)" if thoughts else ""
        msg = (
            f"Gemini stopped at maxOutputTokens before writing any answer{spent}: thinking models spend the "
            "cap on thoughts first; raise max_tokens, or set thinking_budget: 0 in the llm config"
        )
        return errors.LLMResponseException(msg, provider=_PROVIDER)
    return errors.LLMResponseException(f"Gemini stopped with finishReason {reason} and no answer text", provider=_PROVIDER)


def _process_response(body: Any) -> Completion:
    body = answer_object(body, label="Gemini", provider=_PROVIDER)
    _raise_error_payload(body)
    candidate = _candidate(body)
    if candidate is None:
        raise _blocked(body)
    text = "".join(_texts(candidate))
    reason = candidate.get("finishReason")
    usage = body.get("usageMetadata")
    if reason in _FILTERED:
        raise _filtered(reason)
    if not text and isinstance(reason, str) and reason != "STOP":
        raise _empty_answer(reason, usage)
    prompt_tokens, completion_tokens = _usage(usage)
    return Completion(
        text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        stop_reason=reason if isinstance(reason, str) else None,
    )


def _process_stream(payloads: Iterable[Any]) -> StreamItems:
    """Text from every chunk; ``finishReason`` and usage from the last chunk that has them.

    ``payloads`` are the parsed ``data:`` events and bare (pretty-printed) JSON values of the
    stream, from ``iter_sse_or_json``.
    """
    usage: Any = None
    reason: str | None = None
    wrote = False
    for chunk in payloads:
        if not isinstance(chunk, dict):
            msg = f"Gemini streamed an event that is not a JSON object: {type(chunk).__name__}"
            raise errors.LLMResponseException(msg, provider=_PROVIDER)
        _raise_error_payload(chunk, mid_stream=True)
        candidate = _candidate(chunk)
        if candidate is None and _block_reason(chunk) is not None:
            raise _blocked(chunk)
        for piece in _texts(candidate or {}):
            if piece:
                wrote = True
                yield piece
        if isinstance(chunk.get("usageMetadata"), dict):
            usage = chunk["usageMetadata"]
        if candidate is not None and isinstance(candidate.get("finishReason"), str):
            reason = candidate["finishReason"]
    if reason is None:
        msg = "Gemini's stream ended before any chunk carried a finishReason (the answer is cut)"
        raise errors.LLMResponseException(msg, provider=_PROVIDER, retryable=True)
    if reason in _FILTERED:
        raise _filtered(reason)
    if not wrote and reason != "STOP":
        raise _empty_answer(reason, usage)
    prompt_tokens, completion_tokens = _usage(usage)
    yield StreamEnd(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, stop_reason=reason)


def _process_model(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    facts: dict[str, Any] = {}
    for wire_name, name in (
        ("inputTokenLimit", "input_token_limit"),
        ("outputTokenLimit", "output_token_limit"),
        ("displayName", "display_name"),
        ("version", "version"),
        ("maxTemperature", "max_temperature"),
        ("thinking", "thinking"),
    ):
        if wire_name in body:
            facts[name] = body[wire_name]
    methods = body.get("supportedGenerationMethods")
    if isinstance(methods, list):
        facts["supported_generation_methods"] = [method for method in methods if isinstance(method, str)]
    return facts


# -- errors ---------------------------------------------------------------------------------------


def _error_object(body: Any) -> dict[str, Any] | None:
    """The ``error`` object of an error body; the array-wrapped form (``[{"error": ...}]``) too."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _details(error: Mapping[str, Any], type_url: str) -> list[dict[str, Any]]:
    details = error.get("details")
    entries = details if isinstance(details, list) else []
    return [entry for entry in entries if isinstance(entry, dict) and entry.get("@type") == type_url]


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    """Seconds from ``RetryInfo.retryDelay`` (a proto Duration: ``"34s"``, ``"0.5s"``), if any."""
    for info in _details(error, _RETRY_INFO):
        delay = info.get("retryDelay")
        match = _RETRY_DELAY.fullmatch(delay) if isinstance(delay, str) else None
        if match:
            return float(match.group(1))
    return None


def _per_day_quota(error: Mapping[str, Any]) -> str | None:
    """The ``quotaId`` of a spent per-day quota: retrying within seconds will not help."""
    for failure in _details(error, _QUOTA_FAILURE):
        violations = failure.get("violations")
        for violation in violations if isinstance(violations, list) else ():
            quota = violation.get("quotaId") if isinstance(violation, dict) else None
            if isinstance(quota, str) and "PerDay" in quota:
                return quota
    return None


def _classify_error(
    error: Mapping[str, Any], http_status: int, settings: GeminiSettings | None
) -> tuple[type[errors.LLMException] | None, bool | None, float | None, str | None]:
    """(class, retryable, retry_after, advice) for an error object; ``None`` keeps the status default."""
    status = error.get("status")
    code = error.get("code") if isinstance(error.get("code"), int) else http_status
    reasons = {info.get("reason") for info in _details(error, _ERROR_INFO)}
    if reasons & _KEY_REASONS or code == 401 or status == "UNAUTHENTICATED":
        return errors.AuthenticationError, False, None, f"the API key was refused: check {GEMINI.key_hint()}"
    if code == 403 or status == "PERMISSION_DENIED":
        return errors.AuthenticationError, False, None, "the key may not use this API or model"
    if code == 404 or status == "NOT_FOUND":
        if settings is None:
            return errors.ModelNotFoundError, False, None, None
        where = f"GET {safe_url(GEMINI.url(settings))}/models"
        return errors.ModelNotFoundError, False, None, f"check model: {settings.model!r}; {where} lists the models this key can use"
    if code == 429 or status == "RESOURCE_EXHAUSTED":
        daily = _per_day_quota(error)
        if daily:
            return errors.RateLimitError, False, _retry_delay(error), f"the per-day quota {daily} is spent; retrying soon will not help"
        return errors.RateLimitError, True, _retry_delay(error), None
    if status in _RETRYABLE_STATUSES:
        return errors.LLMResponseException, True, None, None
    return None, None, None, None


def _raise_error_payload(body: Mapping[str, Any], *, mid_stream: bool = False) -> None:
    """Raise the error an ``{"error": ...}`` body carries (after HTTP 200, there is no status to map)."""
    error = _error_object(body)
    if error is None:
        return
    code = error.get("code") if isinstance(error.get("code"), int) else None
    kind, retryable, retry_after, advice = _classify_error(error, code or 500, None)
    where = " mid-stream" if mid_stream else ""
    message = error.get("message") if isinstance(error.get("message"), str) else "(no message)"
    status = f"{error['status']}: " if isinstance(error.get("status"), str) else ""
    msg = f"Gemini reported an error{where} (code {code}): {status}{message}" + (f" ({advice})" if advice else "")
    raise (kind or errors.LLMResponseException)(
        msg,
        provider=_PROVIDER,
        status_code=code,
        retryable=bool(retryable) if retryable is not None else code is not None and code >= 500,
        retry_after=retry_after,
    )
