"""OpenRouter (``type: openrouter``): its OpenAI-compatible chat completions, as a declaration.

Facts (https://openrouter.ai/docs/api-reference/overview, ``/docs/api_reference/streaming``,
``/docs/use-cases/usage-accounting``, ``/docs/errors``): base ``https://openrouter.ai/api/v1``,
key ``$OPENROUTER_API_KEY``; ``max_tokens``; usage is always in the last streamed chunk
(``stream_options`` is a deprecated no-op, so it is not sent); ``: OPENROUTER PROCESSING``
comments are skipped; an error after HTTP 200 is a ``data:`` event with an ``error`` key; an
unknown model is a 400 "is not a valid model ID"; ``GET /models`` states ``context_length``.
Structured answers: ``response_format`` ``json_schema`` (https://openrouter.ai/docs/structured-outputs).
"""

from __future__ import annotations

from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Identity


class OpenRouterLLM(HttpLLM[ChatSettings]):
    wire = ChatCompletionsWire(
        Identity(name="openrouter", label="OpenRouter", base_url="https://openrouter.ai/api/v1",
                 key_variables=("OPENROUTER_API_KEY",), default_model="openai/gpt-4o-mini", docs="https://openrouter.ai/docs/api-reference/overview"),
        ChatSettings, stream_usage=False, models_state_context=True,
    )
