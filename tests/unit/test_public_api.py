"""The package namespace: what ``import obra_llm`` offers, and what it does not load."""

from __future__ import annotations

import json
import subprocess
import sys

import obra_llm

ORCHESTRATOR_NAMES = (
    "LLMException",
    "LLMConnectionException",
    "LLMTimeoutException",
    "LLMResponseException",
    "PluginNotFoundError",
    "create_llm",
    "REGISTRY",
    "load_config",
    "RetryManager",
    "create_retry_manager_from_config",
)


def _isort_key(name: str) -> tuple[int, str]:
    """ruff RUF022 / isort order: CONSTANTS, then Classes, then functions; each case-sensitive."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted_as_written() -> None:
    assert obra_llm.__all__ == sorted(obra_llm.__all__, key=_isort_key)


def test_all_has_no_duplicates() -> None:
    assert len(set(obra_llm.__all__)) == len(obra_llm.__all__)


def test_every_exported_name_resolves() -> None:
    missing = [name for name in obra_llm.__all__ if not hasattr(obra_llm, name)]
    assert missing == []


def test_orchestrator_names_are_exported() -> None:
    assert [name for name in ORCHESTRATOR_NAMES if name not in obra_llm.__all__] == []


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import json, sys\n"
        "import obra_llm\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'tiktoken', 'yaml', 'vcr'})\n"
        "print(json.dumps(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []


def test_version_is_a_string() -> None:
    assert obra_llm.__version__ == "0.1.0"
