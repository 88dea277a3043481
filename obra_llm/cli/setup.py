"""``init``, ``completion`` and ``demo``: getting started, with nothing configured yet."""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import attrs

from obra_llm.cli.completion import completion_script
from obra_llm.cli.output import emit_json
from obra_llm.cli.status import EXIT_OK
from obra_llm.config.discovery import example_config, user_config_dir
from obra_llm.errors import ConfigError, LLMConnectionException

__all__ = ["completion", "demo", "init"]


def init(args: argparse.Namespace) -> int:
    """Copy the commented example configuration where ``obra-llm`` will find it."""
    target: Path = args.config.expanduser() if args.config else user_config_dir() / "config.yaml"
    if target.exists() and not args.force:
        msg = f"{target} already exists: edit it, or pass --force to replace it with the example"
        raise ConfigError(msg)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(example_config(), target)
    if args.json:
        emit_json({"ok": True, "written": str(target)})
    else:
        print(f"wrote {target}: edit `type` and `model`, then run `obra-llm check`")
    return EXIT_OK


def completion(args: argparse.Namespace) -> int:
    """Print the completion script for ``args.shell``."""
    from obra_llm.cli.parser import build_parser

    print(completion_script(build_parser(), args.shell))
    return EXIT_OK


def demo(args: argparse.Namespace) -> int:
    """Replay the quality check through every provider that has a demo recording, as a table.

    ``--live`` asks it of a real model on this machine instead (llama-server, started and stopped here).
    """
    from obra_llm.demo import run_demo, run_live_demo
    from obra_llm.llama_server import LlamaServerError
    from obra_llm.recording.library import recordings_root

    if not args.debug and args.verbose < 2:
        logging.getLogger("obra_llm").setLevel(logging.ERROR)  # recorded CLI warnings are not news
    if args.live:
        try:
            source, rows = run_live_demo()
        except LlamaServerError as error:
            raise LLMConnectionException(str(error), provider="llama-server", retryable=False) from error
        title = f"Quality check, asked of a real model on this machine ({source.removeprefix('real server: ')}):"
    else:
        root = recordings_root()
        rows = run_demo(root)
        if not rows:
            msg = f"no demo recordings found under {root} (set OBRA_LLM_RECORDINGS to the folder that has them)"
            raise ConfigError(msg)
        source, title = str(root), f"Quality check, replayed offline from {root}:"
    if args.json:
        emit_json(
            {
                "ok": True,
                "recordings": source,
                "rows": [attrs.asdict(row) | {"latency_ms": round(row.latency_ms, 1)} for row in rows],
            }
        )
        return EXIT_OK
    header = ("provider", "transport", "answer", "tokens", "latency", "recording")
    table = [
        (row.provider, row.transport, _first_line(row.answer), str(row.tokens), f"{row.latency_ms:.1f} ms", row.recording)
        for row in rows
    ]
    widths = [max(len(line[column]) for line in [header, *table]) for column in range(len(header))]
    print(f"{title}\n")
    for line in [header, tuple("-" * width for width in widths), *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return EXIT_OK


def _first_line(text: str, limit: int = 48) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
