"""Run the real ``claude`` through the provider under ``strace``, against the local Messages stub.

``tests/contract/test_claude_code_network.py`` starts this inside ``unshare -n`` (a network
namespace holding only ``lo``), so whatever the CLI tries beyond loopback cannot leave the
machine; strace records every ``connect()`` it makes for the test to check. Once with an API
key, once with a subscription token (``CLAUDE_CODE_OAUTH_TOKEN``); prints both answers.

Usage: python -m tests.support.loopback_probe CLAUDE_BINARY TRACE_FILE
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence

from obra_llm.providers.claude_code import ClaudeCodeCLI
from obra_llm.transports.process import RunItems, SubprocessRunner
from tests.support.anthropic_wire import DEFAULT_KEY
from tests.support.claude_code_stub import ClaudeCodeStub


class StracedRunner(SubprocessRunner):
    """Runs every command under ``strace -f -e trace=connect``, appending to ``trace``."""

    def __init__(self, trace: str) -> None:
        super().__init__()
        self._trace = trace

    def run(
        self, argv: Sequence[str], *, stdin: str, timeout: float, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> RunItems:
        traced = ["strace", "-f", "-qq", "-e", "trace=connect", "-A", "-o", self._trace, *argv]
        return super().run(traced, stdin=stdin, timeout=timeout, cwd=cwd, env=env)


def main(binary: str, trace: str) -> None:
    with ClaudeCodeStub() as stub, tempfile.TemporaryDirectory() as home:
        os.environ.update({"HOME": home, "ANTHROPIC_BASE_URL": stub.url})
        for credential in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"):
            os.environ.pop("ANTHROPIC_API_KEY", None)
            os.environ[credential] = DEFAULT_KEY
            llm = ClaudeCodeCLI(runner=StracedRunner(trace))
            llm.initialize({"claude_command": binary, "model": "claude-sonnet-4-5", "retry_attempts": 1, "timeout": 60})
            print(llm.generate(f"loopback probe with {credential}"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
