"""docs/cli.md keeps up with the parser: every command, flag, variable and exit code is in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from obra_llm.cli import status
from obra_llm.cli.app import COMMANDS
from obra_llm.cli.parser import build_parser, option_strings, subcommands
from obra_llm.config.discovery import ENV_VAR
from obra_llm.config.ecosystem import ECOSYSTEM_VARIABLES

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")


def test_every_command_is_documented() -> None:
    parser = build_parser()
    assert sorted(COMMANDS) == sorted(subcommands(parser))
    missing = [name for name in COMMANDS if f"| `{name}" not in PAGE]
    assert missing == []


def test_every_option_is_documented() -> None:
    missing = sorted({option for option in option_strings(build_parser()) if f"`{option}" not in PAGE})
    assert missing == []


@pytest.mark.parametrize("name", [name for name in dir(status) if name.startswith("EXIT_")])
def test_every_exit_code_is_documented(name: str) -> None:
    assert f"| {getattr(status, name)} |" in PAGE


def test_every_variable_is_documented() -> None:
    variables = {ENV_VAR, "OBRA_LLM_RECORDINGS", *(entry.variable for entries in ECOSYSTEM_VARIABLES.values() for entry in entries)}
    missing = sorted(variable for variable in variables if f"`{variable}`" not in PAGE)
    assert missing == []
