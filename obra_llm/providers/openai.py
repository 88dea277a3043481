"""OpenAI's Chat Completions API, and any server that speaks it (vLLM, llama.cpp, LM Studio, Ollama's ``/v1``).

Wire facts this module relies on (``docs/providers/openai.md`` has the sources): the output
cap is ``max_completion_tokens`` (o-series models reject the deprecated ``max_tokens``, which
some compatible servers still need: ``max_tokens_field``); ``stop`` takes at most 4
sequences and o3/o4-mini take none; streamed usage arrives only when
``stream_options.include_usage`` is asked, in a last chunk whose ``choices`` is empty; an
error after HTTP 200 is a ``data:`` line with an ``error`` key; a 429 ``insufficient_quota``
is a spent quota, not a rate limit, and is never retried; the API states no context window.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Unpack

import attrs
import httpx

from obra_llm.calls import Completion, StreamItems
from obra_llm.config.constraints import at_least, header_value, http_url, one_of
from obra_llm.config.secret import Secret
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import ConfigError, LLMException, ModelNotFoundError, RateLimitError
from obra_llm.options import validate_options
from obra_llm.protocol import GenerateOptions
from obra_llm.providers.chat_completions import (
    error_text,
    map_chat_request,
    models_problem,
    process_chunks,
    process_completion,
    response_error_fields,
)
from obra_llm.providers.http_api import Access, HttpLLM, ModelFacts, Seams, WireRequest, api_key, context_from_table
from obra_llm.tokens import estimate_tokens
from obra_llm.transports.framing import iter_sse
from obra_llm.transports.http import error_for_status, safe_url

__all__ = ["OpenAILLM", "OpenAISettings", "OpenAIWire"]

_PROVIDER = "openai"
_LABEL = "OpenAI"
_DEFAULT_MODEL = "gpt-4o-mini"
_KEY_VARIABLES = ("OPENAI_API_KEY",)
_MAX_STOP = 4
#: The names the output cap may be sent under: the current one, and the deprecated one.
_MAX_TOKENS_FIELDS = ("max_completion_tokens", "max_tokens")
#: Reasoning models that accept no ``stop`` sequences.
_NO_STOP_MODELS = ("o3", "o4-mini")
#: Context windows (input + output tokens) from OpenAI's model pages; the API states none.
#: A dated id (``gpt-4o-2024-08-06``) finds its family by the longest matching prefix.
CONTEXT_LENGTHS: Mapping[str, int] = {
    "gpt-3.5-turbo": 16_385,
    "gpt-4": 8_192,
    "gpt-4-turbo": 128_000,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "chatgpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "o1": 200_000,
    "o1-mini": 128_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
    "gpt-5": 400_000,
    "gpt-5-chat": 128_000,
}


@attrs.frozen(kw_only=True)
class OpenAISettings(CommonSettings):
    """Keys of the ``openai`` provider.

    ``base_url`` may point at any OpenAI-compatible server. ``organization`` and ``project``
    become the ``OpenAI-Organization`` / ``OpenAI-Project`` headers. ``max_tokens_field``
    names the output cap on the wire (``max_tokens`` for servers that only know the old
    name). ``context_length`` overrides the built-in table (for models it does not know).
    """

    model: str = _DEFAULT_MODEL
    base_url: str = attrs.field(default="https://api.openai.com/v1", metadata=http_url())
    api_key: Secret | None = attrs.field(default=None, metadata=header_value())
    organization: str | None = attrs.field(default=None, metadata=header_value())
    project: str | None = attrs.field(default=None, metadata=header_value())
    max_tokens_field: str = attrs.field(default="max_completion_tokens", metadata=one_of(_MAX_TOKENS_FIELDS))
    context_length: int | None = attrs.field(default=None, metadata=at_least(1))


class OpenAIWire:
    """Translation for OpenAI's Chat Completions API (see the module docstring)."""

    provider = _PROVIDER
    settings_type = OpenAISettings

    def access(self, settings: OpenAISettings, environ: Mapping[str, str]) -> Access:
        key = api_key(settings.api_key, environ, _KEY_VARIABLES, provider=_PROVIDER)
        headers = {"authorization": f"Bearer {key}"}
        if settings.organization:
            headers["openai-organization"] = settings.organization
        if settings.project:
            headers["openai-project"] = settings.project
        identities = tuple(value for value in (settings.organization, settings.project) if value)
        return Access(base_url=settings.base_url, headers=headers, secrets=(key, *identities))

    def check_options(self, options: Mapping[str, Any], settings: OpenAISettings) -> GenerateOptions:
        checked = validate_options(options, provider=_PROVIDER, max_stop=_MAX_STOP)
        if "stop" in checked and settings.model.startswith(_NO_STOP_MODELS):
            msg = f"invalid options for {_PROVIDER}.generate(): model {settings.model!r} accepts no stop sequences"
            raise ConfigError(msg, problems=[f"{msg} @ stop"])
        return checked

    def chat(self, settings: OpenAISettings, prompt: str, options: GenerateOptions, *, stream: bool) -> WireRequest:
        return WireRequest("/chat/completions", _map_request(settings, prompt, options, stream=stream))

    def process_response(self, body: Any) -> Completion:
        return process_completion(body, provider=_PROVIDER, label=_LABEL)

    def process_stream(self, chunks: Iterator[bytes]) -> StreamItems:
        return process_chunks(iter_sse(chunks), provider=_PROVIDER, label=_LABEL)

    def error_text(self, body: Any) -> str | None:
        return error_text(body)

    def map_error(self, response: httpx.Response, detail: str, settings: OpenAISettings) -> LLMException:
        fields = response_error_fields(response)
        status = response.status_code
        if status == 429 and "insufficient_quota" in (fields.code, fields.type):
            msg = f"{detail} (the quota is spent: check the plan and billing of the key's account)"
            return error_for_status(response, provider=_PROVIDER, detail=msg, kind=RateLimitError, retryable=False)
        if status == 404 and fields.code == "model_not_found":
            msg = f"model {settings.model!r} is not available at {safe_url(settings.base_url)}: {detail}"
            return error_for_status(response, provider=_PROVIDER, detail=msg, kind=ModelNotFoundError, retryable=False)
        if status == 404:
            detail = f"{detail} (check base_url: OpenAI-compatible servers usually serve the API under /v1)"
        return error_for_status(response, provider=_PROVIDER, detail=detail)

    def probe(self, settings: OpenAISettings) -> WireRequest:
        return WireRequest("/models", method="GET")

    def probe_problem(self, body: Any, settings: OpenAISettings) -> str | None:
        where = f"{safe_url(settings.base_url)}/models"
        return models_problem(body, model=settings.model, where=where, label=_LABEL)

    def model_request(self, settings: OpenAISettings) -> WireRequest | None:
        """``None``: no OpenAI endpoint states a context window."""
        return None

    def model_facts(self, body: Any | None, settings: OpenAISettings) -> ModelFacts:
        """``context_length`` when configured, else the window ``CONTEXT_LENGTHS`` lists for the model."""
        if settings.context_length is not None:
            return ModelFacts(settings.context_length, {"context_length_source": "config"})
        length = context_from_table(settings.model, CONTEXT_LENGTHS)
        return ModelFacts(length, {"context_length_source": "table"} if length else {})

    def estimate_tokens(self, text: str, settings: OpenAISettings | None) -> int:
        """The model's own tiktoken encoding (``o200k_base`` for models tiktoken does not know)."""
        return estimate_tokens(text, settings.model if settings else _DEFAULT_MODEL)


class OpenAILLM(HttpLLM[OpenAISettings]):
    """The ``openai`` provider: OpenAI's Chat Completions API, or any server compatible with it."""

    settings_type = OpenAISettings

    def __init__(self, **seams: Unpack[Seams]) -> None:
        super().__init__(OpenAIWire(), **seams)


# -- request mapping (ours -> wire) ------------------------------------------------------------


def _map_request(settings: OpenAISettings, prompt: str, options: GenerateOptions, *, stream: bool) -> dict[str, Any]:
    body = map_chat_request(
        settings, prompt, options, stream=stream, max_tokens_field=settings.max_tokens_field, seed_field="seed"
    )
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body
