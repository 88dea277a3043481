"""validate_options: per-call options are checked, every problem reported, nothing dropped."""

from __future__ import annotations

from typing import Any

import pytest

from obra_llm.config.settings import CommonSettings
from obra_llm.errors import ConfigError
from obra_llm.options import ALL_OPTIONS, Call, resolve_call, validate_options


def test_all_options_are_the_generate_options_keys() -> None:
    assert ALL_OPTIONS == frozenset({"temperature", "max_tokens", "system", "stop", "seed", "timeout", "json_schema"})


def test_valid_options_are_returned_unchanged() -> None:
    options: dict[str, Any] = {
        "temperature": 0.2,
        "max_tokens": 64,
        "system": "be brief",
        "stop": ["\n\n", "END"],
        "seed": 7,
        "timeout": 2.5,
    }
    assert validate_options(options, provider="ollama") == options


def test_no_options_are_valid() -> None:
    assert validate_options({}, provider="ollama") == {}


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("temperature", 2.5, "temperature=2.5 must be a number from 0 to 2"),
        ("temperature", -0.1, "temperature=-0.1 must be a number from 0 to 2"),
        ("temperature", True, "temperature=True must be a number from 0 to 2"),
        ("temperature", float("nan"), "temperature=nan must be a number from 0 to 2"),
        ("temperature", "0.5", "temperature='0.5' must be a number from 0 to 2"),
        ("max_tokens", 0, "max_tokens=0 must be a whole number from 1 to 2147483647"),
        ("max_tokens", 1.0, "max_tokens=1.0 must be a whole number from 1 to 2147483647"),
        ("max_tokens", True, "max_tokens=True must be a whole number from 1 to 2147483647"),
        ("timeout", 0, "timeout=0 must be a number of seconds > 0 and <= 86400 (a day)"),
        ("timeout", float("inf"), "timeout=inf must be a number of seconds > 0 and <= 86400 (a day)"),
        ("seed", 1.5, "seed=1.5 must be a whole number that fits in 64 bits"),
        ("seed", False, "seed=False must be a whole number that fits in 64 bits"),
        ("system", 3, "system must be a string, not int"),
        ("stop", "END", "stop='END' must be a list of non-empty strings"),
        ("stop", ["ok", ""], "stop=['ok', ''] must be a list of non-empty strings"),
        ("stop", [1], "stop=[1] must be a list of non-empty strings"),
    ],
)
def test_each_bad_value_is_named(name: str, value: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_options({name: value}, provider="ollama")
    assert caught.value.problems == (problem,)
    assert str(caught.value) == f"invalid options for ollama.generate(): {problem}"


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_options({"top_k": 5}, provider="ollama")
    assert caught.value.problems == (f"unknown option 'top_k'; generate() accepts {sorted(ALL_OPTIONS)}",)


def test_unsupported_option_is_rejected_not_dropped() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_options({"seed": 1}, provider="codex", supported={"timeout", "system"})
    assert caught.value.problems == ("option 'seed' is not supported by codex; it accepts ['system', 'timeout']",)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_options({"temperature": 9, "top_k": 1, "max_tokens": 0}, provider="ollama")
    assert caught.value.problems == (
        "temperature=9 must be a number from 0 to 2",
        f"unknown option 'top_k'; generate() accepts {sorted(ALL_OPTIONS)}",
        "max_tokens=0 must be a whole number from 1 to 2147483647",
    )


def test_provider_temperature_range() -> None:
    assert validate_options({"temperature": 1.0}, provider="anthropic", temperature_range=(0.0, 1.0)) == {
        "temperature": 1.0
    }
    with pytest.raises(ConfigError) as caught:
        validate_options({"temperature": 1.5}, provider="anthropic", temperature_range=(0.0, 1.0))
    assert caught.value.problems == ("temperature=1.5 must be a number from 0 to 1",)


def test_max_stop_limit() -> None:
    assert validate_options({"stop": ("a", "b")}, provider="openai", max_stop=2) == {"stop": ("a", "b")}
    with pytest.raises(ConfigError) as caught:
        validate_options({"stop": ["a", "b", "c"]}, provider="openai", max_stop=2)
    assert caught.value.problems == ("stop has 3 sequences; at most 2 are allowed",)



# -- resolve_call: settings and per-call options merged once ----------------------------------

SETTINGS = CommonSettings(model="m", system="be strict", temperature=0.3, max_tokens=200, timeout=30.0)


def test_no_options_is_the_settings() -> None:
    assert resolve_call(SETTINGS, {}) == Call("be strict", 0.3, 200, None, None, 30.0)


def test_a_call_value_wins_over_the_setting() -> None:
    call = resolve_call(SETTINGS, {"system": "be kind", "temperature": 0.0, "max_tokens": 5, "timeout": 2.5})
    assert call == Call("be kind", 0.0, 5, None, None, 2.5)


def test_stop_becomes_a_tuple_and_seed_passes() -> None:
    call = resolve_call(SETTINGS, {"stop": ["END", "\n\n"], "seed": 7})
    assert (call.stop, call.seed, call.system) == (("END", "\n\n"), 7, "be strict")
