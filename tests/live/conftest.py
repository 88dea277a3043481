"""The pinned CLIs' fixtures, shared with the contract tier: the live tier drives the same binaries."""

from __future__ import annotations

from tests.contract.conftest import claude_bin, claude_version, codex_bin, codex_home, codex_version

__all__ = ["claude_bin", "claude_version", "codex_bin", "codex_home", "codex_version"]
