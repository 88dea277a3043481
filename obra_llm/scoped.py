"""A context variable set for the length of a ``with`` block: the call budget, the attempt deadline."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Generic, TypeVar

__all__ = ["ScopedValue"]

T = TypeVar("T")


class ScopedValue(Generic[T]):
    """``variable`` holds ``value`` inside the block and what it held before after it.

    A slotted class rather than a ``contextmanager`` generator: one wraps every call and
    every request, and a generator-based context costs several frames each time.
    """

    __slots__ = ("_token", "_value", "_variable")

    _token: Token[T]

    def __init__(self, variable: ContextVar[T], value: T) -> None:
        self._variable = variable
        self._value = value

    def __enter__(self) -> None:
        self._token = self._variable.set(self._value)

    def __exit__(self, *_: object) -> None:
        self._variable.reset(self._token)
