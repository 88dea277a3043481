"""Configuration: attrs settings classes, one strict cattrs converter, YAML loading."""

from obra_llm.config.constraints import at_least, between, greater_than, one_of
from obra_llm.config.convert import converter, parse_settings, settings_keys
from obra_llm.config.expand import expand_env
from obra_llm.config.load import LlmSection, read_llm_section
from obra_llm.config.secret import Secret
from obra_llm.config.settings import CommonSettings, RetrySettings

__all__ = [
    "CommonSettings",
    "LlmSection",
    "RetrySettings",
    "Secret",
    "at_least",
    "between",
    "converter",
    "expand_env",
    "greater_than",
    "read_llm_section",
    "one_of",
    "parse_settings",
    "settings_keys",
]
