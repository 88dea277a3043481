"""The public-API fault checks in ``revision_checks/`` pass on this revision (run as the scripts they are).

Each script prints one ``ok`` line per case; the count is pinned, so a case that is lost (or
a script that stops early) fails here as well as a case that fails. On 19bf5c7 each script
fails the cases ``docs/reliability.md`` lists ("Each class of issue 17 fails without its fix").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Each script (one class of issue 17, or a few) and its number of cases.
CHECKS = {
    "cli_prompt_and_key": 5,
    "http_deadlines": 12,
    "http_redirects": 30,
    "framing_speed": 5,
    "size_bounds": 5,
    "http_secrets": 47,
    "urls_and_models": 16,
    "config_abuse": 10,
    "metrics_counting": 10,
    "refused_parameters": 6,
}


def test_every_script_is_checked() -> None:
    scripts = {path.stem for path in (ROOT / "tests/faults/revision_checks").glob("*.py") if not path.stem.startswith("_")}
    assert scripts == set(CHECKS)


@pytest.mark.parametrize(("check", "cases"), list(CHECKS.items()), ids=list(CHECKS))
def test_the_revision_check_passes(check: str, cases: int) -> None:
    run = subprocess.run(
        [sys.executable, "-m", f"tests.faults.revision_checks.{check}"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )

    assert (run.returncode, run.stderr) == (0, ""), run.stdout
    lines = run.stdout.splitlines()
    assert [line for line in lines if not line.startswith("ok  ")] == [], run.stdout
    assert len(lines) == cases, run.stdout
