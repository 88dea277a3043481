"""The ``obra-llm`` command: list providers, check one, ask it something, count tokens, demo.

Errors are one line on stderr (a traceback only with ``--debug``). Exit codes: 0 success,
1 the provider failed (or is not usable, for ``check``), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from obra_llm.errors import ConfigError, LLMException
from obra_llm.protocol import GenerateOptions, LLMPlugin, SupportsClose, SupportsDiagnosis, provider_class
from obra_llm.registry import REGISTRY, configured_type, create_llm, load_config, lookup

__all__ = ["main"]

#: Looked for in the working directory when ``--config`` is not given.
DEFAULT_CONFIG = Path("config/config.yaml")
EXIT_OK, EXIT_PROVIDER, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except ConfigError as error:
        return _fail(args, error, EXIT_USAGE)
    except LLMException as error:
        return _fail(args, error, EXIT_PROVIDER)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obra-llm", description="The orchestrator's LLM, from the command line.")
    parser.add_argument("--config", type=Path, help=f"YAML config (default: {DEFAULT_CONFIG} if present, else built-in defaults)")
    parser.add_argument("--type", dest="llm_type", help="provider type, overriding the config's")
    parser.add_argument("--model", help="model, overriding the config's")
    parser.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    providers = commands.add_parser("providers", help="list every provider type and whether the configured one is available")
    providers.set_defaults(command=_providers)

    check = commands.add_parser("check", help="initialize the configured provider and say what works and what to fix")
    check.set_defaults(command=_check)

    generate = commands.add_parser("generate", help="send a prompt (argument, or - for stdin) and print the answer")
    generate.add_argument("prompt", help="the prompt, or - to read it from stdin")
    generate.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    generate.add_argument("--json", action="store_true", help="print answer, usage, latency and provider as JSON")
    generate.add_argument("--system", help="system prompt")
    generate.add_argument("--max-tokens", type=int, help="cap on the answer's tokens")
    generate.add_argument("--temperature", type=float, help="sampling temperature")
    generate.set_defaults(command=_generate)

    tokens = commands.add_parser("tokens", help="estimate the tokens of a text (argument, or - for stdin)")
    tokens.add_argument("text", help="the text, or - to read it from stdin")
    tokens.set_defaults(command=_tokens)

    demo = commands.add_parser("demo", help="replay the quality check through every recorded provider, offline")
    demo.set_defaults(command=_demo)
    return parser


# -- commands --------------------------------------------------------------------------


def _providers(args: argparse.Namespace) -> int:
    config = _config(args)
    configured = configured_type(config)
    for name, provider in REGISTRY.items():
        declared = provider_class(provider)
        kind = declared.kind if declared is not None else "?"
        status = ""
        if name == configured:
            status = "configured, " + ("available" if _available(config) else "NOT available (run `obra-llm check`)")
        print(f"{name:<14} {kind:<5} {status}".rstrip())
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    """Each step on its own line: ``ok`` or ``FAIL`` with the cause and the fix."""
    config = _config(args)
    llm_type = configured_type(config)
    try:
        llm = create_llm(config)
    except ConfigError as error:
        print(f"FAIL  configuration: {_one_line(error)}")
        return EXIT_USAGE
    except LLMException as error:
        print(f"FAIL  cannot start {llm_type}: {error.message}")
        return EXIT_PROVIDER
    try:
        print(f"ok    configuration: type {llm_type}, model {config.get('model') or '(provider default)'}")
        problem = _availability_problem(llm)
        if problem:
            print(f"FAIL  not usable: {problem}")
            return EXIT_PROVIDER
        print("ok    available")
        info = llm.get_model_info()
        context = info.get("context_length")
        print(f"ok    model info: {info.get('model_name') or '(default)'}, context length {context or 'unknown'}")
    finally:
        _close(llm)
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    prompt = _argument_or_stdin(args.prompt)
    options: GenerateOptions = {}
    if args.system is not None:
        options["system"] = args.system
    if args.max_tokens is not None:
        options["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        options["temperature"] = args.temperature
    llm = create_llm(_config(args))
    try:
        started = time.perf_counter()
        if args.stream and not args.json:
            for piece in llm.generate_stream(prompt, **options):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            return EXIT_OK
        with _spinner(sys.stderr, enabled=not args.stream):
            answer = "".join(llm.generate_stream(prompt, **options)) if args.stream else llm.generate(prompt, **options)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if args.json:
            metrics = llm.metrics
            print(
                json.dumps(
                    {
                        "answer": answer,
                        "provider": str(llm.get_model_info().get("provider")),
                        "usage": {
                            "prompt_tokens": metrics.get("prompt_tokens"),
                            "completion_tokens": metrics.get("completion_tokens"),
                            "total_tokens": metrics.get("total_tokens"),
                        },
                        "latency_ms": round(elapsed_ms, 1),
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(answer)
    finally:
        _close(llm)
    return EXIT_OK


def _tokens(args: argparse.Namespace) -> int:
    text = _argument_or_stdin(args.text)
    config = _config(args)
    llm = lookup(configured_type(config))()
    llm.initialize(config)
    try:
        print(llm.estimate_tokens(text))
    finally:
        _close(llm)
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from obra_llm.demo import run_demo
    from obra_llm.recording.library import recordings_root

    if not args.debug:
        logging.getLogger("obra_llm").setLevel(logging.ERROR)  # recorded CLI warnings are not news
    root = recordings_root()
    rows = run_demo(root)
    if not rows:
        print(f"no demo recordings found under {root}", file=sys.stderr)
        return EXIT_PROVIDER
    header = ("provider", "transport", "answer", "tokens", "latency", "recording")
    table = [
        (row.provider, row.transport, _first_line(row.answer), str(row.tokens), f"{row.latency_ms:.1f} ms", row.recording)
        for row in rows
    ]
    widths = [max(len(line[column]) for line in [header, *table]) for column in range(len(header))]
    print(f"Quality check, replayed offline from {root}:\n")
    for line in [header, tuple("-" * width for width in widths), *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return EXIT_OK


# -- helpers ---------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> dict[str, Any]:
    path: Path | None = args.config
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    config: dict[str, Any] = load_config(path) if path is not None else {}
    if args.llm_type and args.llm_type != configured_type(config):
        config = {"type": args.llm_type}  # another provider's keys would not fit it
    elif args.llm_type:
        config["type"] = args.llm_type
    if args.model:
        config["model"] = args.model
    return config


def _availability_problem(llm: LLMPlugin) -> str | None:
    if isinstance(llm, SupportsDiagnosis):
        return llm.availability_problem()
    return None if llm.is_available() else "is_available() returned False"


def _available(config: Mapping[str, Any]) -> bool:
    try:
        llm = create_llm(config)
    except (ConfigError, LLMException):
        return False
    try:
        return llm.is_available()
    finally:
        _close(llm)


def _close(llm: LLMPlugin) -> None:
    if isinstance(llm, SupportsClose):
        llm.close()


def _argument_or_stdin(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def _first_line(text: str, limit: int = 48) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _one_line(error: Exception) -> str:
    """An error's message on one line (a multi-problem ConfigError joins its problems)."""
    problems = getattr(error, "problems", None)
    if isinstance(problems, tuple) and len(problems) > 1:
        return "; ".join(str(problem) for problem in problems)
    return " ".join(str(error).split())


def _fail(args: argparse.Namespace, error: Exception, code: int) -> int:
    if args.debug:
        traceback.print_exc()
    lines = str(error).splitlines() or [type(error).__name__]
    print(f"obra-llm: error: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"obra-llm:   {line.strip()}", file=sys.stderr)
    return code


@contextmanager
def _spinner(stream: TextIO, *, enabled: bool) -> Iterator[None]:
    """Elapsed time on ``stream`` while waiting, only when it is a terminal."""
    if not enabled or not stream.isatty():
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def spin() -> None:
        frames = "|/-\\"
        tick = 0
        while not done.wait(0.1):
            stream.write(f"\r{frames[tick % 4]} waiting {time.monotonic() - started:5.1f} s")
            stream.flush()
            tick += 1
        stream.write("\r" + " " * 24 + "\r")
        stream.flush()

    thread = threading.Thread(target=spin, name="obra-llm-spinner", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
