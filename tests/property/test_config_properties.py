"""Any configuration mapping gives a working provider or a ``ConfigError``, never anything else.

Configs are drawn from the real settings keys of every registered provider plus junk
keys (misspellings, non-string keys), with values of every type YAML can produce: None,
booleans, huge integers, nan and inf, dates, ``${VAR}`` references set and unset, nested
lists and mappings. Each type in ``REGISTRY`` is covered as it is registered.

Providers are built through ``create_llm`` with a registry whose classes get test seams:
a dummy API key per provider in ``environ`` (so the key check passes and the other keys
are what is judged), and, for the Codex CLI, a ``which`` that finds an executable when
the configured command is not on PATH (a missing binary is a connection error, by design).
"""

from __future__ import annotations

import datetime
import inspect
import shutil
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, cast

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obra_llm.config.convert import parse_settings, settings_keys
from obra_llm.config.secret import Secret
from obra_llm.errors import ConfigError
from obra_llm.protocol import LLMPlugin
from obra_llm.providers.cli_base import CliLLM
from obra_llm.registry import REGISTRY, create_llm, validate_config
from tests.support.leaks import no_leaks

#: One dummy key per variable the providers read; no call is ever made.
KEYS_ENVIRON = {
    name: f"dummy-{name.lower()}"
    for name in (
        "OPENAI_API_KEY",
        "CODEX_API_KEY",
        "ANTHROPIC_API_KEY",
        "COHERE_API_KEY",
        "CO_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "MISTRAL_API_KEY",
    )
}
#: What ``${VAR}`` references expand against in ``parse_settings`` (``create_llm`` uses ``os.environ``).
EXPANSION_ENVIRON = {"HOME": "/home/obra", "SET_NUMBER": "7", "SET_EMPTY": "", **KEYS_ENVIRON}

TYPES = sorted(REGISTRY)
def _settings_type(cls: type[LLMPlugin]) -> Any:
    found = getattr(cls, "settings_type", None)
    assert found is not None, f"{cls.__name__} has no settings_type"
    return found


REAL_KEYS = sorted({key for cls in REGISTRY.values() for key in settings_keys(_settings_type(cls))} | {"api_url"})
JUNK_KEYS: list[Any] = ["", "modle", "timeout ", "TYPE", "${HOME}", "retry", "llm", 0, -1, 1.5, None, True]

STRINGS = [
    "",
    " ",
    "${HOME}",
    "${SET_NUMBER}",
    "${SET_EMPTY}",
    "${OBRA_LLM_PROPERTY_UNSET}",
    "${OBRA_LLM_PROPERTY_UNSET:-3}",
    "${OBRA_LLM_PROPERTY_UNSET:-}",
    "$$",
    "${",
    "${1BAD}",
    "1.5",
    " 42 ",
    "-1",
    "nan",
    "inf",
    "1e309",
    "true",
    "off",
    "gpt-5",
    "qwen2.5-coder:32b",
    "read-only",
    "full-auto",
    "suggest",
    "http://127.0.0.1:1",
    "https://example.invalid/v1/",
    "not a url",
    "http://[::1",
    "ftp://x",
    "\x00",
    "Zürich→東京🙂",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=10),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e-320, 1e308]),
    st.sampled_from(STRINGS),
    st.text(max_size=12),
    st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2100, 1, 1)),
)
values = st.sampled_from(STRINGS) | st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(REAL_KEYS) | st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
keys = st.sampled_from(REAL_KEYS) | st.sampled_from(JUNK_KEYS) | st.text(max_size=8)
junk_types = st.sampled_from(["", "OLLAMA", "openai_codex", "${OBRA_LLM_PROPERTY_UNSET}", "${SET_NUMBER}"]) | scalars


def plausible(kind: Any) -> st.SearchStrategy[Any]:
    """Values of roughly the declared type ``kind`` (out-of-range, ``${VAR}`` and huge ones included)."""
    members = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    options: list[st.SearchStrategy[Any]] = []
    for member in members:
        origin = typing.get_origin(member) or member
        if member is type(None):
            options.append(st.none())
        elif member is bool:
            options.append(st.booleans())
        elif member is int:
            options.append(st.integers(min_value=-5, max_value=10**6) | st.integers())
        elif member is float:
            options.append(st.floats(min_value=-1, max_value=1000) | st.floats())
        elif member is str or member is Secret:
            options.append(st.sampled_from(STRINGS) | st.text(max_size=12))
        elif origin is dict:
            options.append(st.dictionaries(st.text(max_size=6), scalars, max_size=3))
        elif origin is list:
            options.append(st.lists(st.sampled_from(STRINGS) | st.text(max_size=6), max_size=3))
        else:
            options.append(values)
    return st.one_of(options)


