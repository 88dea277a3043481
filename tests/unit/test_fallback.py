"""The fallback chain's parts: failure classes, the cooldown circuit, and up-front validation."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from obra_llm.errors import (
    AuthenticationError,
    ConfigError,
    LLMConnectionException,
    LLMException,
    LLMResponseException,
    LLMTimeoutException,
    ModelNotFoundError,
    RateLimitError,
)
from obra_llm.fallback import MOVE_ON_DEFAULTS, FailureClass, FallbackLLM, classify
from obra_llm.fallback.cooldown import Cooldowns
from obra_llm.fallback.failures import MovableClass
from obra_llm.protocol import LLMPlugin, ProviderClass, SupportsClose, SupportsDiagnosis, SupportsMembers, offline_counter
from obra_llm.registry import REGISTRY, create_llm, load_config, validate_config
from tests.support.fakes import FakeClock

# -- failure classes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (LLMConnectionException("refused"), "connection"),
        (LLMConnectionException("codex is not installed", retryable=False), "connection"),
        (LLMTimeoutException("no answer within 30 s"), "timeout"),
        (RateLimitError("429", status_code=429, retry_after=2.0), "rate_limit"),
        (RateLimitError("you've hit your usage limit", retryable=False), "quota"),
        (LLMResponseException("overloaded", status_code=529, retryable=True), "overloaded"),
        (LLMResponseException("internal error", status_code=500, retryable=False), "overloaded"),
        (LLMResponseException("high demand", retryable=True), "overloaded"),
        (ModelNotFoundError("model 'x' not found", status_code=404), "model_not_found"),
        (AuthenticationError("invalid x-api-key", status_code=401), "authentication"),
        (LLMResponseException("roles must alternate", status_code=400), "bad_request"),
        (LLMResponseException("unprocessable", status_code=422), "bad_request"),
        (LLMResponseException("the body is not JSON"), "bad_response"),
        (LLMException("something else"), "bad_response"),
    ],
)
def test_each_error_has_its_failure_class(error: LLMException, expected: FailureClass) -> None:
    assert classify(error) == expected


def test_the_defaults_name_every_class_a_chain_can_move_on_for() -> None:
    assert set(MOVE_ON_DEFAULTS) == set(typing.get_args(MovableClass))
    assert [name for name, on in MOVE_ON_DEFAULTS.items() if not on] == ["authentication", "bad_response"]


# -- the cooldown circuit ------------------------------------------------------------------


def test_a_cooled_member_is_skipped_then_half_open_for_exactly_one_call() -> None:
    clock = FakeClock()
    cooldowns = Cooldowns(2, clock=clock)

    assert cooldowns.admit(0) == "trusted"
    cooldowns.failed(0, "trusted", 30.0)
    assert cooldowns.admit(0) is None
    assert cooldowns.state(0) == ("cooling", 30.0)
    assert cooldowns.admit(1) == "trusted"  # members are independent

    clock.advance(30.0)
    assert cooldowns.state(0).name == "half-open"
    assert cooldowns.admit(0) == "trial"
    assert cooldowns.admit(0) is None  # the trial is taken: others keep skipping
    assert cooldowns.state(0).name == "trial"
    cooldowns.passed(0, "trial")
    assert cooldowns.admit(0) == "trusted"


def test_a_failed_trial_cools_again_and_a_released_one_passes_to_the_next_call() -> None:
    clock = FakeClock()
    cooldowns = Cooldowns(1, clock=clock)
    cooldowns.failed(0, "trusted", 10.0)
    clock.advance(10.0)

    admission = cooldowns.admit(0)
    assert admission == "trial"
    cooldowns.released(0, admission)
    assert cooldowns.admit(0) == "trial"  # the abandoned trial went to the next call
    cooldowns.failed(0, "trial", 10.0)
    assert cooldowns.state(0) == ("cooling", 10.0)


def test_overlapping_failures_keep_the_later_end_and_zero_means_no_cooldown() -> None:
    clock = FakeClock()
    cooldowns = Cooldowns(1, clock=clock)

    cooldowns.failed(0, "trusted", 0.0)
    assert cooldowns.state(0).name == "trusted"
    cooldowns.failed(0, "trusted", 50.0)
    cooldowns.failed(0, "trusted", 5.0)
    assert cooldowns.state(0) == ("cooling", 50.0)


def _close(llm: LLMPlugin) -> None:
    assert isinstance(llm, SupportsClose)
    llm.close()


# -- the provider's surface ----------------------------------------------------------------


def test_fallback_is_registered_and_declares_its_surface() -> None:
    assert REGISTRY["fallback"] is FallbackLLM
    assert isinstance(FallbackLLM, ProviderClass)
    assert FallbackLLM.kind == "chain"
    llm = create_llm({"type": "fallback", "members": [{"type": "ollama"}]})
    for protocol in (LLMPlugin, SupportsClose, SupportsDiagnosis, SupportsMembers):
        assert isinstance(llm, protocol)
    assert repr(llm) == "FallbackLLM(members=['ollama'])"
    assert llm.estimate_tokens("hello, world") == REGISTRY["ollama"]().estimate_tokens("hello, world")
    assert llm.metrics["calls"] == 0
    _close(llm)


def test_an_uninitialized_chain_says_so() -> None:
    with pytest.raises(RuntimeError, match="initialize"):
        FallbackLLM().generate("x")
    assert FallbackLLM().metrics["calls"] == 0


def test_repeated_types_are_numbered_in_names() -> None:
    llm = create_llm({"type": "fallback", "members": [{"type": "ollama"}, {"type": "ollama", "base_url": "http://127.0.0.1:9"}]})
    assert isinstance(llm, FallbackLLM)
    assert [name for name, _ in llm.member_problems()] == ["ollama", "ollama#2"]
    llm.close()


# -- up-front validation -------------------------------------------------------------------


def _problems(config: dict[str, object]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        create_llm(config)
    return caught.value.problems


def test_every_members_problems_are_reported_at_once_at_their_path() -> None:
    problems = _problems(
        {
            "type": "fallback",
            "members": [
                {"type": "openai-codex", "sandbox": "yolo"},
                {"type": "anthropic", "model": 7, "api_key": "k"},
                {"type": "gpt-banana"},
                "ollama",
                {"type": "ollama", "modle": "qwen"},
            ],
        }
    )
    assert problems == (
        "'yolo' is out of range: expected one of ['danger-full-access', 'read-only', 'workspace-write'] @ $.members[0].sandbox",
        "7 is not valid: expected a string @ $.members[1].model",
        f"Invalid LLM type: gpt-banana. Available: {sorted(REGISTRY)} @ $.members[2].type",
        "a member must be a provider config (a mapping of keys to values), not str @ $.members[3]",
        "unknown key 'modle' (did you mean 'model'?) @ $.members[4].modle",
    )


def test_chain_keys_are_checked_and_per_member_keys_refused() -> None:
    assert _problems({"type": "fallback", "cooldown": -1, "members": [{"type": "ollama"}]}) == (
        "-1 is out of range: expected a number of seconds >= 0 and <= 86400 (a day) @ $.cooldown",
    )
    assert _problems({"type": "fallback", "cooldown": 90, "cooldown_max": 60, "members": [{"type": "ollama"}]}) == (
        "cooldown_max=60 is shorter than cooldown=90: raise it @ $.cooldown_max",
    )
    problems = _problems({"type": "fallback", "model": "gpt-5", "retry_attempts": 5, "fallback_on": {"quotas": True}, "members": []})
    assert problems == (
        "retry_attempts is set per member, not on the chain (a fallback has no retry_attempts of its own): "
        "move it into each member @ $.retry_attempts",
        "model is set per member, not on the chain (a fallback has no model of its own): move it into each member @ $.model",
        "unknown failure class 'quotas' (did you mean 'quota'?) @ $.fallback_on.quotas",
        "members must be a non-empty list of provider configs (each a mapping with its type), not an empty list @ $.members",
    )
    assert _problems({"type": "fallback"}) == ("missing required key 'members' @ $.members",)


def test_a_problem_found_when_a_member_starts_is_at_its_path_too() -> None:
    problems = _problems({"type": "fallback", "members": [{"type": "ollama"}, {"type": "openai-codex", "temperature": 0.2}]})
    assert problems == (
        "temperature=0.2 cannot be honoured by `codex exec` (it has no such option); remove it @ $.members[1].temperature",
    )


def test_a_member_missing_its_api_key_fails_the_chain_at_its_path() -> None:
    problems = _problems({"type": "fallback", "members": [{"type": "ollama"}, {"type": "openai", "model": "gpt-4o", "api_key": ""}]})
    assert len(problems) == 1
    assert problems[0].startswith("no API key for openai")
    assert problems[0].endswith("@ $.members[1].api_key")


def test_load_config_validates_members_under_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "llm:\n  type: fallback\n  members:\n    - type: ollama\n      timeout: fast\n    - type: anthropic\n      api_key: ${FALLBACK_TEST_UNSET}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == (
        "environment variable FALLBACK_TEST_UNSET is not set (set it, or write ${FALLBACK_TEST_UNSET:-default}) "
        "@ $.llm.members[1].api_key",
    )
    path.write_text("llm:\n  type: fallback\n  members:\n    - type: ollama\n      timeout: fast\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'fast' is not valid: expected a number @ \$\.llm\.members\[0\]\.timeout"):
        load_config(path, environ={})


def test_a_members_references_are_expanded_once() -> None:
    config = {"type": "fallback", "members": [{"type": "ollama", "system": "costs $${PRICE}", "model": "${FALLBACK_MODEL:-m}"}]}
    validate_config(config, environ={})  # "$${PRICE}" is the text "${PRICE}", not a reference to check twice
    llm = create_llm(config)
    assert llm.get_model_info()["model_name"] == "m"
    _close(llm)


def test_a_nested_chain_reports_at_the_nested_path() -> None:
    problems = _problems({"type": "fallback", "members": [{"type": "fallback", "members": [{"type": "ollama", "timeout": 0}]}]})
    assert problems == ("0 is out of range: expected a number of seconds > 0 and <= 86400 (a day) @ $.members[0].members[0].timeout",)


def test_a_chain_counts_tokens_offline_as_its_first_member() -> None:
    first = {"type": "anthropic", "model": "claude-sonnet-4-5"}
    config = {"type": "fallback", "members": [first, {"type": "ollama"}]}
    counter = offline_counter(REGISTRY["anthropic"])
    assert counter is not None and offline_counter(FallbackLLM) is not None
    counted = FallbackLLM.count_tokens("Rate this change from 0 to 10.", config)  # no API key needed
    assert counted == counter.count_tokens("Rate this change from 0 to 10.", first)
