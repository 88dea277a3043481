"""Configuration: attrs settings classes, one strict cattrs converter, YAML loading."""

from obra_llm.config.constraints import at_least, between, greater_than, one_of
from obra_llm.config.convert import converter, parse_settings, settings_keys
from obra_llm.config.expand import expand_env
from obra_llm.config.load import load_config
from obra_llm.config.secret import Secret
from obra_llm.config.settings import CommonSettings, RetrySettings

__all__ = [
    "CommonSettings",
    "RetrySettings",
    "Secret",
    "at_least",
    "between",
    "converter",
    "expand_env",
    "greater_than",
    "load_config",
    "one_of",
    "parse_settings",
    "settings_keys",
]
