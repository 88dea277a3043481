"""The pinned Claude Code connects to nothing but its base URL, as the provider runs it.

The probe (``tests/support/loopback_probe.py``) runs the real CLI through the provider under
strace inside ``unshare -n``: a network namespace with only loopback, so a regression is
seen (strace logs the attempt) without any packet leaving the machine. It needs root (CI runs
as root), ``unshare``, ``ip`` and ``strace``; without them it is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract.conftest import REPO

pytestmark = pytest.mark.contract

_TOOLS = ("unshare", "ip", "strace")
#: A connect() to an IPv4 or IPv6 address; Unix sockets are local by nature.
_INET = re.compile(r'connect\(\d+, \{sa_family=AF_INET6?, .*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")')


@pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in _TOOLS), reason="needs root, unshare, ip and strace"
)
def test_the_cli_connects_to_nothing_but_the_stub(claude_bin: str, claude_version: str, tmp_path: Path) -> None:
    trace = tmp_path / "connect.trace"
    script = f"ip link set lo up && exec {sys.executable} -m tests.support.loopback_probe {claude_bin} {trace}"

    command = ["unshare", "-n", "sh", "-c", script]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["Hello from the stub", "Hello from the stub"]
    targets = [next(address for address in match.groups() if address) for match in _INET.finditer(trace.read_text())]
    assert targets, "strace saw no connect(): the probe did not reach the stub"
    assert set(targets) <= {"127.0.0.1", "::1"}, targets
