"""Mistral's chat completions API (``/v1/chat/completions``): OpenAI-like, but strict.

Wire facts this module relies on (``docs/providers/mistral.md`` has the sources): unknown
request keys get a 422 ``extra_forbidden``, so only Mistral's own names are sent (the seed
is ``random_seed``, the cap ``max_tokens``; never ``stream_options``,
``max_completion_tokens``, ``frequency_penalty`` or a message ``name``); temperatures
above 1.5 are refused; streamed usage comes by default on the chunk with
``finish_reason``; ``message.content`` may be a string or a list of chunks; error bodies
vary (``message`` a string, an object or a JSON string, or only ``detail``); a bad model
is a 400 ``invalid_model``; ``GET /v1/models/{id}`` states ``max_context_length``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, Unpack

import attrs
import httpx

from obra_llm.calls import Completion, StreamItems
from obra_llm.config.constraints import between, header_value, http_url
from obra_llm.config.secret import Secret
from obra_llm.config.settings import CommonSettings
from obra_llm.errors import LLMException, ModelNotFoundError
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

__all__ = ["MistralLLM", "MistralSettings", "MistralWire"]

_PROVIDER = "mistral"
_LABEL = "Mistral"
_DEFAULT_MODEL = "mistral-small-latest"
_KEY_VARIABLES = ("MISTRAL_API_KEY",)
#: The API refuses temperatures above 1.5 with a 422 (its docs recommend 0 to 0.7).
_TEMPERATURE_RANGE = (0.0, 1.5)
#: What the official SDK assumes when a model card states no ``max_context_length``.
_SDK_DEFAULT_CONTEXT = 32_768
#: Error types and codes that mean the model does not exist (observed, and documented).
_UNKNOWN_MODEL_TYPES = frozenset({"invalid_model"})
_UNKNOWN_MODEL_CODES = frozenset({"unknown_model", "1500"})
#: Context windows from Mistral's model pages, for when ``/v1/models/{id}`` cannot be read.
CONTEXT_LENGTHS: Mapping[str, int] = {
    "mistral-large": 131_072,
    "mistral-medium": 131_072,
    "mistral-small": 131_072,
    "ministral-3b": 131_072,
    "ministral-8b": 131_072,
    "codestral": 262_144,
    "devstral": 131_072,
    "pixtral-large": 131_072,
    "open-mistral-nemo": 131_072,
    "open-mistral-7b": 32_768,
    "open-mixtral-8x7b": 32_768,
    "open-mixtral-8x22b": 65_536,
}


@attrs.frozen(kw_only=True)
class MistralSettings(CommonSettings):
    """Keys of the ``mistral`` provider. ``safe_prompt: true`` makes Mistral prepend its safety prompt."""

    model: str = _DEFAULT_MODEL
    base_url: str = attrs.field(default="https://api.mistral.ai", metadata=http_url())
    api_key: Secret | None = attrs.field(default=None, metadata=header_value())
    temperature: float | None = attrs.field(default=None, metadata=between(*_TEMPERATURE_RANGE))
    safe_prompt: bool = False


class MistralWire:
    """Translation for Mistral's chat completions API (see the module docstring)."""

    provider = _PROVIDER
    settings_type = MistralSettings

    def access(self, settings: MistralSettings, environ: Mapping[str, str]) -> Access:
        key = api_key(settings.api_key, environ, _KEY_VARIABLES, provider=_PROVIDER)
        return Access(base_url=settings.base_url, headers={"authorization": f"Bearer {key}"}, secrets=(key,))

    def check_options(self, options: Mapping[str, Any], settings: MistralSettings) -> GenerateOptions:
        return validate_options(options, provider=_PROVIDER, temperature_range=_TEMPERATURE_RANGE)

    def chat(self, settings: MistralSettings, prompt: str, options: GenerateOptions, *, stream: bool) -> WireRequest:
        return WireRequest("/v1/chat/completions", _map_request(settings, prompt, options, stream=stream))

    def process_response(self, body: Any) -> Completion:
        return process_completion(body, provider=_PROVIDER, label=_LABEL)

    def process_stream(self, chunks: Iterator[bytes]) -> StreamItems:
        return process_chunks(iter_sse(chunks), provider=_PROVIDER, label=_LABEL)

    def error_text(self, body: Any) -> str | None:
        return error_text(body)

    def map_error(self, response: httpx.Response, detail: str, settings: MistralSettings) -> LLMException:
        fields = response_error_fields(response)
        if response.status_code == 400 and (fields.type in _UNKNOWN_MODEL_TYPES or fields.code in _UNKNOWN_MODEL_CODES):
            msg = f"model {settings.model!r} is not available at {safe_url(settings.base_url)}: {detail}"
            return error_for_status(response, provider=_PROVIDER, detail=msg, kind=ModelNotFoundError, retryable=False)
        return error_for_status(response, provider=_PROVIDER, detail=detail)

    def probe(self, settings: MistralSettings) -> WireRequest:
        return WireRequest("/v1/models", method="GET")

    def probe_problem(self, body: Any, settings: MistralSettings) -> str | None:
        where = f"{safe_url(settings.base_url)}/v1/models"
        return models_problem(body, model=settings.model, where=where, label=_LABEL)

    def model_request(self, settings: MistralSettings) -> WireRequest | None:
        return WireRequest(f"/v1/models/{urllib.parse.quote(settings.model, safe=':')}", method="GET")

    def model_facts(self, body: Any | None, settings: MistralSettings) -> ModelFacts:
        """The card's ``max_context_length`` (32768 when it states none, as the SDK assumes);
        ``CONTEXT_LENGTHS`` when the card could not be read."""
        if not isinstance(body, dict):
            return ModelFacts(context_from_table(settings.model, CONTEXT_LENGTHS))
        length = body.get("max_context_length")
        valid = isinstance(length, int) and not isinstance(length, bool) and length > 0
        return ModelFacts(length if valid else _SDK_DEFAULT_CONTEXT, _process_card(body))

    def estimate_tokens(self, text: str, settings: MistralSettings | None) -> int:
        """Mistral's Tekken and SentencePiece tokenizers, approximated offline with tiktoken's ``o200k_base``."""
        return estimate_tokens(text, settings.model if settings else _DEFAULT_MODEL)


class MistralLLM(HttpLLM[MistralSettings]):
    """The ``mistral`` provider: Mistral's hosted chat completions API."""

    settings_type = MistralSettings

    def __init__(self, **seams: Unpack[Seams]) -> None:
        super().__init__(MistralWire(), **seams)


# -- request mapping (ours -> wire) ------------------------------------------------------------


def _map_request(settings: MistralSettings, prompt: str, options: GenerateOptions, *, stream: bool) -> dict[str, Any]:
    body = map_chat_request(settings, prompt, options, stream=stream, max_tokens_field="max_tokens", seed_field="random_seed")
    if settings.safe_prompt:
        body["safe_prompt"] = True
    return body


# -- response processing (wire -> ours) ----------------------------------------------------------


def _process_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a model card worth showing: id, type, capabilities, default temperature."""
    details: dict[str, Any] = {}
    for key in ("id", "type", "owned_by"):
        if isinstance(card.get(key), str):
            details[key] = card[key]
    temperature = card.get("default_model_temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        details["default_model_temperature"] = temperature
    capabilities = card.get("capabilities")
    if isinstance(capabilities, dict):
        details["capabilities"] = sorted(name for name, on in capabilities.items() if on is True)
    if card.get("deprecation"):
        details["deprecation"] = str(card["deprecation"])
    return details
