"""Every registered CLI provider's declaration is complete: the demo, the recordings, the docs and
the fault suite read it, so a gap there would only show as a provider silently left out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from obra_llm.providers.cli_base import CliLLM
from obra_llm.registry import REGISTRY
from tests.faults.cli_kits import CLI_KITS

ROOT = Path(__file__).resolve().parents[2]
CLI_PROVIDERS = {name: cls for name, cls in sorted(REGISTRY.items()) if issubclass(cls, CliLLM)}


def test_there_are_cli_providers() -> None:
    assert "openai-codex" in CLI_PROVIDERS


@pytest.mark.parametrize("name", CLI_PROVIDERS)
def test_the_identity_names_its_registry_type_and_files_that_exist(name: str) -> None:
    cls: type[CliLLM[Any]] = CLI_PROVIDERS[name]
    identity = cls.identity

    assert identity is cls.wire_type.identity
    assert cls.settings_type is cls.wire_type.settings_type
    assert identity.name == name
    assert identity.demo_config.get("type") == name
    assert (ROOT / identity.docs).is_file()
    assert (ROOT / "cassettes" / "cli" / identity.replay_folder / "demo.json").is_file()
    assert all((identity.label, identity.tool, identity.binary, identity.install_hint, identity.auth_hint))
    assert repr(cls()) == f"{cls.__name__}(uninitialized)"  # no I/O in the constructor


@pytest.mark.parametrize("name", CLI_PROVIDERS)
def test_the_committed_transcripts_are_normalized_by_the_declared_rules(name: str) -> None:
    identity = CLI_PROVIDERS[name].identity
    transcripts = sorted((ROOT / "cassettes" / "cli" / identity.replay_folder).glob("*.json"))
    rules = [re.compile(pattern) for pattern, _ in identity.transcript_rules]

    leftovers = {
        path.name: rule.pattern
        for path in transcripts
        for rule in rules
        if any(rule.search(line["line"]) for line in json.loads(path.read_text(encoding="utf-8"))["stdout"])
    }

    assert transcripts
    assert leftovers == {}, "a transcript holds what a rule replaces: re-record it through a TranscriptRecorder given the rules"


@pytest.mark.parametrize("name", CLI_PROVIDERS)
def test_every_cli_provider_runs_the_shared_fault_suite(name: str) -> None:
    assert CLI_PROVIDERS[name] in {kit.provider_type for kit in CLI_KITS}, f"add a CliFaultKit for {name} to CLI_KITS"
