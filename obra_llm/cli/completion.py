"""Shell completion scripts for bash, zsh and fish, generated from the parser itself.

Generated rather than written by hand, so a new command or flag completes without an edit.
"""

from __future__ import annotations

import argparse
import shlex

from obra_llm.cli.parser import subcommands
from obra_llm.registry import REGISTRY

__all__ = ["completion_script"]

_VALUED_TYPES = "--type"


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted({option for action in parser._actions for option in action.option_strings if option.startswith("--")})


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {choice.dest: choice.help or "" for choice in action._choices_actions}
    return {}


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The script that completes ``obra-llm``'s commands, options and ``--type`` values in ``shell``."""
    if shell == "fish":
        return _fish(parser)
    bash = _bash(parser)
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + bash
    return bash


def _bash(parser: argparse.ArgumentParser) -> str:
    commands = subcommands(parser)
    cases = "\n".join(
        f"        {name}) words={shlex.quote(' '.join(_options(sub)))} ;;" for name, sub in commands.items()
    )
    top = " ".join([*commands, *_options(parser)])
    return f"""_obra_llm() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" command="" words word
    if [ "$prev" = "{_VALUED_TYPES}" ]; then
        COMPREPLY=($(compgen -W {shlex.quote(' '.join(REGISTRY))} -- "$cur"))
        return
    fi
    for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
        case " {' '.join(commands)} " in *" $word "*) command="$word"; break ;; esac
    done
    case "$command" in
{cases}
        *) words={shlex.quote(top)} ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F _obra_llm obra-llm"""


def _fish(parser: argparse.ArgumentParser) -> str:
    commands = subcommands(parser)
    helps = _helps(parser)
    listed = " ".join(commands)
    lines = [
        f"complete -c obra-llm -n 'not __fish_seen_subcommand_from {listed}' -f -a {name} -d {shlex.quote(helps.get(name, ''))}"
        for name in commands
    ]
    lines.append(f"complete -c obra-llm -l type -x -a {shlex.quote(' '.join(REGISTRY))}")
    for name, sub in commands.items():
        lines += [
            f"complete -c obra-llm -n '__fish_seen_subcommand_from {name}' -l {option[2:]}" for option in _options(sub)
        ]
    lines += [f"complete -c obra-llm -n 'not __fish_seen_subcommand_from {listed}' -l {option[2:]}" for option in _options(parser)]
    return "\n".join(lines)
