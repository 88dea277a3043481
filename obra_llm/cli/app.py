"""``main``: parse, set the log levels, run the command, and turn every failure into one message and an exit code."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence

from obra_llm.cli import ask, inspect, setup
from obra_llm.cli.output import emit_json, error_object, print_error
from obra_llm.cli.parser import GLOBAL_DEFAULTS, UsageError, build_parser
from obra_llm.cli.settings import type_suggestion
from obra_llm.cli.status import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROVIDER, EXIT_USAGE
from obra_llm.errors import ConfigError, LLMException, PluginNotFoundError

__all__ = ["COMMANDS", "main"]

COMMANDS: Mapping[str, Callable[[argparse.Namespace], int]] = {
    "providers": inspect.providers,
    "check": inspect.check,
    "models": inspect.models,
    "generate": ask.generate,
    "tokens": ask.tokens,
    "demo": setup.demo,
    "init": setup.init,
    "completion": setup.completion,
}
#: Optional imports a command may need, and what to install for each (never a traceback).
_INSTALL_HINTS: Mapping[str, str] = {
    "vcr": "pip install vcrpy",
    "socksio": "pip install 'httpx[socks]'",
    "yaml": "pip install PyYAML",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except UsageError as error:
        return _usage_failure(error, as_json="--json" in arguments)
    for name, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.command_name is None:
        parser.print_help()
        return EXIT_OK
    _configure_logging(args)
    try:
        return COMMANDS[args.command_name](args)
    except ask.PartialAnswer as partial:
        code = EXIT_INTERRUPTED if isinstance(partial.cause, KeyboardInterrupt) else EXIT_PROVIDER
        if args.json:
            emit_json(ask.partial_object(partial, code))
            return code
        return _fail(args, partial.cause, code, first_line=ask.explain_partial(partial))
    except UsageError as error:
        return _fail(args, error, EXIT_USAGE)
    except PluginNotFoundError as error:
        hint = type_suggestion(error.llm_type)
        return _fail(args, error, EXIT_USAGE, extra=(hint,) if hint else ())
    except ConfigError as error:
        return _fail(args, error, EXIT_USAGE)
    except LLMException as error:
        return _fail(args, error, EXIT_PROVIDER)
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing == "obra_llm" or not missing:
            raise
        install = _INSTALL_HINTS.get(missing, f"pip install {missing}")
        return _fail(args, error, EXIT_USAGE, first_line=f"the package {missing!r} is needed here but not installed: {install}")
    except KeyboardInterrupt as error:
        return _fail(args, error, EXIT_INTERRUPTED, first_line="interrupted")


def _configure_logging(args: argparse.Namespace) -> None:
    """``-q`` errors only, default warnings, ``-v`` obra_llm's retries and decisions, ``--debug`` every library."""
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.debug or args.verbose >= 2:
        level = logging.DEBUG
    elif args.verbose:
        level = logging.INFO
    else:
        level = logging.ERROR if args.quiet else logging.WARNING
    logging.getLogger("obra_llm").setLevel(level)


def _usage_failure(error: UsageError, *, as_json: bool) -> int:
    if as_json:
        emit_json({"ok": False, "error": error_object(error, EXIT_USAGE)})
    else:
        sys.stderr.write(error.usage)
        print(f"obra-llm: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def _fail(
    args: argparse.Namespace, error: BaseException, code: int, *, first_line: str | None = None, extra: tuple[str, ...] = ()
) -> int:
    if args.debug:
        traceback.print_exception(error)
    if args.json:
        described = error_object(error, code)
        if first_line:
            described["message"] = first_line
        emit_json({"ok": False, "error": described})
        return code
    if first_line:
        print(f"obra-llm: error: {first_line}", file=sys.stderr)
        for note in getattr(error, "__notes__", ()):
            print(f"obra-llm:   {note}", file=sys.stderr)
        return code
    print_error(error, extra=extra)
    return code
