"""The wheel a user installs: built from this checkout, run from outside it.

Built offline with the test environment's hatchling (``--no-build-isolation``), unpacked
into a folder that shadows the editable install, and run from an unrelated directory.
"""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from obra_llm.demo import DEMO_CONFIGS, RECORDING_FOLDERS, demo_recording
from obra_llm.recording.library import recordings_root
from tests.support.console import environment

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("obra_llm-*.whl")
    return built


def test_the_wheel_ships_the_demo_recordings_and_the_example_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    recordings = sorted(name for name in names if name.startswith("obra_llm/_recordings/"))
    root = recordings_root()
    expected = sorted(
        "obra_llm/_recordings/" + demo_recording(root, provider).relative_to(root).as_posix()
        for provider in DEMO_CONFIGS
        if provider not in RECORDING_FOLDERS
    )
    assert recordings == expected
    assert "obra_llm/_examples/config.yaml" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


def test_the_wheel_metadata_is_a_package_page(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (metadata_name,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
    metadata = email.message_from_bytes(archive.read(metadata_name))
    assert metadata["Requires-Python"] == ">=3.11"
    assert {"Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.13"} <= set(metadata.get_all("Classifier") or [])
    assert any(url.startswith("Homepage, https://") for url in metadata.get_all("Project-URL") or [])
    assert "vcrpy<10,>=9.4" in (metadata.get_all("Requires-Dist") or []), "the demo runs from a plain install"
    description = str(metadata.get_payload())
    assert "](docs/" not in description, "relative links break on the package page"


def test_the_installed_wheel_runs_the_demo_from_anywhere(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    program = "import sys, obra_llm; print(obra_llm.__file__, file=sys.stderr); from obra_llm.cli import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", program, "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=elsewhere,
        env=environment(tmp_path, PYTHONPATH=str(unpacked)),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(str(unpacked)), "the wheel's copy ran, not the checkout's"
    assert f"replayed offline from {unpacked / 'obra_llm' / '_recordings'}" in done.stdout
    rows = done.stdout.splitlines()[4:]
    assert len(rows) == len([name for name in DEMO_CONFIGS if name not in RECORDING_FOLDERS])
    assert all("SCORE: 8" in row for row in rows)
