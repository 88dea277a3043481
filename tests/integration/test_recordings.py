"""Every committed recording says how it was made, holds no secret, and is replayed by a test."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes"
PROVIDER_TESTS = ROOT / "tests" / "providers"
RECORDINGS = sorted(path for path in CASSETTES.rglob("*") if path.suffix in {".yaml", ".json"})

#: Shapes a leaked credential or identity would have in a recording.
LEAKS = {
    "API key": re.compile(r"\bsk-(?!REDACTED)[A-Za-z0-9_-]{8,}"),
    "bearer token": re.compile(r"Bearer\s+(?!REDACTED)[A-Za-z0-9._-]{8,}", re.IGNORECASE),
    "auth header": re.compile(r"^\s*-?\s*(authorization|x-api-key|x-goog-api-key|cookie|set-cookie)\s*:", re.IGNORECASE | re.MULTILINE),
    "organization id": re.compile(r"\borg-(?!REDACTED)[A-Za-z0-9]{8,}"),
    "Google project": re.compile(r"\bprojects?[/ =]\d{4,}"),
    "key in URL": re.compile(r"[?&](key|api_key)=(?!REDACTED)[^&\s'\"]+"),
    "home directory": re.compile(r"/(home|Users)/(?!REDACTED)[^/\s\"']+/"),
}


def test_there_are_recordings() -> None:
    assert any(path.suffix == ".yaml" for path in RECORDINGS)
    assert any(path.suffix == ".json" for path in RECORDINGS)


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda path: str(path.relative_to(CASSETTES)))
def test_recording_holds_no_secret(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = {name: pattern.search(text) for name, pattern in LEAKS.items()}
    assert {name: match.group(0) for name, match in found.items() if match} == {}


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda path: str(path.relative_to(CASSETTES)))
def test_recording_states_its_provenance(path: Path) -> None:
    if path.suffix == ".yaml":
        provenance = yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]["provenance"]
        assert provenance["source"] in {"real-service", "real-server", "synthesized"}
        assert provenance["how"]
        if provenance["source"] == "real-server":
            assert provenance["how"].startswith("real server: ") and provenance["model"], "which server and model"
    else:
        provenance = json.loads(path.read_text(encoding="utf-8"))["provenance"]
        assert provenance["source"]
        assert provenance["tool_version"]
    assert provenance["recorded_at"]


def _cassette_names(module: Path) -> set[str]:
    """What a test module replays: its test function names and every ``cassette("name")`` mark (none if absent)."""
    names: set[str] = set()
    if not module.exists():
        return names  # a preset: only the contract suite records it
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            names.add(node.name)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cassette":
            names.update(arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str))
    return names


def test_every_http_cassette_is_replayed_by_a_test() -> None:
    shared = _cassette_names(PROVIDER_TESTS / "test_http_contract.py") | _cassette_names(PROVIDER_TESTS / "test_structured.py")
    orphans = [
        str(path.relative_to(CASSETTES))
        for folder in sorted((CASSETTES / "http").iterdir())
        for path in sorted(folder.glob("*.yaml"))
        if path.stem not in shared | _cassette_names(PROVIDER_TESTS / f"test_{folder.name}.py")
    ]
    assert orphans == [], "recordings no test replays (renamed or removed tests): delete them"
