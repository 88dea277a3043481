"""Together AI (``type: together``): its OpenAI-compatible chat completions, as a declaration.

Facts (https://docs.together.ai/docs/inference/openai-compatibility, togethercomputer/together-py
``types/chat``): base ``https://api.together.ai/v1`` (``api.together.xyz`` is the legacy host),
key ``$TOGETHER_API_KEY``; ``max_tokens`` only; ``seed`` and ``stop`` lists; ``stream_options``
is not a documented parameter, and the final chunk carries ``usage``; ``finish_reason`` may be
``eos``; model ids are ``<org>/<model>``; ``GET /models`` states ``context_length``.
Structured answers: ``response_format`` ``json_schema`` (https://docs.together.ai/docs/json-mode).
"""

from __future__ import annotations

from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Identity


class TogetherLLM(HttpLLM[ChatSettings]):
    wire = ChatCompletionsWire(
        Identity(name="together", label="Together AI", base_url="https://api.together.ai/v1", key_variables=("TOGETHER_API_KEY",),
                 default_model="meta-llama/Llama-3.3-70B-Instruct-Turbo", docs="https://docs.together.ai/docs/inference/openai-compatibility"),
        ChatSettings, stream_usage=False, models_state_context=True,
    )
