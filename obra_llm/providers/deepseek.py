"""DeepSeek (``type: deepseek``): its OpenAI-compatible chat completions, as a declaration.

Facts (https://api-docs.deepseek.com/, ``/api/create-chat-completion``,
``/quick_start/rate_limit``): base ``https://api.deepseek.com/v1`` (the documented alias of the
root), key ``$DEEPSEEK_API_KEY``; the cap is ``max_tokens`` (for reasoning models it includes the chain of
thought); no ``seed`` is documented, so obra_llm refuses one; streamed usage with
``stream_options.include_usage``; under load it sends ``: keep-alive`` SSE comments (skipped);
``reasoning_content`` is not answer text; ``GET /models`` states no context window; JSON
mode is ``response_format: {"type": "json_object"}`` with no schema (``/guides/json_mode``),
so a ``json_schema`` also goes into the prompt and the answer is validated.
"""

from __future__ import annotations

from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Identity


class DeepSeekLLM(HttpLLM[ChatSettings]):
    wire = ChatCompletionsWire(
        Identity(name="deepseek", label="DeepSeek", base_url="https://api.deepseek.com/v1", key_variables=("DEEPSEEK_API_KEY",),
                 default_model="deepseek-v4-flash", docs="https://api-docs.deepseek.com/"),
        ChatSettings, seed_field=None, structured="json_object",
    )
