"""Attempt deadlines down to the socket: no read, write or connect waits past the attempt's end.

httpx times each socket operation on its own, so a server that sends one byte just inside
each read timeout (in the headers, in the body, or as keep-alive lines in a stream) holds a
request for as long as it goes on. Here the connection pool's network streams clamp every
timeout to what is left of the deadline the caller opened with ``reading_until``, and fail
at once when none is left. httpx has no total-timeout setting; httpcore's network-backend
seam is public (``ConnectionPool(network_backend=...)``), and ``with_deadlines`` fits it into
the pool that ``httpx.HTTPTransport`` built.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from obra_llm.scoped import ScopedValue

__all__ = ["DEADLINE_PASSED", "reading_until", "with_deadlines"]

#: The text of a timeout that the attempt's deadline caused, not one read's own timeout.
DEADLINE_PASSED = "the attempt's deadline passed"

#: A clamp this close to the read's own timeout is that timeout: the deadline did not cause it.
_SAME = 0.05

#: The ``time.monotonic`` instant the current attempt's socket operations must end by.
_DEADLINE: ContextVar[float | None] = ContextVar("obra_llm_attempt_deadline", default=None)


def reading_until(at: float) -> ScopedValue[float | None]:
    """Every socket operation inside ends by ``at`` (``time.monotonic``)."""
    return ScopedValue(_DEADLINE, at)


def with_deadlines(transport: httpx.HTTPTransport) -> httpx.HTTPTransport:
    """``transport`` with its pool's network streams honouring ``reading_until``."""
    pool = transport._pool  # the pool (direct, HTTP or SOCKS proxy) httpx built for its options
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` clamped to the current deadline; ``expired`` is raised when it has passed."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired(DEADLINE_PASSED)
    return left if timeout is None or timeout > left else timeout


def _deadline_binds(timeout: float | None, clamped: float | None) -> bool:
    """Whether the deadline, not the operation's own timeout, would end a wait of ``clamped`` seconds."""
    return clamped is not None and (timeout is None or clamped < timeout - _SAME)


class _DeadlineBackend(httpcore.NetworkBackend):
    """A network backend whose connections honour the current deadline."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads and writes end by the current deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        clamped = _left(timeout, httpcore.ReadTimeout)
        try:
            return self._stream.read(max_bytes, clamped)
        except httpcore.ReadTimeout:
            if _deadline_binds(timeout, clamped):
                raise httpcore.ReadTimeout(DEADLINE_PASSED) from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
