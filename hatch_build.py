"""Wheel build hook: ship the demo's recordings (one per provider), not the test fixtures.

Every ``cassettes/<transport>/<provider>/demo.*`` goes to ``obra_llm/_recordings/``, where
``obra_llm.recording.library.recordings_root`` finds it in an installed wheel; a provider
that adds a demo recording needs no edit here. Editable installs read ``cassettes/`` in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DemoRecordingsHook(BuildHookInterface):
    """Adds the demo recordings to the wheel's ``force_include``."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        cassettes = Path(self.root, "cassettes")
        for recording in sorted(cassettes.glob("*/*/demo.*")):
            build_data["force_include"][str(recording)] = f"obra_llm/_recordings/{recording.relative_to(cassettes).as_posix()}"
