"""A local server that speaks the Gemini API (``v1beta``) as ``wire.md`` section 5 documents it.

No Gemini key is available here, so the Gemini cassettes are recorded from this server
(their provenance says so) and the fault tests run against it. It checks the
``x-goog-api-key`` header like the real service (missing: 403 ``PERMISSION_DENIED``;
wrong: 400 ``INVALID_ARGUMENT`` with ``ErrorInfo.reason`` ``API_KEY_INVALID``), rejects
request fields that the proto does not have, streams ``?alt=sse`` events with CRLF line
ends (a JSON array without ``alt=sse``), and answers each generation request with the
next scripted reply, or ``default_answer`` when none is left.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

import attrs

from tests.support.structured_answers import conforming_text, schema_in_prompt
from tests.support.wire_server import Chunked, Hang, Json, Raw, Request, Sse, WireServer

__all__ = [
    "VALID_KEY",
    "VERSION",
    "Answer",
    "ApiError",
    "Blocked",
    "GeminiWireServer",
    "MidStreamError",
    "Reply",
    "per_day_quota",
    "quality_answer",
    "rate_limited",
    "service_disabled",
    "unavailable",
]

#: The API this server imitates.
VERSION = "Gemini API v1beta (generativelanguage.googleapis.com), python-genai @6680718"
#: The key the server accepts (the suite's dummy key; the real one never comes here).
VALID_KEY = "test-key-not-a-secret"
_PREFIX = "/v1beta"
_MODELS: Mapping[str, Mapping[str, Any]] = {
    "gemini-2.5-flash": {"displayName": "Gemini 2.5 Flash", "inputTokenLimit": 1048576, "outputTokenLimit": 65536},
    "gemini-2.5-pro": {"displayName": "Gemini 2.5 Pro", "inputTokenLimit": 1048576, "outputTokenLimit": 65536},
    "gemini-2.0-flash": {"displayName": "Gemini 2.0 Flash", "inputTokenLimit": 1048576, "outputTokenLimit": 8192},
}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_SERVICE = "generativelanguage.googleapis.com"
#: Fields of ``GenerateContentRequest`` and ``GenerationConfig`` (proto-JSON accepts both spellings).
_REQUEST_FIELDS = frozenset(
    {"contents", "systemInstruction", "system_instruction", "generationConfig", "generation_config",
     "safetySettings", "safety_settings", "tools", "toolConfig", "tool_config", "cachedContent", "cached_content"}
)
_CONFIG_FIELDS = frozenset(
    {"temperature", "maxOutputTokens", "max_output_tokens", "stopSequences", "stop_sequences", "seed", "topP",
     "top_p", "topK", "top_k", "candidateCount", "candidate_count", "responseMimeType", "response_mime_type",
     "responseSchema", "response_schema", "responseJsonSchema", "response_json_schema", "thinkingConfig", "thinking_config", "presencePenalty", "frequencyPenalty"}
)


@attrs.frozen
class Answer:
    """A normal answer: ``pieces`` streamed one chunk each (joined when not streaming).

    ``completion_tokens`` is ``candidatesTokenCount``; ``thoughts_tokens`` and ``thought``
    add a thinking model's ``thoughtsTokenCount`` and a ``"thought": true`` part. An empty
    ``finish_reason`` streams no ``finishReason`` at all: a stream cut short (the body ends cleanly).
    """

    pieces: Sequence[str]
    prompt_tokens: int = 96
    completion_tokens: int = 17
    thoughts_tokens: int = 0
    thought: str | None = None
    finish_reason: str = "STOP"
    line_ending: str = "\r\n"
    chunk_size: int | None = None


@attrs.frozen
class ApiError:
    """An error status with Google's ``{"error": {code, message, status, details}}`` body."""

    code: int
    status: str
    message: str
    details: Sequence[Mapping[str, Any]] = ()
    headers: Mapping[str, str] = attrs.Factory(dict)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = [dict(detail) for detail in self.details]
        return {"error": error}


@attrs.frozen
class Blocked:
    """The prompt was blocked: no ``candidates``, only ``promptFeedback.blockReason``."""

    reason: str = "PROHIBITED_CONTENT"
    prompt_tokens: int = 96


@attrs.frozen
class MidStreamError:
    """Status 200, some pieces, then an ``{"error": ...}`` chunk; ``pretty`` writes it multi-line, no ``data:``."""

    pieces: Sequence[str]
    error: ApiError
    pretty: bool = True


Reply = Answer | ApiError | Blocked | MidStreamError | Hang | Raw | Json | Sse | Chunked


def quality_answer(request: Mapping[str, Any]) -> Answer:
    """The default reply: the scored review the demo and the orchestrator tests expect."""
    return Answer(pieces=["SCORE: 8", "\n", "The change", " validates the port range", " and keeps", " the happy path."])


def rate_limited(delay: str = "34s", quota_id: str = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier") -> ApiError:
    """The free tier's 429: ``QuotaFailure``, ``Help`` and ``RetryInfo`` details (no Retry-After header)."""
    metric = f"{_SERVICE}/generate_content_free_tier_requests"
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For more information on this "
        f"error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: {metric}, "
        f"limit: 10, model: gemini-2.5-flash\nPlease retry in {delay}.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": metric,
                        "quotaId": quota_id,
                        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                        "quotaValue": "10",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
        ],
    )


