"""vLLM's OpenAI-compatible server (``type: vllm``): keyless by default, as a declaration.

Facts (vllm-project/vllm ``docs/serving/online_serving/openai_compatible_server.md`` and
``vllm/entrypoints/openai/.../protocol.py``): default ``http://localhost:8000/v1``; a key only
when the server runs with ``--api-key`` (give ``api_key``/``api_key_env``); ``model`` is the
served model name (set it; the default is an example); ``max_tokens`` is accepted by every version (newer ones
prefer ``max_completion_tokens``); ``seed``, ``stop`` and ``stream_options`` work; an unknown
model is a 404 "The model `X` does not exist."; ``GET /v1/models`` states ``max_model_len``.
Structured answers: ``response_format`` ``json_schema``, decoded under a grammar (vLLM ``docs/features/structured_outputs.md``).
"""

from __future__ import annotations

from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Identity


class VllmLLM(HttpLLM[ChatSettings]):
    wire = ChatCompletionsWire(
        Identity(name="vllm", label="vLLM", base_url="http://localhost:8000/v1", key_required=False, default_model="Qwen/Qwen2.5-Coder-7B-Instruct",
                 docs="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html", unreachable_hint="start it with `vllm serve MODEL`"),
        ChatSettings, models_state_context=True,
    )
