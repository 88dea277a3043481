"""Groq (``type: groq``): its OpenAI-compatible chat completions, as a declaration.

Facts (https://console.groq.com/docs/openai, groq/groq-python ``types/chat``): base
``https://api.groq.com/openai/v1``, key ``$GROQ_API_KEY``; ``max_completion_tokens`` (``max_tokens``
is deprecated); at most 4 stop sequences; ``seed`` best effort; streamed usage comes in the
final chunk's ``x_groq.usage`` unasked; ``logprobs``, ``logit_bias``, ``n`` > 1 and message
``name`` are refused with a 400 (obra_llm sends none of them); an unknown model is a 404.
Structured answers: ``response_format`` ``json_schema`` (https://console.groq.com/docs/structured-outputs).
"""

from __future__ import annotations

from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Identity


class GroqLLM(HttpLLM[ChatSettings]):
    wire = ChatCompletionsWire(
        Identity(name="groq", label="Groq", base_url="https://api.groq.com/openai/v1", key_variables=("GROQ_API_KEY",),
                 default_model="llama-3.3-70b-versatile", docs="https://console.groq.com/docs/openai"),
        ChatSettings, max_tokens_field="max_completion_tokens", max_stop=4, stream_usage=False,
    )
