"""Config abuse: alias bombs, huge configs, out-of-range numbers and URLs that escape their place.

Seen on 19bf5c7: a 329-byte YAML alias bomb took ~4 s to reject with a 25 MB message; a
huge config gave a 15 MB ``ConfigError``; ``timeout: 1e12`` was accepted and every call
then raised a raw ``OverflowError``; port 65536+P wrapped onto P; an endpoint's
``?query``/``#fragment`` was silently dropped and its ``user:pw@`` silently not sent (and
``ftp://alice:PW@...`` echoed the password in the error). Each case runs over every
registered provider the key applies to.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import attrs
import pytest

from obra_llm import ConfigError, create_llm, load_config
from obra_llm.protocol import provider_class
from obra_llm.registry import REGISTRY
from tests.faults.kits import FaultKit
from tests.faults.revision_checks.config_abuse import ALIAS_BOMB
from tests.support.fakes import FakeClock

#: Every message in this file must stay short, whatever the input's size.
MAX_MESSAGE = 16_000
ALL_TYPES = sorted(REGISTRY)


def _takes(llm_type: str, key: str) -> bool:
    declared = provider_class(REGISTRY[llm_type])
    return declared is not None and key in attrs.fields_dict(declared.settings_type)


HTTP_TYPES = [name for name in ALL_TYPES if _takes(name, "base_url")]


def _config_error(config: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        create_llm(config)
    assert len(str(caught.value)) <= MAX_MESSAGE, len(str(caught.value))
    return caught.value


def _key(llm_type: str) -> dict[str, str]:
    """An ``api_key`` for the types that take one, so that it is not a problem of its own."""
    return {"api_key": "k"} if _takes(llm_type, "api_key") else {}


# -- YAML and size --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ALIAS_BOMB, "the value holds more than 10000 values (shared YAML anchors count once per use) @ $.llm.system"),
        ("llm: {type: ollama, model: m, system: &a [*a]}\n", "the value is nested more than 32 levels deep @ $.llm.system"),
        ("llm: " + "[" * 5000 + "]" * 5000 + "\n", "opens 5000 [ or { brackets; a configuration needs at most 100"),
        ("llm:\n" + "".join(f"  key{n}: {'v' * 40}\n" for n in range(8000)), "is larger than 262144 bytes"),
    ],
    ids=["alias-bomb", "recursive-anchor", "deep-flow", "huge-file"],
)
def test_hostile_yaml_is_refused_fast_with_a_short_message(tmp_path: Path, text: str, expected: str) -> None:
    warm = tmp_path / "warm.yaml"
    warm.write_text("llm: {type: ollama, model: m}\n", encoding="utf-8")
    load_config(warm)  # imports paid before the clock starts
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    spent = time.perf_counter() - started
    assert expected in str(caught.value)
    assert len(str(caught.value)) <= MAX_MESSAGE
    assert spent < 3.0, f"{spent:.2f} s"  # generous: 19bf5c7 took ~4 s and 25 MB for the bomb


@pytest.mark.parametrize("llm_type", ALL_TYPES)
def test_a_huge_config_gives_a_short_error(llm_type: str) -> None:
    config: dict[str, Any] = {"type": llm_type, "model": "m", **_key(llm_type)}
    config |= {f"unknown_{'k' * 500}_{n}": "v" * 10_000 for n in range(1000)}
    config["system"] = ["x" * 1000] * 1000
    error = _config_error(config)
    assert "... and" in str(error) and "more" in str(error)
    assert len(error.problems) >= 1001


# -- numeric ranges -------------------------------------------------------------------------


@pytest.mark.parametrize("llm_type", ALL_TYPES)
@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("timeout", 1e12, "a number of seconds > 0 and <= 86400 (a day) @ $.timeout"),
        ("retry_deadline", 1e12, "a number of seconds > 0 and <= 86400 (a day) @ $.retry_deadline"),
        ("retry_backoff_max", 1e300, "a number of seconds >= 0 and <= 86400 (a day) @ $.retry_backoff_max"),
        ("retry_after_max", 1e12, "a number of seconds >= 0 and <= 86400 (a day) @ $.retry_after_max"),
        ("retry_attempts", 10**9, "a number from 1 to 100 @ $.retry_attempts"),
        ("max_tokens", 10**30, "a number from 1 to 2147483647 @ $.max_tokens"),
    ],
)
def test_numbers_past_their_range_are_refused(llm_type: str, key: str, value: float, allowed: str) -> None:
    error = _config_error({"type": llm_type, "model": "m", **_key(llm_type), key: value})
    assert any(problem.endswith(allowed) and "out of range" in problem for problem in error.problems), error.problems


@pytest.mark.parametrize(
    ("option", "value"), [("timeout", 1e12), ("max_tokens", 10**30), ("seed", 2**80)], ids=["timeout", "max_tokens", "seed"]
)
def test_per_call_numbers_past_their_range_are_refused_before_sending(kit: FaultKit[Any], option: str, value: float) -> None:
    clock = FakeClock()
    options: dict[str, Any] = {option: value}
    with kit.running() as server:
        llm = kit.make(server.url, clock=clock, sleep=clock.sleep)
        with llm:
            with pytest.raises(ConfigError, match=option):
                llm.generate("hi", **options)
            with pytest.raises(ConfigError, match=option):
                list(llm.generate_stream("hi", **options))
            assert kit.attempts(server) == 0
            assert llm.metrics["errors"] == 0


# -- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("llm_type", HTTP_TYPES)
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:65537/v1", "its port 65537 is outside 1-65535"),
        ("http://127.0.0.1:131083", "its port 131083 is outside 1-65535"),
        ("http://127.0.0.1:8080/v1?key=abc", "it has a query (?...), which requests would not carry"),
        ("http://127.0.0.1:8080/v1#part", "it has a fragment (#...), which requests would not carry"),
        ("http://alice:PW-s3cret@127.0.0.1:8080/v1", "it holds credentials (user:password@), which are never sent"),
        ("ftp://alice:PW-s3cret@127.0.0.1/v1", "its scheme 'ftp' is not http or https"),
        ("127.0.0.1:8080", "it has no scheme (http:// or https://)"),
        ("http:///v1", "it has no host"),
    ],
    ids=["port-wraps", "port-wraps-onto-11", "query", "fragment", "userinfo", "ftp-userinfo", "no-scheme", "no-host"],
)
def test_a_base_url_that_would_escape_its_place_is_refused(llm_type: str, url: str, reason: str) -> None:
    error = _config_error({"type": llm_type, "model": "m", "api_key": "k", "base_url": url})
    assert any(reason in problem and "@ $.base_url" in problem for problem in error.problems), error.problems
    assert "PW-s3cret" not in str(error) and "alice" not in str(error)
    assert "PW-s3cret" not in repr(error)
