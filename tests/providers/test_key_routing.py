"""A key goes only where it belongs, for every HTTP provider (docs/configuration.md).

A provider's own key variables are read only for its default origin; a custom ``base_url``
gets a key only from ``api_key`` or ``api_key_env``. Every request goes to a mock transport:
nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from obra_llm import ConfigError
from obra_llm.providers.http_api import HttpLLM
from obra_llm.providers.openai import OpenAILLM
from tests.support.http_cases import ProviderSpec
from tests.support.http_specs import HTTP_SPECS

ENV_KEY = "key-from-the-environment-0123456789"
OTHER_HOST = "https://llm-gateway.example.com/v1"


@pytest.fixture(params=HTTP_SPECS, ids=[spec.provider for spec in HTTP_SPECS])
def spec(request: pytest.FixtureRequest) -> ProviderSpec:
    chosen: ProviderSpec = request.param
    return chosen


def sent_headers(llm_type: type[HttpLLM[Any]], environ: Mapping[str, str], **config: Any) -> httpx.Headers:
    """The headers of the availability probe the provider sends with ``config`` in ``environ``."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with llm_type(transport=httpx.MockTransport(answer), environ=environ) as llm:
        llm.initialize(config)
        llm.availability_problem()
    assert len(seen) == 1
    return seen[0].headers


def key_sent(spec: ProviderSpec, headers: httpx.Headers) -> str | None:
    value = headers.get(spec.llm.wire.identity.key_header)
    return value.removeprefix(spec.llm.wire.identity.key_scheme).strip() if value is not None else None


def every_variable(spec: ProviderSpec) -> dict[str, str]:
    return dict.fromkeys(spec.key_variables, ENV_KEY)


def test_the_environment_key_goes_to_the_providers_own_host(spec: ProviderSpec) -> None:
    if not spec.key_variables:
        assert key_sent(spec, sent_headers(spec.llm, {"OPENAI_API_KEY": ENV_KEY})) is None  # keyless: nothing sent
        return
    assert key_sent(spec, sent_headers(spec.llm, every_variable(spec))) == ENV_KEY


def test_the_environment_key_never_goes_to_another_host(spec: ProviderSpec) -> None:
    environ = every_variable(spec) | {"OPENAI_API_KEY": ENV_KEY}
    headers = sent_headers(spec.llm, environ, base_url=OTHER_HOST)
    assert key_sent(spec, headers) is None
    assert ENV_KEY not in str(headers.raw)


def test_api_key_env_names_the_variable_for_another_host(spec: ProviderSpec) -> None:
    environ = every_variable(spec) | {"GATEWAY_KEY": "gateway-key-0123456789"}
    headers = sent_headers(spec.llm, environ, base_url=OTHER_HOST, api_key_env="GATEWAY_KEY")
    assert key_sent(spec, headers) == "gateway-key-0123456789"


def test_api_key_goes_wherever_the_config_sends_it(spec: ProviderSpec) -> None:
    headers = sent_headers(spec.llm, every_variable(spec), base_url=OTHER_HOST, api_key="configured-key-0123456789")
    assert key_sent(spec, headers) == "configured-key-0123456789"


def test_an_unset_api_key_env_is_a_config_error_naming_it(spec: ProviderSpec) -> None:
    with pytest.raises(ConfigError, match="api_key_env names NOT_SET_ANYWHERE, which is not set"):
        sent_headers(spec.llm, {}, api_key_env="NOT_SET_ANYWHERE")


def test_openai_with_a_groq_base_url_never_sends_the_openai_key() -> None:
    headers = sent_headers(OpenAILLM, {"OPENAI_API_KEY": ENV_KEY}, base_url="https://api.groq.com/openai/v1")
    assert "authorization" not in headers


def test_the_same_origin_spelled_out_still_gets_the_environment_key() -> None:
    headers = sent_headers(OpenAILLM, {"OPENAI_API_KEY": ENV_KEY}, base_url="https://api.openai.com:443/v1")
    assert headers["authorization"] == f"Bearer {ENV_KEY}"
