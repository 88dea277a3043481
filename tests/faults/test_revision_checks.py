"""The public-API fault checks in ``revision_checks/`` pass on this revision (run as the scripts they are)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("check", ["cli_prompt_and_key"])
def test_the_revision_check_passes(check: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", f"tests.faults.revision_checks.{check}"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )

    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.count("ok  ") == 5, run.stdout
