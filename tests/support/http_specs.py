"""Every HTTP provider as its tests reach it: the provider class, a model, and where calls go.

``tests/providers/test_http_contract.py`` runs the scenarios every provider must pass over
``HTTP_SPECS``; each ``tests/providers/test_<provider>.py`` takes its own spec for the rest.
"""

from __future__ import annotations

from typing import Any

import attrs

from obra_llm.providers.anthropic import API_VERSION as ANTHROPIC_VERSION
from obra_llm.providers.anthropic import AnthropicLLM
from obra_llm.providers.cohere import CohereLLM
from obra_llm.providers.deepseek import DeepSeekLLM
from obra_llm.providers.gemini import GeminiLLM
from obra_llm.providers.groq import GroqLLM
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.llamacpp import LlamaCppLLM
from obra_llm.providers.lmstudio import LmStudioLLM
from obra_llm.providers.mistral import MistralLLM
from obra_llm.providers.ollama import OllamaLLM
from obra_llm.providers.openai import OpenAILLM
from obra_llm.providers.openrouter import OpenRouterLLM
from obra_llm.providers.together import TogetherLLM
from obra_llm.providers.vllm import VllmLLM
from obra_llm.providers.xai import XaiLLM
from tests.support import anthropic_wire, cohere_wire, gemini_wire, mistral_wire, ollama_wire, openai_wire
from tests.support.chat_completions_wire import DEFAULT_KEY
from tests.support.compatible_wire import CompatibleWireServer, Flavor
from tests.support.http_cases import ProviderSpec

__all__ = ["ANTHROPIC", "COHERE", "PRESETS", "GEMINI", "HTTP_SPECS", "MISTRAL", "OLLAMA", "OPENAI", "ollama_quality_answer"]


def ollama_quality_answer(request: dict[str, object]) -> ollama_wire.Answer:
    """The Ollama wire server's canned reply: a scored review, streamed in small pieces."""
    return ollama_wire.Answer(
        pieces=["SCORE: 8", "\n", "The change", " validates the port range", " and keeps", " the happy path."],
        prompt_tokens=96,
        completion_tokens=17,
    )


OLLAMA = ProviderSpec(
    llm=OllamaLLM,
    model="qwen2.5-coder:32b",
    missing_model="no-such-model:1b",
    missing_model_hint="ollama pull no-such-model:1b",
    server=lambda: ollama_wire.OllamaWireServer(default_answer=ollama_quality_answer),
    server_module="tests/support/ollama_wire.py",
    imitates=ollama_wire.VERSION,
    real_url_variable="OBRA_LLM_OLLAMA_URL",
)

ANTHROPIC = ProviderSpec(
    llm=AnthropicLLM,
    model="claude-sonnet-4-5",
    missing_model="claude-typo",
    server=anthropic_wire.AnthropicWireServer,
    server_module="tests/support/anthropic_wire.py",
    imitates=f"anthropic-version {ANTHROPIC_VERSION}",
)

OPENAI = ProviderSpec(
    llm=OpenAILLM,
    model="gpt-4o-mini",
    missing_model="gpt-no-such-model",
    server=openai_wire.OpenAIWireServer,
    server_module="tests/support/openai_wire.py",
    imitates=openai_wire.API_VERSION,
)

MISTRAL = ProviderSpec(
    llm=MistralLLM,
    model="mistral-small-latest",
    missing_model="mistral-no-such-model",
    #: Mistral answers an unknown model with 400 ``invalid_model``, not 404.
    missing_model_status=400,
    server=mistral_wire.MistralWireServer,
    server_module="tests/support/mistral_wire.py",
    imitates=mistral_wire.API_VERSION,
)

GEMINI = ProviderSpec(
    llm=GeminiLLM,
    model="gemini-2.5-flash",
    missing_model="gemini-0.9-nonexistent",
    server=gemini_wire.GeminiWireServer,
    server_module="tests/support/gemini_wire.py",
    imitates=gemini_wire.VERSION,
)

COHERE = ProviderSpec(
    llm=CohereLLM,
    model="command-a-03-2025",
    missing_model="no-such-model",
    server=cohere_wire.CohereWireServer,
    server_module="tests/support/cohere_wire.py",
    imitates=cohere_wire.IMITATES,
)



@attrs.frozen
class Preset:
    """An OpenAI-compatible preset under test: its class, and how its server differs from OpenAI's."""

    llm: type[HttpLLM[Any]]
    flavor: Flavor = attrs.Factory(Flavor)
    missing_model_status: int = 404

    def server(self, *, key: str = DEFAULT_KEY) -> CompatibleWireServer:
        return CompatibleWireServer(self.llm, self.flavor, key=key)

    def spec(self) -> ProviderSpec:
        """The contract suite's description of the preset: everything else comes from its declaration."""
        identity = self.llm.wire.identity
        return ProviderSpec(
            llm=self.llm,
            model=identity.default_model,
            missing_model=None if self.flavor.unknown_model == "any" else "no-such-model",
            missing_model_status=self.missing_model_status,
            server=self.server,
            server_module="tests/support/compatible_wire.py",
            imitates=f"OpenAI chat completions as {identity.docs} documents it",
            real_url_variable=None if identity.key_required else f"OBRA_LLM_{identity.name.upper()}_URL",
        )


#: The OpenAI-compatible presets, one line each, with their flavor as their docs state it.
PRESETS: tuple[Preset, ...] = (
    Preset(GroqLLM, Flavor(usage="x_groq")),
    Preset(DeepSeekLLM, Flavor(structured="json_object")),
    Preset(OpenRouterLLM, Flavor(usage="always", unknown_model="invalid_id", card={"context_length": 128_000}), 400),
    Preset(TogetherLLM, Flavor(usage="always", card={"context_length": 131_072})),
    Preset(XaiLLM, Flavor(usage="always")),
    Preset(VllmLLM, Flavor(card={"max_model_len": 32_768})),
    Preset(LmStudioLLM),
    Preset(LlamaCppLLM, Flavor(unknown_model="any", card={"meta": {"n_ctx_train": 8192}}, structured="llamacpp")),
)

HTTP_SPECS: tuple[ProviderSpec, ...] = (OLLAMA, ANTHROPIC, OPENAI, MISTRAL, GEMINI, COHERE, *(preset.spec() for preset in PRESETS))
