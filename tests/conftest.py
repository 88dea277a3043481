"""Suite-wide rules: no network beyond loopback, and the record-mode switch.

The default run (record mode ``none``) refuses every socket that is not loopback or a
Unix socket, so a test that would reach a real service fails instead of passing by luck.
Recording (``--record-mode`` or ``$OBRA_LLM_RECORD_MODE``) lifts the guard, since it must
reach the real peer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obra_llm.recording import RECORD_MODES, RecordMode, resolve_record_mode
from tests.support.live_server import LiveServer, live_server

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "cassettes"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-mode",
        choices=RECORD_MODES,
        default=None,
        help="none (default): replay only; once/new_episodes/all: record against the real peer "
        "(also $OBRA_LLM_RECORD_MODE)",
    )


@pytest.fixture(scope="session")
def record_mode(request: pytest.FixtureRequest) -> RecordMode:
    option = request.config.getoption("--record-mode")
    return resolve_record_mode(option if isinstance(option, str) else None)


@pytest.fixture(scope="session")
def live() -> Iterator[LiveServer]:
    """The real model server (tests/support/live_server.py), started on first use, stopped at the end."""
    with live_server() as server:
        yield server


class NetworkRefused(RuntimeError):
    """A test tried to open a socket beyond loopback during an offline run."""


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # Unix sockets and other families stay local
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _refuse_network(record_mode: RecordMode) -> Iterator[None]:
    if record_mode != "none":
        yield
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            msg = f"offline test run: refusing to connect to {address!r} (only loopback is allowed)"
            raise NetworkRefused(msg)
        original_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            msg = f"offline test run: refusing to connect to {address!r} (only loopback is allowed)"
            raise NetworkRefused(msg)
        return original_connect_ex(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded_connect)
        patch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        yield
