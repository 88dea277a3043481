"""xAI (``type: xai``): Grok over its OpenAI-compatible chat completions, as a declaration.

Facts (https://docs.x.ai/api/integrations, https://docs.x.ai/docs/guides/reasoning): base
``https://api.x.ai/v1``, key ``$XAI_API_KEY``; ``max_completion_tokens`` (``max_tokens`` is
deprecated); ``seed``; at most 4 stop sequences; reasoning models answer ``stop``,
``presence_penalty`` and ``frequency_penalty`` with an error, which obra_llm does not guess
ahead of time: the API's 400 is raised, not retried, naming the parameter.
Structured answers: ``response_format`` ``json_schema`` (https://docs.x.ai/docs/guides/structured-outputs).
"""

from __future__ import annotations

from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Identity


class XaiLLM(HttpLLM[ChatSettings]):
    wire = ChatCompletionsWire(
        Identity(name="xai", label="xAI", base_url="https://api.x.ai/v1", key_variables=("XAI_API_KEY",),
                 default_model="grok-4", docs="https://docs.x.ai/docs/guides/reasoning"),
        ChatSettings, max_tokens_field="max_completion_tokens", max_stop=4, stream_usage=False,
    )
