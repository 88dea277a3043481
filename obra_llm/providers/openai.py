"""OpenAI's Chat Completions API (``type: openai``, also ``openai-api``).

Wire facts this module relies on (``docs/providers/openai.md`` has the sources): the output
cap is ``max_completion_tokens`` (o-series models reject the deprecated ``max_tokens``);
``stop`` takes at most 4 sequences; streamed usage arrives only when
``stream_options.include_usage`` is asked, in a last chunk whose ``choices`` is empty; an
error after HTTP 200 is a ``data:`` line with an ``error`` key; a 429 ``insufficient_quota``
is a spent quota, not a rate limit, and is never retried; the API states no context window.
No model-capability rule is applied before sending: the API's own 400 names a parameter a
model does not take. A ``json_schema`` is sent as ``response_format`` ``json_schema`` with
``strict: true`` (https://platform.openai.com/docs/guides/structured-outputs): every object
gets ``additionalProperties: false``, and an optional property or an open object is refused
before sending (a ``ConfigError`` naming it); a refusal (``message.refusal``) raises. Other OpenAI-compatible servers have their own presets (``groq``,
``vllm``, ``llamacpp``...): ``base_url`` here is for proxies and gateways in front of OpenAI,
and a custom one gets no ``$OPENAI_API_KEY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from obra_llm.config.constraints import header_value, one_of
from obra_llm.errors import LLMException, RateLimitError
from obra_llm.options import Call
from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings, error_fields
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Access, Identity
from obra_llm.transports.http import ErrorReply, error_for_status

__all__ = ["OPENAI", "OpenAILLM", "OpenAISettings", "OpenAIWire"]

OPENAI = Identity(
    name="openai", label="OpenAI", base_url="https://api.openai.com/v1", default_model="gpt-4o-mini",
    key_variables=("OPENAI_API_KEY",), docs="https://platform.openai.com/docs/api-reference/chat"
)
#: The names the output cap may be sent under: the current one, and the deprecated one.
_MAX_TOKENS_FIELDS = ("max_completion_tokens", "max_tokens")
#: Context windows (input + output tokens) from OpenAI's model pages; the API states none.
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
class OpenAISettings(ChatSettings):
    """Keys of the ``openai`` provider.

    ``organization`` and ``project`` become the ``OpenAI-Organization`` / ``OpenAI-Project``
    headers. ``max_tokens_field`` names the output cap on the wire (``max_tokens`` for
    gateways that only know the old name).
    """

    model: str = OPENAI.default_model
    organization: str | None = attrs.field(default=None, metadata=header_value())
    project: str | None = attrs.field(default=None, metadata=header_value())
    max_tokens_field: str = attrs.field(default="max_completion_tokens", metadata=one_of(_MAX_TOKENS_FIELDS))


class OpenAIWire(ChatCompletionsWire[OpenAISettings]):
    """The chat-completions dialect plus OpenAI's own: organization headers, the cap's name, spent quotas."""

    def __init__(self) -> None:
        super().__init__(
            OPENAI, OpenAISettings, max_tokens_field="max_completion_tokens", max_stop=4, context_lengths=CONTEXT_LENGTHS,
            strict=True,
        )

    def access(self, settings: OpenAISettings, environ: Mapping[str, str]) -> Access:
        access = super().access(settings, environ)
        identities = tuple(value for value in (settings.organization, settings.project) if value)
        return attrs.evolve(access, secrets=(*access.secrets, *identities))

    def extra_headers(self, settings: OpenAISettings) -> Mapping[str, str]:
        headers = {}
        if settings.organization:
            headers["openai-organization"] = settings.organization
        if settings.project:
            headers["openai-project"] = settings.project
        return headers

    def body(self, settings: OpenAISettings, prompt: str, call: Call, *, stream: bool) -> dict[str, Any]:
        body = super().body(settings, prompt, call, stream=stream)
        if call.max_tokens is not None and settings.max_tokens_field != self.max_tokens_field:
            body[settings.max_tokens_field] = body.pop(self.max_tokens_field)
        return body

    def map_error(self, reply: ErrorReply, settings: OpenAISettings) -> LLMException:
        fields = error_fields(reply.body)
        if reply.status == 429 and "insufficient_quota" in (fields.code, fields.type):
            msg = f"{reply.detail} (the quota is spent: check the plan and billing of the key's account)"
            return error_for_status(reply, provider=self.provider, detail=msg, kind=RateLimitError, retryable=False)
        return super().map_error(reply, settings)


class OpenAILLM(HttpLLM[OpenAISettings]):
    """The ``openai`` provider: OpenAI's Chat Completions API."""

    wire = OpenAIWire()
