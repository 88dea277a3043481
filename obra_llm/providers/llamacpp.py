"""llama.cpp's ``llama-server`` and llama-cpp-python's server (``type: llamacpp``): keyless, as a declaration.

Facts (ggml-org/llama.cpp ``tools/server/README.md``; abetlen/llama-cpp-python
``llama_cpp/server/settings.py``): ``llama-server`` listens on ``http://localhost:8080/v1``
(llama-cpp-python on ``:8000``: set ``base_url``); a key only with ``--api-key`` (give
``api_key``/``api_key_env``); one model is loaded and answers whatever ``model`` is sent;
``max_tokens``, ``seed``, ``stop`` and ``stream_options.include_usage`` work; llama-cpp-python
sends SSE ping comments (skipped); ``GET /v1/models`` states ``meta.n_ctx_train``;
``response_format: {"type": "json_object", "schema": ...}`` constrains the answer by a grammar.
"""

from __future__ import annotations

from obra_llm.providers.chat_completions import ChatCompletionsWire, ChatSettings
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.http_wire import Identity


class LlamaCppLLM(HttpLLM[ChatSettings]):
    wire = ChatCompletionsWire(
        Identity(name="llamacpp", label="llama.cpp", base_url="http://localhost:8080/v1", key_required=False, default_model="local",
                 docs="https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md", unreachable_hint="start `llama-server -m MODEL.gguf`"),
        ChatSettings, models_state_context=True, any_model=True, structured="llamacpp",
    )
