"""``generate``: send a prompt, print the answer (streamed, or as JSON / JSON Lines)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from obra_llm.cli.inspect import close
from obra_llm.cli.output import emit_json, error_object, spinner
from obra_llm.cli.parser import UsageError
from obra_llm.cli.settings import Resolved, resolve
from obra_llm.cli.status import EXIT_OK
from obra_llm.errors import LLMException, LLMTimeoutException
from obra_llm.protocol import GenerateOptions, LLMPlugin, offline_counter
from obra_llm.registry import create_llm, lookup

__all__ = ["PartialAnswer", "explain_partial", "generate", "partial_object", "read_text", "tokens"]


class PartialAnswer(Exception):
    """A stream that failed (or was interrupted) after printing part of the answer.

    Carries the cause and what was printed, so the message can say so honestly and the
    JSON Lines output can end with the error object.
    """

    def __init__(self, cause: BaseException, received: str) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.received = received


def read_text(value: str, what: str) -> str:
    """The argument, or stdin for ``-``; an empty one is a usage error, not a silent empty call."""
    text = sys.stdin.read() if value == "-" else value
    if not text.strip():
        source = "stdin" if value == "-" else "the argument"
        msg = f"the {what} is empty ({source}): give some text, or - to read it from stdin"
        raise UsageError(msg, "")
    return text


def generate(args: argparse.Namespace) -> int:
    """One call; ``--stream`` prints pieces as they come, ``--json`` describes the call."""
    prompt = read_text(args.prompt, "prompt")
    resolved = resolve(args)
    options = _options(args)
    llm = create_llm(resolved.config)
    try:
        started = time.perf_counter()
        if args.stream:
            answer = _stream(llm, prompt, options, as_json=args.json)
        else:
            with spinner(sys.stderr, enabled=not args.json):
                answer = llm.generate(prompt, **options)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if args.json:
            emit_json(_described(answer, resolved, llm, elapsed_ms))
        elif not args.stream:
            print(answer)
    finally:
        close(llm)
    return EXIT_OK


def _stream(llm: LLMPlugin, prompt: str, options: GenerateOptions, *, as_json: bool) -> str:
    """Pieces to stdout as they arrive (a spinner until the first); the whole answer returned."""
    pieces: list[str] = []
    try:
        with spinner(sys.stderr, enabled=not as_json) as stop_spinner:
            for piece in llm.generate_stream(prompt, **options):
                stop_spinner()
                pieces.append(piece)
                if as_json:
                    emit_json({"piece": piece})
                else:
                    sys.stdout.write(piece)
                    sys.stdout.flush()
    except (LLMException, KeyboardInterrupt) as error:
        if pieces:
            if not as_json:
                sys.stdout.write("\n")  # the message starts on its own line, not after the partial answer
                sys.stdout.flush()
            raise PartialAnswer(error, "".join(pieces)) from error
        raise
    if not as_json:
        sys.stdout.write("\n")
    return "".join(pieces)


def explain_partial(partial: PartialAnswer) -> str:
    """The honest first line for a stream cut short: it did answer, then stopped."""
    received = len(partial.received)
    if isinstance(partial.cause, KeyboardInterrupt):
        return f"interrupted after {received} characters of the answer"
    if isinstance(partial.cause, LLMTimeoutException):
        return f"the stream stalled after {received} characters of the answer: {partial.cause}"
    return f"the stream failed after {received} characters of the answer: {partial.cause}"


def partial_object(partial: PartialAnswer, exit_code: int) -> dict[str, Any]:
    """The last JSON Lines object of a stream cut short."""
    return {"ok": False, "partial_answer": partial.received, "error": error_object(partial.cause, exit_code)}


def _options(args: argparse.Namespace) -> GenerateOptions:
    options: GenerateOptions = {}
    if args.system is not None:
        options["system"] = args.system
    if args.max_tokens is not None:
        options["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        options["temperature"] = args.temperature
    if args.schema is not None:
        options["json_schema"] = _schema(args.schema)
    return options


def _schema(path: str) -> dict[str, Any]:
    """The JSON Schema in ``path``; unreadable or not a JSON object is a usage error naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            schema = json.load(handle)
    except OSError as error:
        raise UsageError(f"--schema {path}: cannot read it ({error.strerror})", "") from error
    except ValueError as error:
        raise UsageError(f"--schema {path}: not JSON ({error})", "") from error
    if not isinstance(schema, dict):
        raise UsageError(f"--schema {path}: a JSON Schema is a JSON object, not {type(schema).__name__}", "")
    return schema


def _described(answer: str, resolved: Resolved, llm: LLMPlugin, elapsed_ms: float) -> dict[str, Any]:
    """The call as a script wants it, from what is already known: nothing more is sent."""
    metrics = llm.metrics
    return {
        "ok": True,
        "answer": answer,
        "provider": resolved.llm_type,
        "model": resolved.model(),
        "usage": {
            "prompt_tokens": metrics.get("prompt_tokens"),
            "completion_tokens": metrics.get("completion_tokens"),
            "total_tokens": metrics.get("total_tokens"),
        },
        "retries": metrics.get("retries"),
        "latency_ms": round(elapsed_ms, 1),
    }


def tokens(args: argparse.Namespace) -> int:
    """The provider's own offline estimate for the configured model: no key, no binary needed."""
    text = read_text(args.text, "text")
    resolved = resolve(args)
    counter = offline_counter(lookup(resolved.llm_type))
    if counter is not None:
        count = counter.count_tokens(text, resolved.config)
    else:  # a plugin that can only estimate once initialized
        llm = create_llm(resolved.config)
        try:
            count = llm.estimate_tokens(text)
        finally:
            close(llm)
    if args.json:
        emit_json({"ok": True, "tokens": count, "provider": resolved.llm_type, "model": resolved.model()})
    else:
        print(count)
    return EXIT_OK
