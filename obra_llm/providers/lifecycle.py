"""What every obra_llm provider does around its calls, written once for the HTTP and CLI bases.

A provider is built without I/O, made ready by ``initialize`` (which stores a ready state
holding its ``CallRunner``), and can be closed and re-initialized; ``metrics``,
``is_available`` (from the base's own ``availability_problem``) and the context manager are
the same for every kind.
"""

from __future__ import annotations

import logging
from typing import Generic, Protocol, Self, TypeVar

from obra_llm.calls import CallRunner
from obra_llm.metrics import Metrics
from obra_llm.protocol import MetricsSnapshot

__all__ = ["PROBE_TIMEOUT", "Lifecycle", "ReadyState"]

logger = logging.getLogger("obra_llm.providers")

#: How long ``is_available`` (and a model-info request) may take in all: they must answer fast.
PROBE_TIMEOUT = 0.9


class ReadyState(Protocol):
    """What ``initialize`` built: at least the call runner that counts the calls."""

    @property
    def calls(self) -> CallRunner: ...


R = TypeVar("R", bound=ReadyState)


class Lifecycle(Generic[R]):
    """``_ready()``, ``metrics``, ``is_available()``, ``close()`` and the context manager, once."""

    _state: R | None = None
    _closed: bool = False

    @property
    def provider_name(self) -> str:
        """The provider's registry name, for logs."""
        raise NotImplementedError

    def availability_problem(self) -> str | None:
        """Why calls cannot succeed now (with the fix), or ``None`` when they can."""
        raise NotImplementedError

    def is_available(self) -> bool:
        """Whether calls can succeed now, answered within about a second."""
        problem = self.availability_problem()
        if problem:
            logger.info("%s is not available: %s", self.provider_name, problem)
        return problem is None

    @property
    def metrics(self) -> MetricsSnapshot:
        """Counters since ``initialize``: calls, tokens, latency, errors, timeouts, retries."""
        return (self._state.calls.metrics if self._state else Metrics()).snapshot()

    def close(self) -> None:
        """Release what the provider holds; ``initialize`` makes it usable again."""
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _ready(self) -> R:
        if self._state is None or self._closed:
            state = "closed" if self._state is not None else "not initialized"
            msg = f"{type(self).__name__} is {state}: call initialize(config) first"
            raise RuntimeError(msg)
        return self._state
