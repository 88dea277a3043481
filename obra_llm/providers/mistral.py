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

from collections.abc import Mapping
from typing import Any

import attrs

from obra_llm.config.constraints import between
from obra_llm.errors import LLMException
from obra_llm.options import Call
from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings, error_fields
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Identity, ModelFacts
from obra_llm.transports.endpoint import WireRequest, path_segment
from obra_llm.transports.http import ErrorReply

__all__ = ["MISTRAL", "MistralLLM", "MistralSettings", "MistralWire"]

MISTRAL = Identity(
    name="mistral", label="Mistral", base_url="https://api.mistral.ai", default_model="mistral-small-latest",
    key_variables=("MISTRAL_API_KEY",), docs="https://docs.mistral.ai/api/#tag/chat"
)
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
class MistralSettings(ChatSettings):
    """Keys of the ``mistral`` provider. ``safe_prompt: true`` makes Mistral prepend its safety prompt."""

    model: str = MISTRAL.default_model
    temperature: float | None = attrs.field(default=None, metadata=between(*_TEMPERATURE_RANGE))
    safe_prompt: bool = False


class MistralWire(ChatCompletionsWire[MistralSettings]):
    """The chat-completions dialect with Mistral's names, its 400 for unknown models, and its model cards."""

    def __init__(self) -> None:
        super().__init__(
            MISTRAL,
            MistralSettings,
            chat_path="/v1/chat/completions",
            models_path="/v1/models",
            seed_field="random_seed",
            stream_usage=False,
            temperature_range=_TEMPERATURE_RANGE,
            context_lengths=CONTEXT_LENGTHS,
        )

    def body(self, settings: MistralSettings, prompt: str, call: Call, *, stream: bool) -> dict[str, Any]:
        body = super().body(settings, prompt, call, stream=stream)
        if settings.safe_prompt:
            body["safe_prompt"] = True
        return body

    def map_error(self, reply: ErrorReply, settings: MistralSettings) -> LLMException:
        fields = error_fields(reply.body)
        if reply.status == 400 and (fields.type in _UNKNOWN_MODEL_TYPES or fields.code in _UNKNOWN_MODEL_CODES):
            return self.model_not_found(reply, settings)
        return super().map_error(reply, settings)

    def model_request(self, settings: MistralSettings) -> WireRequest | None:
        return WireRequest(f"/v1/models/{path_segment(settings.model, safe=':')}", method="GET")

    def model_facts(self, body: Any | None, settings: MistralSettings) -> ModelFacts:
        """The card's ``max_context_length`` (32768 when it states none, as the SDK assumes);
        ``CONTEXT_LENGTHS`` when the card could not be read; ``context_length`` when configured."""
        if settings.context_length is not None:
            return ModelFacts(settings.context_length, {"context_length_source": "config"})
        if not isinstance(body, dict):
            return ModelFacts(self.table_context(settings.model))
        length = body.get("max_context_length")
        valid = isinstance(length, int) and not isinstance(length, bool) and length > 0
        return ModelFacts(length if valid else _SDK_DEFAULT_CONTEXT, _process_card(body))


class MistralLLM(HttpLLM[MistralSettings]):
    """The ``mistral`` provider: Mistral's hosted chat completions API."""

    wire = MistralWire()


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
