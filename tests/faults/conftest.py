"""The ``kit`` fixture of the HTTP fault files: each test runs once per HTTP provider's fault kit.

A file that needs other kits (the CLI suite, the chat-completions dialect) defines its own ``kit``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.kits import ALL_KITS, FaultKit


@pytest.fixture(params=ALL_KITS, ids=[kit.name for kit in ALL_KITS])
def kit(request: pytest.FixtureRequest) -> FaultKit[Any]:
    chosen: FaultKit[Any] = request.param
    return chosen