@st.composite
def configs(draw: st.DrawFn) -> dict[Any, Any]:
    """A config aimed at one provider: some of its keys with plausible values, sometimes junk.

    ``type`` is that provider's name, or left out (the default type), or junk.
    """
    llm_type = draw(st.sampled_from(TYPES))
    fields = {field.name: field.type for field in attrs.fields(_settings_type(REGISTRY[llm_type]))}
    config: dict[Any, Any] = {}
    if draw(st.booleans()):
        config["model"] = draw(st.sampled_from(["gpt-5", "claude-sonnet-4-5", "qwen2.5-coder:32b", "m"]))
    for name in draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=5)):
        config[name] = draw(plausible(fields[name]) | plausible(fields[name]) | values)
    if draw(st.integers(0, 3)) == 0:
        config.update(draw(st.dictionaries(keys, values, min_size=1, max_size=2)))
    kind = draw(st.integers(0, 4))
    if kind == 1:
        config["type"] = draw(junk_types)
    elif kind > 1:
        config["type"] = llm_type
    return config


def _which(name: str) -> str | None:
    """``shutil.which``, falling back to this interpreter: the property is about config, not PATH."""
    return shutil.which(name) or sys.executable


def _seamed(cls: type[LLMPlugin]) -> type[LLMPlugin]:
    """``cls`` whose no-argument constructor passes the test seams it accepts."""
    parameters = inspect.signature(cls).parameters
    open_ended = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values())
    seams: dict[str, Any] = {}
    if open_ended or "environ" in parameters:
        seams["environ"] = KEYS_ENVIRON
    if "which" in parameters or issubclass(cls, CliLLM):
        seams["which"] = _which
    base_init: Callable[..., None] = cls.__init__

    def __init__(self: Any) -> None:
        base_init(self, **seams)

    return cast("type[LLMPlugin]", type(f"Seamed{cls.__name__}", (cls,), {"__init__": __init__}))


SEAMED_REGISTRY: Mapping[str, type[LLMPlugin]] = {name: _seamed(cls) for name, cls in REGISTRY.items()}

PROPERTY_SETTINGS = settings(
    max_examples=250,
    deadline=None,  # the first example pays for imports and encodings
    database=None,  # nothing written into the work tree
    suppress_health_check=[HealthCheck.too_slow],
)


def _close(llm: LLMPlugin) -> None:
    close = getattr(llm, "close", None)
    if callable(close):
        close()


def _check_working(llm: LLMPlugin) -> None:
    """A provider that initialized must answer its offline questions without raising."""
    assert isinstance(repr(llm), str)
    assert llm.metrics["calls"] == 0
    assert llm.estimate_tokens("hello, world") >= 1


def _create(config: Mapping[Any, Any]) -> LLMPlugin | ConfigError:
    """The provider, or the ``ConfigError`` that refused the config."""
    try:
        return create_llm(config, registry=SEAMED_REGISTRY)
    except ConfigError as error:
        assert error.problems, "a ConfigError must list its problems"
        return error


def test_create_llm_gives_a_working_provider_or_a_config_error() -> None:
    @PROPERTY_SETTINGS
    @given(config=configs())
    def check(config: dict[Any, Any]) -> None:
        outcome = _create(config)
        if isinstance(outcome, ConfigError):
            return
        try:
            _check_working(outcome)
            # What create_llm accepts, the file loader's validation must accept too.
            validate_config(config, registry=SEAMED_REGISTRY)
        finally:
            _close(outcome)

    with no_leaks():  # every provider built was closed: no client, socket or thread left
        check()


def test_parse_settings_gives_settings_or_a_config_error() -> None:
    @PROPERTY_SETTINGS
    @given(llm_type=st.sampled_from(TYPES), config=st.dictionaries(keys, values, max_size=6) | configs())
    def check(llm_type: str, config: dict[Any, Any]) -> None:
        settings_type = _settings_type(REGISTRY[llm_type])
        try:
            parsed = parse_settings(settings_type, config, provider=llm_type, environ=EXPANSION_ENVIRON)
        except ConfigError as error:
            assert error.problems
            assert all(" @ $." in problem for problem in error.problems), error.problems
            return
        assert isinstance(parsed, settings_type)

    check()


@pytest.mark.parametrize("config", [[("model", "m")], "model: m", None, 42], ids=["pairs", "yaml-text", "none", "int"])
def test_a_config_that_is_not_a_mapping_is_a_config_error(config: Any) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        create_llm(config, registry=SEAMED_REGISTRY)


@pytest.mark.parametrize("url", ["http://[::1", "http://host:port"], ids=["open-bracket", "named-port"])
def test_an_unparseable_base_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        create_llm({"type": "ollama", "endpoint": url}, registry=SEAMED_REGISTRY)


@pytest.mark.parametrize(
    ("llm_type", "key"), [("ollama", "api_key"), ("openai", "api_key"), ("openai", "organization")], ids=lambda v: str(v)
)
def test_a_non_ascii_header_value_is_a_config_error(llm_type: str, key: str) -> None:
    if llm_type not in REGISTRY:
        pytest.skip(f"{llm_type} is not registered")
    with pytest.raises(ConfigError):
        create_llm({"type": llm_type, "model": "m", key: "sk-\u00e9t\u00e9"}, registry=SEAMED_REGISTRY)