def per_day_quota() -> ApiError:
    """A spent per-day quota: a 429 that retrying within the minute cannot fix."""
    return rate_limited("13s", "GenerateRequestsPerDayPerProjectPerModel-FreeTier")


def service_disabled(project: str = "123456789012") -> ApiError:
    """403 ``SERVICE_DISABLED``: its ``ErrorInfo`` names the consumer project (cassettes must scrub it)."""
    return ApiError(
        403,
        "PERMISSION_DENIED",
        "Generative Language API has not been used in this project before or it is disabled. Enable it, then retry.",
        details=[
            {
                "@type": _ERROR_INFO,
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {"consumer": f"projects/{project}", "service": _SERVICE},
            }
        ],
    )


def unavailable() -> ApiError:
    """503 ``UNAVAILABLE``: the model is overloaded."""
    return ApiError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


class GeminiWireServer(WireServer):
    """The Gemini API under ``/v1beta`` on 127.0.0.1; ``url`` includes the version path.

    ``queue`` takes this module's ``Reply`` types for the generation endpoints.
    """

    def __init__(
        self,
        *,
        key: str = VALID_KEY,
        default_answer: Callable[[Mapping[str, Any]], Answer] = quality_answer,
    ) -> None:
        super().__init__(prefix=_PREFIX)
        self.key = key
        self.default_answer = default_answer
        self._response_ids = itertools.count(1)

    def route(self, request: Request) -> Hang | Json | Raw | Sse | Chunked:
        if not request.path.startswith("/models"):
            return Raw(404, b"<!DOCTYPE html><title>Error 404 (Not Found)!!1</title>", "text/html; charset=UTF-8")
        refused = self._refused(request)
        if refused is not None:
            return Json(refused.code, refused.body())
        path = request.path.removeprefix("/")
        query = parse_qs(request.query)
        if request.method == "GET" and path == "models":
            return self._list(int(query.get("pageSize", ["50"])[0]))
        name, _, method = path.partition(":")
        model = name.removeprefix("models/")
        if not name.startswith("models/") or model not in _MODELS:
            return Json(404, _not_found(name, method or "get").body())
        if request.method == "GET" and not method:
            return Json(200, _model(model))
        if request.method == "POST" and method in ("generateContent", "streamGenerateContent"):
            invalid = _invalid_request(request.body)
            if invalid is not None:
                return Json(400, invalid.body())
            scripted = self._pop_script()
            reply: Reply = scripted if scripted is not None else self._answer(request.body)
            stream = method == "streamGenerateContent"
            return self._generate(model, reply, stream=stream, sse=query.get("alt") == ["sse"])
        return Json(404, _not_found(name, method).body())

    def _answer(self, body: Mapping[str, Any]) -> Reply:
        """``default_answer``, or JSON honouring ``responseJsonSchema`` when the config asks for it."""
        config = body.get("generationConfig") or {}
        schema = config.get("responseJsonSchema")
        if schema is None:
            # No constrained mode (gemini-cli): a model following obra_llm's instructions in the prompt.
            prompted = schema_in_prompt(_last_user_text(body))
            if prompted is not None:
                return Answer(pieces=[conforming_text(prompted)], prompt_tokens=120, completion_tokens=38)
            return self.default_answer(body)
        if config.get("responseMimeType") != "application/json":
            return _bad_request("* GenerateContentRequest.generation_config.response_mime_type: responseJsonSchema needs application/json")
        return Answer(pieces=[conforming_text(schema)], prompt_tokens=120, completion_tokens=38)

    def _refused(self, request: Request) -> ApiError | None:
        """Like the real service: the header or ``?key=`` (both accepted; obra_llm sends only the header)."""
        key = request.headers.get("x-goog-api-key") or parse_qs(request.query).get("key", [None])[0]
        if not key:
            return ApiError(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if key != self.key:
            return ApiError(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                details=[
                    {"@type": _ERROR_INFO, "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": _SERVICE}},
                    {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid. Please pass a valid API key."},
                ],
            )
        return None

    def _list(self, page_size: int) -> Json:
        names = list(_MODELS)
        body: dict[str, Any] = {"models": [_model(name) for name in names[:page_size]]}
        if page_size < len(names):
            body["nextPageToken"] = f"page-{page_size}"
        return Json(200, body)

    def _generate(self, model: str, reply: Reply, *, stream: bool, sse: bool) -> Hang | Json | Raw | Sse | Chunked:
        if isinstance(reply, Hang | Raw | Json | Sse | Chunked):
            return reply  # base replies (scripted by generic fault tests) pass through unchanged
        if isinstance(reply, ApiError):
            return Json(reply.code, reply.body(), reply.headers)
        if isinstance(reply, Blocked):
            blocked = {
                "promptFeedback": {"blockReason": reply.reason},
                "usageMetadata": {"promptTokenCount": reply.prompt_tokens, "totalTokenCount": reply.prompt_tokens},
                "modelVersion": model,
                "responseId": self._response_id(),
            }
            return Sse([_frame(blocked, "\r\n")]) if stream and sse else Json(200, [blocked] if stream else blocked)
        if not stream:
            if isinstance(reply, MidStreamError):
                return Json(reply.error.code, reply.error.body())
            return Json(200, self._whole(model, reply))
        chunks = self._chunks(model, reply)
        if not sse:
            return Json(200, chunks + ([reply.error.body()] if isinstance(reply, MidStreamError) else []))
        ending = reply.line_ending if isinstance(reply, Answer) else "\r\n"
        frames = [_frame(chunk, ending) for chunk in chunks]
        if isinstance(reply, MidStreamError):
            error = reply.error.body()
            frames.append(json.dumps(error, indent=2) + "\n" if reply.pretty else _frame(error, "\r\n"))
        return Sse(frames, chunk_size=reply.chunk_size if isinstance(reply, Answer) else None)

    def _whole(self, model: str, answer: Answer) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": answer.thought, "thought": True}] if answer.thought else []
        text = "".join(answer.pieces)
        if text:
            parts.append({"text": text})
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "finishReason": answer.finish_reason, "index": 0}
        if not parts:
            candidate["content"] = {"role": "model"}
        return {
            "candidates": [candidate],
            "usageMetadata": _usage(answer, answer.completion_tokens),
            "modelVersion": model,
            "responseId": self._response_id(),
        }

    def _chunks(self, model: str, reply: Answer | MidStreamError) -> list[dict[str, Any]]:
        """One response per piece; ``usageMetadata`` on every chunk (counts so far), ``finishReason`` on the last."""
        response_id = self._response_id()
        answer = reply if isinstance(reply, Answer) else Answer(pieces=reply.pieces)
        pieces = list(answer.pieces) or [""]
        chunks = []
        for index, piece in enumerate(pieces):
            parts: list[dict[str, Any]] = [{"text": piece}] if piece else []
            if index == 0 and answer.thought:
                parts.insert(0, {"text": answer.thought, "thought": True})
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            last = index == len(pieces) - 1
            if last and isinstance(reply, Answer) and answer.finish_reason:
                candidate["finishReason"] = answer.finish_reason
            written = answer.completion_tokens * (index + 1) // len(pieces)
            chunks.append(
                {"candidates": [candidate], "usageMetadata": _usage(answer, written), "modelVersion": model, "responseId": response_id}
            )
        return chunks

    def _response_id(self) -> str:
        return f"wire-response-{next(self._response_ids):04d}"


