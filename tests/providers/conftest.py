"""Fixtures for the HTTP provider tests; each test module (or the contract suite) provides ``spec``.

``case`` is where the test's calls go (its cassette, the wire server or the real API),
``clock`` a fake clock whose ``sleeps`` record every retry wait, and ``make`` builds
initialized providers on the case, closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obra_llm.recording.mode import RecordMode
from tests.support.fakes import FakeClock
from tests.support.http_cases import ApiCase, Maker, ProviderSpec, made_providers, open_case


@pytest.fixture
def case(spec: ProviderSpec, request: pytest.FixtureRequest, record_mode: RecordMode) -> Iterator[ApiCase]:
    with open_case(spec, request, record_mode) as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make(spec: ProviderSpec, case: ApiCase, clock: FakeClock) -> Iterator[Maker]:
    with made_providers(spec, case, clock) as maker:
        yield maker
