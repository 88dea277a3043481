"""The one exception hierarchy of obra_llm.

Call failures (raised by ``generate``, ``generate_stream`` and friends)::

    LLMException                    root: anything that went wrong talking to an LLM
    ├── LLMConnectionException      the peer could not be reached (refused, reset, DNS, CLI not installed)
    ├── LLMTimeoutException         a call or the whole retry deadline ran out
    └── LLMResponseException        the peer answered, but not with a usable answer
        ├── AuthenticationError     the credentials were refused or are missing
        ├── RateLimitError          the peer asked us to slow down, or a quota is spent
        ├── ModelNotFoundError      the model does not exist on the peer (e.g. not pulled)
        ├── RefusalError            the model declined to answer, or the API blocked the prompt or answer
        └── StructuredAnswerError   the answer does not conform to the requested JSON Schema

Configuration failures (raised before any call is made)::

    ConfigError(ValueError)         a key, value or type in the configuration is wrong
    └── PluginNotFoundError         ``type`` names no registered provider

Every call failure carries ``provider``, ``retryable``, ``status_code`` (HTTP), ``exit_code``
(CLI) and ``retry_after`` (seconds the peer asked us to wait), so callers branch on
attributes, never on message text. Messages never contain secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "LLMConnectionException",
    "LLMException",
    "LLMResponseException",
    "LLMTimeoutException",
    "ModelNotFoundError",
    "PluginNotFoundError",
    "RateLimitError",
    "RefusalError",
    "StructuredAnswerError",
]


class LLMException(Exception):
    """A call to an LLM failed; the root of every call failure."""

    #: Whether trying the same call again may succeed. Subclasses set a sensible default.
    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        retryable: bool | None = None,
        status_code: int | None = None,
        exit_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.retryable = self.default_retryable if retryable is None else retryable
        self.status_code = status_code
        self.exit_code = exit_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"[{self.provider}] {self.message}" if self.provider else self.message

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}"
            for name, value in self._fields().items()
            if value is not None and name != "message"
        )
        return f"{type(self).__name__}({self.message!r}{', ' if fields else ''}{fields})"

    def _fields(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "provider": self.provider,
            "retryable": self.retryable,
            "status_code": self.status_code,
            "exit_code": self.exit_code,
            "retry_after": self.retry_after,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        fields = self._fields()
        message = fields.pop("message")
        return (_rebuild, (type(self), message, fields), self.__dict__)


def _rebuild(cls: type[LLMException], message: str, fields: dict[str, Any]) -> LLMException:
    """Unpickle an exception with its keyword-only attributes (pickle only keeps ``args``)."""
    return cls(message, **fields)


class LLMConnectionException(LLMException):
    """The LLM could not be reached: connection refused or reset, DNS failure, CLI not installed."""

    default_retryable = True


class LLMTimeoutException(LLMException):
    """The call took longer than its timeout, or retries used up the total deadline."""

    default_retryable = True


class LLMResponseException(LLMException):
    """The LLM answered, but with an error status or a body that is cut, malformed or empty."""


class AuthenticationError(LLMResponseException):
    """The credentials were refused or are missing; retrying will not help."""


class RateLimitError(LLMResponseException):
    """The peer asked us to slow down (429) or a quota is exhausted (then not retryable)."""

    default_retryable = True


class ModelNotFoundError(LLMResponseException):
    """The configured model does not exist on the peer (for Ollama: not pulled)."""


class RefusalError(LLMResponseException):
    """The model declined to answer (OpenAI ``message.refusal``, Anthropic ``stop_reason: refusal``) or the
    API's safety filter blocked the prompt or the answer (Gemini ``blockReason``, ``finishReason: SAFETY``...).

    Asking the same again will not help: never retried, and a structured answer is not repaired.
    """


class StructuredAnswerError(LLMResponseException):
    """The answer is not JSON conforming to the requested schema, after every repair allowed.

    ``raw_text`` is the last answer as the model gave it; ``validation_errors`` says where and
    why it does not conform (``$.score: 11 is greater than the maximum of 10``).
    """

    def __init__(self, message: str, *, raw_text: str = "", validation_errors: Sequence[str] = (), **fields: Any) -> None:
        super().__init__(message, **fields)
        self.raw_text = raw_text
        self.validation_errors = tuple(validation_errors)

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "raw_text": self.raw_text, "validation_errors": self.validation_errors}


class ConfigError(ValueError):
    """The configuration is wrong; the message lists every problem as ``reason @ $.path``.

    ``problems`` keeps each problem's line so that tools can show or count them.
    """

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems) or (message,)


class PluginNotFoundError(ConfigError):
    """The configured ``type`` names no registered provider."""

    def __init__(self, llm_type: str, available: Sequence[str]) -> None:
        self.llm_type = llm_type
        self.available = list(available)
        super().__init__(f"Invalid LLM type: {llm_type}. Available: {self.available}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.llm_type, self.available), self.__dict__)