def _frame(chunk: Mapping[str, Any], ending: str) -> str:
    """One data-only SSE event, as the service writes it (no ``event:`` name)."""
    return f"data: {json.dumps(chunk, separators=(',', ':'))}{ending}{ending}"


def _usage(answer: Answer, candidates: int) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": answer.prompt_tokens}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    if answer.thoughts_tokens:
        usage["thoughtsTokenCount"] = answer.thoughts_tokens
    usage["totalTokenCount"] = answer.prompt_tokens + candidates + answer.thoughts_tokens
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": answer.prompt_tokens}]
    return usage


def _model(name: str) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "version": "001",
        "description": f"{_MODELS[name]['displayName']}, as imitated by the obra_llm wire server",
        **_MODELS[name],
        "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": name.startswith("gemini-2.5"),
    }


def _not_found(name: str, method: str) -> ApiError:
    return ApiError(
        404,
        "NOT_FOUND",
        f"{name} is not found for API version v1beta, or is not supported for {method}. "
        "Call ListModels to see the list of available models and their supported methods.",
    )


def _invalid_request(body: Any) -> ApiError | None:
    """A 400 for what proto-JSON parsing or validation would refuse, in the service's words."""
    if not isinstance(body, dict):
        return _bad_request("Invalid JSON payload received. Expected an object.")
    for name in body:
        if name not in _REQUEST_FIELDS:
            return _bad_request(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    config = body.get("generationConfig") or body.get("generation_config") or {}
    if not isinstance(config, dict):
        return _bad_request("Invalid JSON payload received. generation_config must be an object.")
    for name in config:
        if name not in _CONFIG_FIELDS:
            return _bad_request(f'Invalid JSON payload received. Unknown name "{name}" at \'generation_config\': Cannot find field.')
    if len(config.get("stopSequences", [])) > 5:
        return _bad_request("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences allowed")
    temperature = config.get("temperature", 1)
    if not 0 <= temperature <= 2:
        return _bad_request("* GenerateContentRequest.generation_config.temperature: must be between 0 and 2")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return _bad_request("* GenerateContentRequest.contents: contents is not specified")
    for content in contents:
        if content.get("role") not in ("user", "model") or not content.get("parts"):
            return _bad_request("Please use a valid role: user, model.")
    return None


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def _last_user_text(body: Mapping[str, Any]) -> str:
    """The text parts of a request's last content, joined."""
    contents = body.get("contents")
    last = contents[-1] if isinstance(contents, list) and contents else {}
    parts = last.get("parts") if isinstance(last, dict) else None
    return "".join(part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)) if isinstance(parts, list) else ""
