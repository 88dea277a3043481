"""Failure classes: what kind of trouble a member's error is, and whether a chain moves on for it.

The class comes from the error's type and attributes (``retryable``, ``status_code``),
never from its text, so a member's own mapping (HTTP status, CLI event) decides once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from obra_llm.errors import (
    AuthenticationError,
    LLMConnectionException,
    LLMException,
    LLMTimeoutException,
    ModelNotFoundError,
    RateLimitError,
)

__all__ = ["MOVE_ON_DEFAULTS", "FailureClass", "MovableClass", "classify"]

#: Failures a chain may move on for; ``bad_request`` is not one of them (the next member would refuse it too).
MovableClass = Literal[
    "connection", "timeout", "rate_limit", "quota", "overloaded", "model_not_found", "authentication", "bad_response"
]
FailureClass = MovableClass | Literal["bad_request"]

#: Whether a chain moves on for each class unless ``fallback_on`` says otherwise.
MOVE_ON_DEFAULTS: Mapping[MovableClass, bool] = {
    "connection": True,
    "timeout": True,
    "rate_limit": True,
    "quota": True,
    "overloaded": True,
    "model_not_found": True,
    "authentication": False,
    "bad_response": False,
}


def classify(error: LLMException) -> FailureClass:
    """The failure class of ``error`` (see the table in ``docs/fallback.md``)."""
    if isinstance(error, AuthenticationError):
        return "authentication"
    if isinstance(error, ModelNotFoundError):
        return "model_not_found"
    if isinstance(error, RateLimitError):
        return "rate_limit" if error.retryable else "quota"
    if isinstance(error, LLMTimeoutException):
        return "timeout"
    if isinstance(error, LLMConnectionException):
        return "connection"
    status = error.status_code
    if error.retryable or (status is not None and status >= 500):
        return "overloaded"
    if status is not None and 400 <= status < 500:
        return "bad_request"
    return "bad_response"
