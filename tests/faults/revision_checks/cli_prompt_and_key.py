"""Issue 17, items 9 and 5 (the CLI part), through ``create_llm`` and a fake Codex CLI only.

- item 9: a prompt with a lone surrogate is a clear error before any process starts, whole and
  streamed (19bf5c7: the stdin feeder thread died, the CLI read an empty prompt, the call "succeeded");
- item 5: a key the CLI prints (bare, base64, URL-encoded) shows in no error text (19bf5c7 quoted it).

Run as the package docstring says; exits 1 when any case fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
from functools import partial
from pathlib import Path

if not __package__:  # run as a file: this repository's tests come after the library on sys.path
    sys.path.append(str(Path(__file__).resolve().parents[3]))

import obra_llm
from tests.faults.revision_checks._loopback import FORMS, KEY, fake_cli, main, run_cases

FAKE_CODEX = '''import json, os, sys
if sys.argv[1:2] == ["--version"]:
    print("codex-cli 0.169.0"); sys.exit(0)
if sys.argv[1:3] == ["login", "status"]:
    print("Logged in using an API key"); sys.exit(0)
prompt = sys.stdin.read()
if os.environ.get("FAKE_PRINTS"):
    sys.stderr.write("error: request failed with key " + os.environ["FAKE_PRINTS"] + "\\n"); sys.exit(2)
for event in ({"type": "thread.started", "thread_id": "t-1"}, {"type": "turn.started"},
              {"type": "item.completed", "item": {"id": "i0", "type": "agent_message", "text": f"an answer to {len(prompt)} chars"}},
              {"type": "turn.completed", "usage": {"input_tokens": 3, "output_tokens": 5}}):
    print(json.dumps(event), flush=True)
'''


def _codex(fake: Path) -> obra_llm.LLMPlugin:
    return obra_llm.create_llm({"type": "openai-codex", "codex_command": str(fake), "retry_attempts": 1})


def _unencodable_prompt(fake: Path, streamed: bool) -> str | None:
    prompt = "rate this diff: caf\udce9"  # bytes decoded with errors="surrogateescape"
    try:
        answer = "".join(_codex(fake).generate_stream(prompt)) if streamed else _codex(fake).generate(prompt)
    except (obra_llm.ConfigError, obra_llm.LLMException):
        return None
    return f"the call succeeded with {answer!r}"


def _printed_key(fake: Path, form: str) -> str | None:
    os.environ["FAKE_PRINTS"] = FORMS[form]
    try:
        _codex(fake).generate("hi")
    except obra_llm.LLMException as error:
        shown = "\n".join([str(error), repr(error), *getattr(error, "__notes__", [])])
        return f"the key shows: {error}" if any(text in shown for text in FORMS.values()) else None
    finally:
        del os.environ["FAKE_PRINTS"]
    return "the call succeeded"


def check() -> dict[str, str | None]:
    """Every case's failure (``None``: ok), one after the other: the cases share the environment."""
    os.environ["OPENAI_API_KEY"] = KEY
    with tempfile.TemporaryDirectory() as folder:
        fake = fake_cli(folder, FAKE_CODEX)
        cases = {f"item 9, unencodable prompt, {kind}": partial(_unencodable_prompt, fake, kind == "streamed") for kind in ("whole", "streamed")}
        cases |= {f"item 5, key printed by the CLI, {form}": partial(_printed_key, fake, form) for form in FORMS}
        return run_cases(cases, parallel=1)


if __name__ == "__main__":
    sys.exit(main(check()))
