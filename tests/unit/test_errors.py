"""The exception hierarchy: attributes, text, pickling and the builtin bases."""

from __future__ import annotations

import pickle

import pytest

from obra_llm import (
    AuthenticationError,
    ConfigError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    PluginNotFoundError,
    RateLimitError,
)

CALL_ERRORS: list[type[LLMException]] = [
    LLMException,
    LLMConnectionException,
    LLMTimeoutException,
    LLMResponseException,
    AuthenticationError,
    RateLimitError,
    ModelNotFoundError,
]

DEFAULT_RETRYABLE = {
    LLMException: False,
    LLMConnectionException: True,
    LLMTimeoutException: True,
    LLMResponseException: False,
    AuthenticationError: False,
    RateLimitError: True,
    ModelNotFoundError: False,
}


def _fields(error: LLMException) -> tuple[object, ...]:
    return (
        type(error),
        error.message,
        error.provider,
        error.retryable,
        error.status_code,
        error.exit_code,
        error.retry_after,
        str(error),
        error.args,
    )


@pytest.mark.parametrize("cls", CALL_ERRORS)
def test_call_error_pickles_with_every_attribute(cls: type[LLMException]) -> None:
    error = cls("boom", provider="ollama", retryable=True, status_code=503, exit_code=2, retry_after=1.5)
    clone = pickle.loads(pickle.dumps(error))
    assert _fields(clone) == (cls, "boom", "ollama", True, 503, 2, 1.5, "[ollama] boom", ("boom",))


@pytest.mark.parametrize("cls", CALL_ERRORS)
def test_call_error_pickles_an_explicit_false_retryable(cls: type[LLMException]) -> None:
    clone = pickle.loads(pickle.dumps(cls("x", retryable=False)))
    assert clone.retryable is False


def test_call_error_pickle_keeps_notes() -> None:
    """RetryManager explains its decisions in notes; a plain Exception keeps them through pickle."""
    error = RateLimitError("boom", provider="ollama")
    error.add_note("gave up after 3 attempt(s)")
    clone = pickle.loads(pickle.dumps(error))
    assert getattr(clone, "__notes__", None) == ["gave up after 3 attempt(s)"]


@pytest.mark.parametrize(("cls", "expected"), list(DEFAULT_RETRYABLE.items()))
def test_default_retryable_per_class(cls: type[LLMException], expected: bool) -> None:
    assert cls("x").retryable is expected


def test_explicit_retryable_overrides_the_class_default() -> None:
    assert RateLimitError("quota spent", retryable=False).retryable is False
    assert LLMResponseException("cut", retryable=True).retryable is True


def test_str_includes_the_provider() -> None:
    assert str(LLMTimeoutException("no answer in 5 s", provider="codex")) == "[codex] no answer in 5 s"


def test_str_without_provider_is_the_message() -> None:
    assert str(LLMResponseException("bad body")) == "bad body"


def test_repr_shows_the_set_fields() -> None:
    error = RateLimitError("slow down", provider="ollama", status_code=429, retry_after=2.0)
    assert repr(error) == "RateLimitError('slow down', provider='ollama', retryable=True, status_code=429, retry_after=2.0)"


def test_repr_shows_exit_code() -> None:
    error = LLMConnectionException("codex not found", provider="codex", exit_code=127, retryable=False)
    assert repr(error) == "LLMConnectionException('codex not found', provider='codex', retryable=False, exit_code=127)"


def test_hierarchy() -> None:
    assert issubclass(LLMConnectionException, LLMException)
    assert issubclass(LLMTimeoutException, LLMException)
    assert issubclass(LLMResponseException, LLMException)
    assert issubclass(AuthenticationError, LLMResponseException)
    assert issubclass(RateLimitError, LLMResponseException)
    assert issubclass(ModelNotFoundError, LLMResponseException)
    assert not issubclass(ConfigError, LLMException)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad key"):
        raise ConfigError("bad key")


def test_plugin_not_found_is_a_config_error() -> None:
    assert issubclass(PluginNotFoundError, ConfigError)
    with pytest.raises(ConfigError):
        raise PluginNotFoundError("gpt", ["ollama"])


def test_config_error_problems_default_to_the_message() -> None:
    assert ConfigError("one problem").problems == ("one problem",)


def test_config_error_keeps_each_problem() -> None:
    error = ConfigError("two problems", problems=["a @ $.a", "b @ $.b"])
    assert error.problems == ("a @ $.a", "b @ $.b")
    assert str(error) == "two problems"


def test_config_error_pickles_with_problems() -> None:
    clone = pickle.loads(pickle.dumps(ConfigError("two", problems=["a @ $.a", "b @ $.b"])))
    assert (type(clone), str(clone), clone.problems) == (ConfigError, "two", ("a @ $.a", "b @ $.b"))


def test_plugin_not_found_text_and_attributes() -> None:
    error = PluginNotFoundError("gpt", ["ollama", "codex"])
    assert str(error) == "Invalid LLM type: gpt. Available: ['ollama', 'codex']"
    assert (error.llm_type, error.available, error.problems) == ("gpt", ["ollama", "codex"], (str(error),))


def test_plugin_not_found_pickles() -> None:
    clone = pickle.loads(pickle.dumps(PluginNotFoundError("gpt", ["codex", "ollama"])))
    assert type(clone) is PluginNotFoundError
    assert (clone.llm_type, clone.available, str(clone)) == (
        "gpt",
        ["codex", "ollama"],
        "Invalid LLM type: gpt. Available: ['codex', 'ollama']",
    )
