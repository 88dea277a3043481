"""LM Studio's local server (``type: lmstudio``): keyless, as a declaration.

Facts (https://lmstudio.ai/docs/api/openai-api): default ``http://localhost:1234/v1``; no key
unless "Require Authentication" is on (give ``api_key``/``api_key_env`` then); ``model`` is the
identifier of a downloaded model, which the server loads on first use (set it; the default is an example); the chat
parameters are OpenAI's (``max_tokens``, ``stop``, ``seed``, ``stream_options``).
Structured answers: ``response_format`` ``json_schema`` (https://lmstudio.ai/docs/app/api/structured-output).
"""

from __future__ import annotations

from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Identity


class LmStudioLLM(HttpLLM[ChatSettings]):
    wire = ChatCompletionsWire(
        Identity(name="lmstudio", label="LM Studio", base_url="http://localhost:1234/v1", key_required=False,
                 default_model="qwen2.5-coder-7b-instruct", docs="https://lmstudio.ai/docs/api/openai-api", unreachable_hint="start its server: `lms server start`"),
        ChatSettings,
    )
