"""scripts/contract-clis.sh, the step of scripts/test.sh that installs the pinned CLIs.

Without npm it must not stop the other tests locally (one line says what is skipped and how
to install it), and under CI it must fail. Run for real, with a PATH that has no npm.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What the script itself needs; npm deliberately left out.
_TOOLS = ("bash", "basename", "sed", "paste", "mkdir", "cat", "dirname")


@pytest.fixture
def path_without_npm(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in _TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def run(path: str, **env: str) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash
    return subprocess.run(
        [bash, str(REPO / "scripts" / "contract-clis.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": path, "HOME": str(REPO), **env},
        check=False,
    )


def test_without_npm_locally_one_line_says_what_is_skipped(path_without_npm: str) -> None:
    done = run(path_without_npm)
    assert done.returncode == 3
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    skipped = re.match(r"test\.sh: skipping the contract tests of the pinned CLIs \(([^)]*)\): ", line)
    assert skipped is not None, line
    assert {"claude", "codex", "gemini"} <= set(skipped.group(1).split(", "))
    assert line.endswith("npm is not on PATH (install Node.js >= 20 with npm, then rerun)")


def test_without_npm_under_ci_it_fails(path_without_npm: str) -> None:
    done = run(path_without_npm, CI="true")
    assert done.returncode == 1
    assert "are required under CI: npm is not on PATH" in done.stderr
