"""REGISTRY and create_llm: frozen lookup, defaults, legacy keys, custom registries."""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from obra_llm import REGISTRY, ConfigError, LLMPlugin, PluginNotFoundError, create_llm
from obra_llm.providers.ollama import OllamaLLM
from obra_llm.registry import lookup, validate_config


class EchoLLM:
    """A user's provider: no obra_llm import, no base class; keeps the config it was given."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {"calls": 0}

    def initialize(self, config: dict[str, Any]) -> None:
        self.config = config

    def generate(self, prompt: str, **kwargs: Any) -> str:
        return prompt

    def generate_stream(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        yield prompt

    def estimate_tokens(self, text: str) -> int:
        return len(text)

    def is_available(self) -> bool:
        return True

    def get_model_info(self) -> Mapping[str, Any]:
        return {"model_name": "echo"}


def test_registry_is_a_mapping_proxy() -> None:
    assert type(REGISTRY) is types.MappingProxyType


def test_registry_cannot_be_mutated() -> None:
    untyped: Any = REGISTRY
    with pytest.raises(TypeError):
        untyped["mine"] = EchoLLM
    with pytest.raises(TypeError):
        del untyped["ollama"]
    assert "mine" not in REGISTRY
    assert REGISTRY["ollama"] is OllamaLLM


def test_registry_holds_ollama() -> None:
    assert REGISTRY["ollama"] is OllamaLLM


def test_unknown_type_message_lists_sorted_choices() -> None:
    registry: Mapping[str, type[LLMPlugin]] = types.MappingProxyType({"zeta": EchoLLM, "alpha": EchoLLM})
    with pytest.raises(PluginNotFoundError) as caught:
        create_llm({"type": "gpt-9"}, registry=registry)
    assert str(caught.value) == "Invalid LLM type: gpt-9. Available: ['alpha', 'zeta']"
    assert caught.value.llm_type == "gpt-9"


def test_unknown_type_with_the_default_registry() -> None:
    with pytest.raises(PluginNotFoundError) as caught:
        create_llm({"type": "nope"})
    assert str(caught.value) == f"Invalid LLM type: nope. Available: {sorted(REGISTRY)}"


def test_unhashable_type_is_plugin_not_found() -> None:
    untyped: Any = ["ollama"]
    with pytest.raises(PluginNotFoundError) as caught:
        lookup(untyped)
    assert str(caught.value) == f"Invalid LLM type: ['ollama']. Available: {sorted(REGISTRY)}"


def test_create_llm_defaults_to_ollama() -> None:
    llm = create_llm({"model": "qwen2.5-coder:7b"})
    assert isinstance(llm, OllamaLLM)
    llm.close()
    assert repr(llm) == "OllamaLLM(model='qwen2.5-coder:7b', endpoint='http://localhost:11434')"


def test_create_llm_empty_type_means_ollama() -> None:
    llm = create_llm({"type": "", "model": "m"})
    assert isinstance(llm, OllamaLLM)
    llm.close()


def test_create_llm_maps_api_url_to_endpoint() -> None:
    llm = create_llm({"type": "ollama", "api_url": "http://gpu-box:11434"})
    assert isinstance(llm, OllamaLLM)
    assert repr(llm) == "OllamaLLM(model='qwen2.5-coder:32b', endpoint='http://gpu-box:11434')"
    llm.close()


def test_custom_registry_with_a_class_that_does_not_import_obra_llm() -> None:
    registry: Mapping[str, type[LLMPlugin]] = dict(REGISTRY) | {"echo": EchoLLM}
    llm = create_llm({"type": "echo", "api_url": "http://h:1", "x": 1}, registry=registry)
    assert isinstance(llm, EchoLLM)
    assert llm.config == {"type": "echo", "api_url": "http://h:1", "endpoint": "http://h:1", "x": 1}
    assert llm.generate("hello") == "hello"


def test_custom_registry_union_with_the_proxy_works_at_runtime() -> None:
    merged = types.MappingProxyType(REGISTRY) | {"echo": EchoLLM}
    assert isinstance(create_llm({"type": "echo"}, registry=merged), EchoLLM)
    assert "echo" not in REGISTRY


def test_endpoint_wins_over_api_url() -> None:
    llm = create_llm({"type": "echo", "api_url": "http://old", "endpoint": "http://new"}, registry={"echo": EchoLLM})
    assert isinstance(llm, EchoLLM)
    assert llm.config["endpoint"] == "http://new"


def test_create_llm_does_not_mutate_the_callers_config() -> None:
    config = {"type": "echo", "api_url": "http://h:1"}
    create_llm(config, registry={"echo": EchoLLM})
    assert config == {"type": "echo", "api_url": "http://h:1"}


@pytest.mark.parametrize("config", [None, "ollama", ["type", "ollama"], 3])
def test_non_mapping_config_is_a_config_error(config: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        create_llm(config)
    assert str(caught.value) == (
        f"the llm configuration must be a mapping of keys to values, not {type(config).__name__}"
    )
    assert not isinstance(caught.value, PluginNotFoundError)


def test_create_llm_invalid_settings_raise_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        create_llm({"type": "ollama", "modle": "x"})
    assert caught.value.problems == ("unknown key 'modle' (did you mean 'model'?) @ $.modle",)


def test_validate_config_names_the_source() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"timeout": -1}, source="cfg.yaml")
    assert str(caught.value) == (
        "invalid ollama configuration (from cfg.yaml):\n  - -1 is out of range: expected a number of seconds > 0 and <= 86400 (a day) @ $.timeout"
    )


def test_validate_config_skips_classes_without_settings() -> None:
    validate_config({"type": "echo", "anything": object()}, registry={"echo": EchoLLM})


def test_legacy_api_url_is_the_base_url_of_every_http_provider() -> None:
    llm = create_llm({"type": "anthropic", "api_key": "k", "api_url": "http://gpu-box:11434"})
    assert "endpoint='http://gpu-box:11434'" in repr(llm)  # no request: nothing leaves the machine


def test_legacy_api_url_on_a_provider_without_a_base_url_names_only_the_users_key() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config({"type": "openai-codex", "api_url": "http://gpu-box:11434"})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("unknown key 'api_url' (")
