"""Configuration: strict parsing, every problem at once, ${VAR} expansion, secrets, YAML files."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest

from obra_llm import ConfigError, PluginNotFoundError, Secret, create_llm, load_config
from obra_llm.config import CommonSettings, RetrySettings, expand_env, parse_settings, settings_keys
from obra_llm.errors import AuthenticationError
from obra_llm.providers.ollama import OllamaLLM, OllamaSettings

KEY = "sk-proj-Zq8vT3xW9yB2nM4kL7pQ1rS6"


def _problems(config: dict[str, Any], environ: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(OllamaSettings, config, provider="ollama", environ=environ or {})
    return caught.value.problems


def _parse(config: dict[str, Any], environ: dict[str, str] | None = None) -> OllamaSettings:
    return parse_settings(OllamaSettings, config, provider="ollama", environ=environ or {})


# -- keys --------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = _parse({})
    assert (settings.model, settings.base_url, settings.timeout, settings.retry_attempts) == (
        "qwen2.5-coder:32b",
        None,
        120.0,
        3,
    )
    assert settings.api_key is None


def test_unknown_key_suggests_a_close_match() -> None:
    assert _problems({"modle": "qwen"}) == ("unknown key 'modle' (did you mean 'model'?) @ $.modle",)


def test_unknown_key_typo_of_a_retry_key() -> None:
    assert _problems({"retry_attempt": 2}) == (
        "unknown key 'retry_attempt' (did you mean 'retry_attempts'?) @ $.retry_attempt",
    )


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    allowed = ", ".join(sorted(settings_keys(OllamaSettings)))
    assert _problems({"zzzzzz": 1}) == (f"unknown key 'zzzzzz' (allowed keys: {allowed}) @ $.zzzzzz",)


def test_settings_keys_in_declaration_order() -> None:
    assert settings_keys(RetrySettings) == (
        "retry_attempts",
        "retry_backoff_base",
        "retry_backoff_max",
        "retry_deadline",
        "retry_after_max",
    )


def test_missing_required_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(CommonSettings, {}, provider="common", environ={})
    assert caught.value.problems == ("missing required key 'model' @ $.model",)


# -- types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("timeout", "soon", "'soon' is not valid: expected a number @ $.timeout"),
        ("timeout", True, "True is not valid: expected a number @ $.timeout"),
        ("timeout", float("inf"), "inf is not valid: expected a finite number @ $.timeout"),
        ("timeout", None, "None is not valid: expected a number @ $.timeout"),
        ("retry_attempts", True, "True is not valid: expected a whole number @ $.retry_attempts"),
        ("retry_attempts", 2.0, "2.0 is not valid: expected a whole number @ $.retry_attempts"),
        ("max_tokens", 1.9, "1.9 is not valid: expected a whole number @ $.max_tokens"),
        ("max_tokens", "12x", "'12x' is not valid: expected a whole number @ $.max_tokens"),
        ("model", 32, "32 is not valid: expected a string @ $.model"),
        ("keep_alive", [1], "[1] is not valid: expected a number @ $.keep_alive"),
    ],
)
def test_wrong_types_are_named(key: str, value: Any, problem: str) -> None:
    assert _problems({key: value}) == (problem,)


def test_numeric_strings_from_expansion_are_parsed() -> None:
    settings = _parse({"timeout": "${T}", "retry_attempts": " 5 ", "max_tokens": "+12"}, {"T": "30.5"})
    assert (settings.timeout, settings.retry_attempts, settings.max_tokens) == (30.5, 5, 12)


def test_int_is_accepted_for_a_float_field() -> None:
    settings = _parse({"timeout": 30})
    assert settings.timeout == 30.0
    assert type(settings.timeout) is float


def test_keep_alive_accepts_a_duration_or_seconds() -> None:
    assert _parse({"keep_alive": "10m"}).keep_alive == "10m"
    assert _parse({"keep_alive": 300}).keep_alive == 300.0
    assert _parse({"keep_alive": None}).keep_alive is None


# -- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("timeout", -1, "-1 is out of range: expected a number of seconds > 0 and <= 86400 (a day) @ $.timeout"),
        ("timeout", 0, "0 is out of range: expected a number of seconds > 0 and <= 86400 (a day) @ $.timeout"),
        ("temperature", 2.5, "2.5 is out of range: expected a number from 0 to 2 @ $.temperature"),
        ("temperature", -0.5, "-0.5 is out of range: expected a number from 0 to 2 @ $.temperature"),
        ("retry_attempts", 0, "0 is out of range: expected a number from 1 to 100 @ $.retry_attempts"),
        ("retry_backoff_base", -0.1, "-0.1 is out of range: expected a number of seconds >= 0 and <= 86400 (a day) @ $.retry_backoff_base"),
        ("max_tokens", 0, "0 is out of range: expected a number from 1 to 2147483647 @ $.max_tokens"),
        ("context_length", 0, "0 is out of range: expected a number from 1 to 2147483647 @ $.context_length"),
    ],
)
def test_out_of_range_values_are_named(key: str, value: Any, problem: str) -> None:
    assert _problems({key: value}) == (problem,)


def test_range_edges_are_allowed() -> None:
    settings = _parse({"temperature": 0, "retry_attempts": 1, "retry_backoff_base": 0})
    assert (settings.temperature, settings.retry_attempts, settings.retry_backoff_base) == (0.0, 1, 0.0)
    assert _parse({"temperature": 2}).temperature == 2.0


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(
            OllamaSettings,
            {"modle": "x", "timeout": "abc", "retry_attempts": 0, "temperature": 3, "model": "${NOPE}"},
            provider="ollama",
            environ={},
        )
    problems = (
        "environment variable NOPE is not set (set it, or write ${NOPE:-default}) @ $.model",
        "unknown key 'modle' (did you mean 'model'?) @ $.modle",
        "0 is out of range: expected a number from 1 to 100 @ $.retry_attempts",
        "'abc' is not valid: expected a number @ $.timeout",
        "3 is out of range: expected a number from 0 to 2 @ $.temperature",
    )
    assert caught.value.problems == problems
    assert str(caught.value) == "invalid ollama configuration:\n" + "\n".join(f"  - {line}" for line in problems)


def test_non_mapping_config() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(OllamaSettings, ["model"], provider="ollama", source="c.yaml")
    assert str(caught.value) == "the ollama configuration (from c.yaml) must be a mapping of keys to values, not list"


# -- ${VAR} expansion ------------------------------------------------------------------


def test_expand_variable() -> None:
    assert expand_env("http://${HOST}:11434", {"HOST": "gpu-box"}) == ("http://gpu-box:11434", [])


def test_expand_default_when_unset() -> None:
    assert expand_env("${MODEL:-qwen2.5-coder:32b}", {}) == ("qwen2.5-coder:32b", [])


def test_expand_default_when_empty() -> None:
    assert expand_env("${MODEL:-fallback}", {"MODEL": ""}) == ("fallback", [])


def test_expand_set_variable_beats_default() -> None:
    assert expand_env("${MODEL:-fallback}", {"MODEL": "llama3"}) == ("llama3", [])


def test_expand_empty_default() -> None:
    assert expand_env("a${X:-}b", {}) == ("ab", [])


def test_expand_set_but_empty_without_default_is_empty() -> None:
    assert expand_env("a${X}b", {"X": ""}) == ("ab", [])


def test_double_dollar_is_a_literal_dollar() -> None:
    assert expand_env("cost: $$5 and $${HOME}", {"HOME": "/root"}) == ("cost: $5 and ${HOME}", [])


def test_lone_dollar_is_left_alone() -> None:
    assert expand_env("$HOME and $", {"HOME": "/root"}) == ("$HOME and $", [])


def test_expand_walks_mappings_and_lists_and_keeps_other_values() -> None:
    value = {"a": ["${X}", 1, None, {"b": "${Y:-d}"}], "c": True}
    assert expand_env(value, {"X": "x"}) == ({"a": ["x", 1, None, {"b": "d"}], "c": True}, [])


def test_missing_variable_is_named_with_its_key_path() -> None:
    expanded, problems = expand_env({"headers": {"auth": ["ok", "${TOKEN}"]}}, {}, path="$.llm")
    assert expanded == {"headers": {"auth": ["ok", ""]}}
    assert problems == [
        "environment variable TOKEN is not set (set it, or write ${TOKEN:-default}) @ $.llm.headers.auth[1]"
    ]


def test_parse_settings_expands_from_the_given_environ() -> None:
    settings = _parse({"endpoint": "http://${OLLAMA_HOST:-localhost}:11434", "model": "${M}"}, {"M": "llama3"})
    assert (settings.base_url, settings.model) == ("http://localhost:11434", "llama3")


# -- legacy keys -------------------------------------------------------------------------


def test_api_url_and_endpoint_map_to_base_url() -> None:
    assert _parse({"api_url": "http://gpu-box:11434"}).base_url == "http://gpu-box:11434"
    assert _parse({"endpoint": "http://gpu-box:11435"}).base_url == "http://gpu-box:11435"


def test_base_url_wins_over_endpoint_which_wins_over_api_url() -> None:
    assert _parse({"api_url": "http://old:1", "endpoint": "http://new:2"}).base_url == "http://new:2"
    assert _parse({"api_url": "http://old:1", "endpoint": "http://new:2", "base_url": "http://newest:3"}).base_url == (
        "http://newest:3"
    )


def test_api_url_is_unknown_where_there_is_no_endpoint() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(RetrySettings, {"api_url": "http://h"}, provider="retry", environ={})
    assert caught.value.problems[0].startswith("unknown key 'api_url' (")


# -- secrets -----------------------------------------------------------------------------


def test_secret_never_shows_itself() -> None:
    secret = Secret(KEY)
    assert repr(secret) == "Secret('**********')"
    assert str(secret) == "**********"
    assert f"{secret}|{secret:>20}" == "**********|**********"
    assert "%s %r" % (secret, secret) == "********** Secret('**********')"  # noqa: UP031 - %-formatting is what is tested
    assert secret.reveal() == KEY


def test_secret_equality_hash_bool_and_pickle() -> None:
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) != Secret("other")
    assert Secret(KEY) != KEY
    assert hash(Secret(KEY)) == hash(Secret(KEY))
    assert not Secret("")
    assert Secret("x")
    assert pickle.loads(pickle.dumps(Secret(KEY))).reveal() == KEY


def test_secret_not_in_settings_repr_or_str() -> None:
    settings = _parse({"api_key": KEY})
    assert settings.api_key == Secret(KEY)
    assert KEY not in repr(settings)
    assert KEY not in str(settings)
    assert "api_key=Secret('**********')" in repr(settings)


def test_secret_from_expansion_not_in_repr() -> None:
    settings = _parse({"api_key": "${OLLAMA_API_KEY}"}, {"OLLAMA_API_KEY": KEY})
    assert settings.api_key is not None
    assert settings.api_key.reveal() == KEY
    assert KEY not in repr(settings)


@pytest.mark.parametrize("bad", [[KEY], {"value": KEY}, 918273645546372819])
def test_invalid_secret_value_is_hidden_in_the_error(bad: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        _parse({"api_key": bad, "timeout": -1})
    assert caught.value.problems == (
        "-1 is out of range: expected a number of seconds > 0 and <= 86400 (a day) @ $.timeout",
        "<hidden> is not valid: expected a string @ $.api_key",
    )
    assert str(bad) not in str(caught.value)
    assert str(bad) not in repr(caught.value)


def test_secret_under_a_misspelt_key_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        _parse({"api_kye": KEY})
    assert caught.value.problems == ("unknown key 'api_kye' (did you mean 'api_key'?) @ $.api_kye",)


def test_secret_not_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        # a careless server that echoes the credential back in its error body
        return httpx.Response(401, json={"error": f"bad key {request.headers['authorization']}"})

    caplog.set_level(logging.DEBUG, logger="obra_llm")  # whatever an in-process CLI run left it at
    llm = OllamaLLM(transport=httpx.MockTransport(refuse))
    llm.initialize({"api_key": KEY, "endpoint": "http://127.0.0.1:9"})
    try:
        with pytest.raises(AuthenticationError) as caught:
            llm.generate("hi")
        assert llm.is_available() is False
        assert llm.get_model_info()["model_name"] == "qwen2.5-coder:32b"
    finally:
        llm.close()
    assert KEY not in str(caught.value)
    assert KEY not in repr(llm)
    assert caplog.records, "the calls above log at debug/info; the check below must see them"
    assert KEY not in caplog.text


def test_load_config_does_not_copy_an_expanded_secret(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm:\n  api_key: ${OBRA_TEST_KEY}\n")
    assert load_config(path, environ={"OBRA_TEST_KEY": KEY}) == {"api_key": "${OBRA_TEST_KEY}"}


def test_endpoint_credentials_are_refused_without_being_echoed() -> None:
    """Credentials in a URL would not be sent; the error says so and never shows the password."""
    llm = OllamaLLM()
    with pytest.raises(ConfigError) as caught:
        llm.initialize({"endpoint": "http://admin:hunter2pass@gpu-box:11434"})
    assert "hunter2pass" not in str(caught.value) and "admin" not in str(caught.value)
    assert "it holds credentials (user:password@), which are never sent" in str(caught.value)
    assert "'http://***@gpu-box:11434'" in str(caught.value)


def test_secret_reaches_the_request_header() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"message": {"role": "assistant", "content": "ok"}, "done": True})

    llm = OllamaLLM(transport=httpx.MockTransport(answer))
    llm.initialize({"api_key": KEY})
    try:
        assert llm.generate("hi") == "ok"
    finally:
        llm.close()
    assert seen == [f"Bearer {KEY}"]


# -- load_config -------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config_returns_the_llm_section_as_written(tmp_path: Path) -> None:
    """References are checked at load but expanded once, at initialize (secrets are not copied)."""
    path = _write(
        tmp_path,
        "orchestrator:\n  workers: 4\nllm:\n  type: ollama\n  model: ${MODEL:-qwen2.5-coder:32b}\n"
        "  api_url: http://${HOST}:11434\n  timeout: 30\n",
    )
    assert load_config(path, environ={"HOST": "gpu-box"}) == {
        "type": "ollama",
        "model": "${MODEL:-qwen2.5-coder:32b}",
        "api_url": "http://${HOST}:11434",
        "timeout": 30,
    }


def test_load_config_validates_expanded_values(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm:\n  timeout: ${T}\n")
    assert load_config(path, environ={"T": "30"}) == {"timeout": "${T}"}
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"T": "soon"})
    assert caught.value.problems == ("'soon' is not valid: expected a number @ $.llm.timeout",)


def test_load_config_type_may_come_from_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm:\n  type: ${LLM_TYPE:-ollama}\n  modle: x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == ("unknown key 'modle' (did you mean 'model'?) @ $.llm.modle",)
    with pytest.raises(PluginNotFoundError) as unknown:
        load_config(path, environ={"LLM_TYPE": "gpt-9"})
    assert unknown.value.llm_type == "gpt-9"


def test_load_config_file_without_llm_section_is_the_section(tmp_path: Path) -> None:
    path = _write(tmp_path, "model: llama3\ntemperature: 0.1\n")
    assert load_config(str(path), environ={}) == {"model": "llama3", "temperature": 0.1}


@pytest.mark.parametrize("text", ["", "\n# only a comment\n"])
def test_load_config_empty_file_is_an_error_not_the_defaults(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == f"configuration file {path} is empty: write an `llm:` section (`obra-llm init` writes an example)"


def test_load_config_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm:\n  model: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).startswith(f"configuration file {path} is not valid YAML: ")
    assert isinstance(caught.value.__cause__, Exception)


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == f"cannot read configuration file {path}: No such file or directory"
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_load_config_non_mapping_document(tmp_path: Path) -> None:
    path = _write(tmp_path, "- ollama\n- codex\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == f"configuration file {path} must hold a mapping, not list"


def test_load_config_non_mapping_llm_section(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm: ollama\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == f"the 'llm' section of {path} must be a mapping, not str"


def test_load_config_typo_fails_at_load_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm:\n  type: ollama\n  modle: llama3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == (
        f"invalid ollama configuration (from {path}):\n  - unknown key 'modle' (did you mean 'model'?) @ $.llm.modle"
    )


def test_load_config_typo_in_a_file_without_llm_section(tmp_path: Path) -> None:
    path = _write(tmp_path, "modle: llama3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == ("unknown key 'modle' (did you mean 'model'?) @ $.modle",)


def test_load_config_unknown_type(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm:\n  type: gpt-9\n")
    with pytest.raises(PluginNotFoundError) as caught:
        load_config(path, environ={})
    assert caught.value.llm_type == "gpt-9"


def test_load_config_missing_variable_names_the_key_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm:\n  model: ${OBRA_TEST_UNSET_MODEL}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == (
        "environment variable OBRA_TEST_UNSET_MODEL is not set "
        "(set it, or write ${OBRA_TEST_UNSET_MODEL:-default}) @ $.llm.model",
    )
    assert str(caught.value).startswith(f"invalid ollama configuration (from {path}):\n")


def test_load_config_reports_missing_variables_and_typos_at_once(tmp_path: Path) -> None:
    """One pass over the file reports every problem, as parse_settings does for a dict."""
    path = _write(tmp_path, "llm:\n  modle: llama3\n  system: ${OBRA_TEST_UNSET_SYSTEM}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == (
        "environment variable OBRA_TEST_UNSET_SYSTEM is not set "
        "(set it, or write ${OBRA_TEST_UNSET_SYSTEM:-default}) @ $.llm.system",
        "unknown key 'modle' (did you mean 'model'?) @ $.llm.modle",
    )


def test_load_config_keeps_an_escaped_dollar_literal(tmp_path: Path) -> None:
    """``$$`` is a literal ``$``: validating the file must not complain about the escaped reference."""
    path = _write(tmp_path, 'llm:\n  system: "literal $${OBRA_TEST_UNSET_LITERAL}"\n')
    assert load_config(path, environ={}) == {"system": "literal $${OBRA_TEST_UNSET_LITERAL}"}


def test_escaped_dollar_survives_load_config_then_create_llm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What load_config returns is what create_llm gets; ``$$`` must still mean a literal ``$``."""
    monkeypatch.setenv("OBRA_TEST_TWICE", "expanded-twice")
    path = _write(tmp_path, 'llm:\n  system: "keep $${OBRA_TEST_TWICE}"\n')
    sent: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.read()))
        return httpx.Response(200, json={"message": {"role": "assistant", "content": "ok"}, "done": True})

    config = load_config(path)
    llm = OllamaLLM(transport=httpx.MockTransport(answer))
    llm.initialize(config)
    try:
        llm.generate("hi")
    finally:
        llm.close()
    assert sent[0]["messages"][0] == {"role": "system", "content": "keep ${OBRA_TEST_TWICE}"}


def test_load_config_output_feeds_create_llm(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm:\n  type: ollama\n  api_url: http://127.0.0.1:9\n  model: m\n")
    llm = create_llm(load_config(path, environ={}))
    assert isinstance(llm, OllamaLLM)
    llm.close()
    assert repr(llm) == "OllamaLLM(model='m', endpoint='http://127.0.0.1:9')"
