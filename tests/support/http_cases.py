"""Where a provider test's HTTP calls go: its cassette, its local wire server, or the real API.

- record mode ``none`` (the default): the cassette replays; the config points at the
  provider's real default URL with a dummy key, so replay also proves the defaults;
- recording, with the real credentials in the environment (or the real URL, for
  Ollama): the real service, and the cassette says ``real-service``;
- recording otherwise: the provider's local wire server, and the cassette says
  ``synthesized``. Tests marked ``wire_only`` script faults on the wire server, so they
  always record from it.

The cassette is ``cassettes/http/<provider>/<test function name>.yaml`` unless
``@pytest.mark.cassette("name")`` names another; a test parametrized over providers
(``tests/providers/test_http_contract.py``) finds each provider's cassette under its name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import attrs
import httpx
import pytest

from obra_llm.providers.http_api import HttpLLM
from obra_llm.recording.cassettes import Provenance, provenance
from obra_llm.recording.mode import RecordMode
from tests.support.fakes import FakeClock
from tests.support.http_replay import replayed

__all__ = [
    "ApiCase",
    "Handler",
    "Maker",
    "MockedMaker",
    "ProviderSpec",
    "ScriptableServer",
    "made_providers",
    "mocked_providers",
    "open_case",
    "refuse_every_request",
]


class ScriptableServer(Protocol):
    """A local wire server: its URL, and a queue of scripted replies."""

    @property
    def url(self) -> str: ...

    def queue(self, *replies: Any) -> None: ...


@attrs.frozen(kw_only=True)
class ProviderSpec:
    """One HTTP provider under test: its class, a model, and how to reach it in each mode.

    Who the provider is (name, default URL, key variables) is read from its declaration,
    never repeated here.
    """

    llm: type[HttpLLM[Any]]
    model: str
    #: A model the API does not have (``None``: the server answers whatever model is asked),
    #: and what its not-found error must say besides the name.
    missing_model: str | None
    missing_model_hint: str = ""
    missing_model_status: int = 404
    server: Callable[[], AbstractContextManager[ScriptableServer]]
    server_module: str
    imitates: str
    real_url_variable: str | None = None
    dummy_key: str = "test-key-not-a-secret"

    @property
    def provider(self) -> str:
        return self.llm.wire.identity.name

    @property
    def replay_url(self) -> str:
        return self.llm.wire.identity.base_url

    @property
    def key_variables(self) -> tuple[str, ...]:
        return self.llm.wire.identity.key_variables

    @property
    def sends_key(self) -> bool:
        """Whether the provider's own service takes a key (keyless local servers do not)."""
        return self.llm.wire.identity.key_required

    def real_credentials(self) -> tuple[str, str | None] | None:
        """(URL, key) of the real service when the environment provides them, else ``None``."""
        key = next((os.environ[name] for name in self.key_variables if os.environ.get(name)), None)
        url = os.environ.get(self.real_url_variable) if self.real_url_variable else None
        if self.key_variables and key is None:
            return None
        if (self.real_url_variable or not self.key_variables) and not url:
            return None  # a local server is real only where the user says it runs
        return (url or self.replay_url, key)


@attrs.define
class ApiCase:
    """The config a test's provider should use, and the wire server when there is one."""

    config: dict[str, Any]
    server: ScriptableServer | None

    def script(self, *replies: Any) -> None:
        """Queue wire-server replies; a no-op in replay and against the real service."""
        if self.server is not None:
            self.server.queue(*replies)


@contextmanager
def open_case(spec: ProviderSpec, request: pytest.FixtureRequest, mode: RecordMode) -> Iterator[ApiCase]:
    """Record or replay the test's cassette, yielding where the provider should point."""
    marker = request.node.get_closest_marker("cassette")
    name = str(marker.args[0]) if marker else request.node.originalname
    wire_only = request.node.get_closest_marker("wire_only") is not None
    base = {"type": spec.provider}

    def config(url: str, key: str | None) -> dict[str, Any]:
        return base | {"base_url": url} | ({"api_key": key} if key else {})

    dummy = spec.dummy_key if spec.sends_key else None
    if mode == "none":
        with replayed(spec.provider, name, mode="none", made_by=None, secrets=[spec.dummy_key]):
            yield ApiCase(config(spec.replay_url, dummy), None)
        return
    real = None if wire_only else spec.real_credentials()
    if real is not None:
        url, key = real
        made_by = provenance(
            "real-service", how=f"recorded from the real {spec.provider} service by {request.node.nodeid}", service=spec.provider
        )
        with replayed(spec.provider, name, mode=mode, made_by=made_by, secrets=[key or "", spec.dummy_key]):
            yield ApiCase(config(url, key), None)
        return
    made_by = _synthesized(spec)
    with spec.server() as server, replayed(spec.provider, name, mode=mode, made_by=made_by, secrets=[spec.dummy_key]):
        yield ApiCase(config(server.url, dummy), server)


def _synthesized(spec: ProviderSpec) -> Provenance:
    return provenance(
        "synthesized",
        how=f"recorded from {spec.server_module}, a local server that follows the documented {spec.provider} "
        f"wire format (docs/providers/{spec.provider}.md); no real service was involved",
        service=spec.provider,
        imitates_version=spec.imitates,
    )


class Maker(Protocol):
    """Builds an initialized provider on the test's case; ``config`` overrides the spec's model and more."""

    def __call__(self, **config: Any) -> HttpLLM[Any]: ...


@contextmanager
def made_providers(spec: ProviderSpec, case: ApiCase, clock: FakeClock) -> Iterator[Maker]:
    """A ``Maker`` whose providers wait on ``clock`` and are closed at the end.

    The environment is empty: a key comes from the case's config, never from the developer's shell.
    """
    made: list[HttpLLM[Any]] = []

    def make(**config: Any) -> HttpLLM[Any]:
        llm = spec.llm(clock=clock, sleep=clock.sleep, environ={})
        llm.initialize(case.config | {"model": spec.model} | config)
        made.append(llm)
        return llm

    try:
        yield make
    finally:
        for llm in made:
            llm.close()


#: What a mock transport answers a request with.
Handler = Callable[[httpx.Request], httpx.Response]


def refuse_every_request(request: httpx.Request) -> httpx.Response:
    """A handler for tests that must fail before anything is sent."""
    msg = f"no request was expected, got {request.method} {request.url}"
    raise AssertionError(msg)


class MockedMaker(Protocol):
    """Builds an initialized provider whose HTTP goes to ``handler`` (no socket)."""

    def __call__(self, handler: Handler = ..., *, environ: Mapping[str, str] | None = None, **config: Any) -> HttpLLM[Any]: ...


@contextmanager
def mocked_providers(spec: ProviderSpec, **base: Any) -> Iterator[MockedMaker]:
    """A ``MockedMaker`` for ``spec`` with ``base`` config; each provider gets a fake clock and is closed at the end."""
    made: list[HttpLLM[Any]] = []

    def build(handler: Handler = refuse_every_request, *, environ: Mapping[str, str] | None = None, **config: Any) -> HttpLLM[Any]:
        clock = FakeClock()
        llm = spec.llm(transport=httpx.MockTransport(handler), clock=clock, sleep=clock.sleep, environ=environ or {})
        llm.initialize({"type": spec.provider} | base | config)
        made.append(llm)
        return llm

    try:
        yield build
    finally:
        for llm in made:
            llm.close()
