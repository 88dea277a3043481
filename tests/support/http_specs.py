"""Every HTTP provider as its tests reach it: the provider class, a model, and where calls go.

``tests/providers/test_http_contract.py`` runs the scenarios every provider must pass over
``HTTP_SPECS``; each ``tests/providers/test_<provider>.py`` takes its own spec for the rest.
"""

from __future__ import annotations

from obra_llm.providers.anthropic import API_VERSION as ANTHROPIC_VERSION
from obra_llm.providers.anthropic import AnthropicLLM
from obra_llm.providers.cohere import CohereLLM
from obra_llm.providers.gemini import GeminiLLM
from obra_llm.providers.mistral import MistralLLM
from obra_llm.providers.ollama import OllamaLLM
from obra_llm.providers.openai import OpenAILLM
from tests.support import anthropic_wire, cohere_wire, gemini_wire, mistral_wire, ollama_wire, openai_wire
from tests.support.http_cases import ProviderSpec

__all__ = ["ANTHROPIC", "COHERE", "GEMINI", "HTTP_SPECS", "MISTRAL", "OLLAMA", "OPENAI", "ollama_quality_answer"]


def ollama_quality_answer(request: dict[str, object]) -> ollama_wire.Answer:
    """The Ollama wire server's canned reply: a scored review, streamed in small pieces."""
    return ollama_wire.Answer(
        pieces=["SCORE: 8", "\n", "The change", " validates the port range", " and keeps", " the happy path."],
        prompt_tokens=96,
        completion_tokens=17,
    )


OLLAMA = ProviderSpec(
    provider="ollama",
    llm=OllamaLLM,
    model="qwen2.5-coder:32b",
    missing_model="no-such-model:1b",
    missing_model_hint="ollama pull no-such-model:1b",
    server=lambda: ollama_wire.OllamaWireServer(default_answer=ollama_quality_answer),
    server_module="tests/support/ollama_wire.py",
    imitates=ollama_wire.VERSION,
    replay_url="http://localhost:11434",
    url_key="endpoint",
    real_url_variable="OBRA_LLM_OLLAMA_URL",
)

ANTHROPIC = ProviderSpec(
    provider="anthropic",
    llm=AnthropicLLM,
    model="claude-sonnet-4-5",
    missing_model="claude-typo",
    server=anthropic_wire.AnthropicWireServer,
    server_module="tests/support/anthropic_wire.py",
    imitates=f"anthropic-version {ANTHROPIC_VERSION}",
    replay_url="https://api.anthropic.com",
    key_variables=("ANTHROPIC_API_KEY",),
)

OPENAI = ProviderSpec(
    provider="openai",
    llm=OpenAILLM,
    model="gpt-4o-mini",
    missing_model="gpt-no-such-model",
    server=openai_wire.OpenAIWireServer,
    server_module="tests/support/openai_wire.py",
    imitates=openai_wire.API_VERSION,
    replay_url="https://api.openai.com/v1",
    key_variables=("OPENAI_API_KEY",),
)

MISTRAL = ProviderSpec(
    provider="mistral",
    llm=MistralLLM,
    model="mistral-small-latest",
    missing_model="mistral-no-such-model",
    #: Mistral answers an unknown model with 400 ``invalid_model``, not 404.
    missing_model_status=400,
    server=mistral_wire.MistralWireServer,
    server_module="tests/support/mistral_wire.py",
    imitates=mistral_wire.API_VERSION,
    replay_url="https://api.mistral.ai",
    key_variables=("MISTRAL_API_KEY",),
)

GEMINI = ProviderSpec(
    provider="gemini",
    llm=GeminiLLM,
    model="gemini-2.5-flash",
    missing_model="gemini-0.9-nonexistent",
    server=gemini_wire.GeminiWireServer,
    server_module="tests/support/gemini_wire.py",
    imitates=gemini_wire.VERSION,
    replay_url="https://generativelanguage.googleapis.com/v1beta",
    key_variables=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
)

COHERE = ProviderSpec(
    provider="cohere",
    llm=CohereLLM,
    model="command-a-03-2025",
    missing_model="no-such-model",
    server=cohere_wire.CohereWireServer,
    server_module="tests/support/cohere_wire.py",
    imitates=cohere_wire.IMITATES,
    replay_url="https://api.cohere.com",
    key_variables=("COHERE_API_KEY", "CO_API_KEY"),
)

HTTP_SPECS: tuple[ProviderSpec, ...] = (OLLAMA, ANTHROPIC, OPENAI, MISTRAL, GEMINI, COHERE)
