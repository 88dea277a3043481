"""The ``obra-llm`` argument parser: global options accepted before or after the command, did-you-mean errors."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from obra_llm._version import __version__

__all__ = ["GLOBAL_DEFAULTS", "UsageError", "build_parser", "option_strings", "subcommands"]

#: The global options' values when not given (they are parsed with SUPPRESS so that a
#: subcommand's copy never overwrites the value given before it).
GLOBAL_DEFAULTS: dict[str, Any] = {
    "config": None,
    "llm_type": None,
    "model": None,
    "base_url": None,
    "api_key_env": None,
    "json": False,
    "verbose": 0,
    "quiet": False,
    "debug": False,
}


class UsageError(Exception):
    """A command line argparse rejected, with the suggestion added; exit code 2."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """Raises ``UsageError`` (so ``--json`` can report it) and suggests the closest name."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message + _suggestion(self, message), self.format_usage())


def _suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        known = re.findall(r"'([^']*)'", choice.group(2))
        close = difflib.get_close_matches(choice.group(1), known, n=1, cutoff=0.5)
        return f" (did you mean {close[0]!r}?)" if close else ""
    unknown = re.search(r"unrecognized arguments: (\S+)", message)
    if unknown and unknown.group(1).startswith("-"):
        name = unknown.group(1).split("=", 1)[0]
        close = difflib.get_close_matches(name, sorted(set(option_strings(parser))), n=1, cutoff=0.6)
        return f" (did you mean {close[0]!r}?)" if close else ""
    return ""


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The command name -> parser map of ``parser`` (empty when it has no commands)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def option_strings(parser: argparse.ArgumentParser) -> Iterator[str]:
    """Every option string of ``parser`` and of its subcommands."""
    for action in parser._actions:
        yield from action.option_strings
    for sub in subcommands(parser).values():
        yield from option_strings(sub)


def _global_options() -> _Parser:
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    where = common.add_argument_group("configuration (flags overlay the file's values)")
    where.add_argument("--config", type=Path, metavar="PATH", help="YAML config file (default: see `obra-llm check`)")
    where.add_argument("--type", dest="llm_type", metavar="TYPE", help="provider type (case-insensitive)")
    where.add_argument("--model", help="model name")
    where.add_argument("--base-url", "--endpoint", dest="base_url", metavar="URL", help="server URL (the base_url key)")
    where.add_argument("--api-key-env", metavar="VAR", help="read the API key from environment variable VAR")
    output = common.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="one JSON object on stdout (JSON Lines with --stream)")
    output.add_argument("-v", "--verbose", action="count", help="show retries and decisions (-vv: obra_llm debug)")
    output.add_argument("-q", "--quiet", action="store_true", help="errors only")
    output.add_argument("--debug", action="store_true", help="debug logs of every library, and tracebacks")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; ``obra_llm.cli.app`` attaches each command's function."""
    common = _global_options()
    parser = _Parser(
        prog="obra-llm",
        description="The orchestrator's LLM, from the command line.",
        parents=[common],
        epilog="Run `obra-llm COMMAND --help` for a command's options; docs/cli.md documents them all.",
    )
    parser.add_argument("--version", action="version", version=f"obra-llm {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command_name", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, parents=[common])

    command("providers", "list every provider type and whether the configured one is available")
    command("check", "say which config is in use, initialize the provider, and say what works and what to fix")
    command("models", "list the models the configured server offers (a CLI provider: the configured one)")
    generate = command("generate", "send a prompt (argument, or - for stdin) and print the answer")
    generate.add_argument("prompt", help="the prompt, or - to read it from stdin")
    generate.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    generate.add_argument("--system", help="system prompt")
    generate.add_argument("--max-tokens", type=int, metavar="N", help="cap on the answer's tokens")
    generate.add_argument("--temperature", type=float, metavar="T", help="sampling temperature")
    generate.add_argument("--schema", metavar="FILE.json", help="answer with JSON conforming to this JSON Schema (printed validated)")
    tokens = command("tokens", "count the tokens of a text offline (argument, or - for stdin): no key, no binary")
    tokens.add_argument("text", help="the text, or - to read it from stdin")
    demo = command("demo", "replay the quality check through every recorded provider, offline")
    demo.add_argument("--live", action="store_true", help="ask a real model on this machine instead (scripts/install-llama.sh)")
    init = command("init", "write the example configuration (to --config PATH, else the user config folder)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    completion = command("completion", "print a shell completion script: eval \"$(obra-llm completion bash)\"")
    completion.add_argument("shell", choices=["bash", "zsh", "fish"])
    return parser
