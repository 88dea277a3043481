"""config/default_config.yaml (the example) and config/config.yaml (the checkout's) load, and agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from obra_llm.registry import REGISTRY, load_config, validate_config

CONFIG = Path(__file__).resolve().parents[2] / "config"
#: Every variable the commented blocks reference, set so that they validate.
ENVIRON = {name: "set-for-the-test" for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MISTRAL_API_KEY", "GEMINI_API_KEY", "COHERE_API_KEY")}


def commented_blocks(path: Path) -> list[dict[str, object]]:
    """Each commented-out ``# llm:`` block of ``path``, uncommented and parsed."""
    blocks, current = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# llm:"):
            current = ["llm:"]
            blocks.append(current)
        elif current is not None and line.startswith("#   "):
            current.append(line[2:])
        else:
            current = None
    return [yaml.safe_load("\n".join(block))["llm"] for block in blocks]


@pytest.mark.parametrize("name", ["default_config.yaml", "config.yaml"])
def test_each_file_loads(name: str) -> None:
    assert load_config(CONFIG / name)["type"] == "ollama"


@pytest.mark.parametrize("name", ["default_config.yaml", "config.yaml"])
def test_every_commented_block_is_a_valid_configuration(name: str) -> None:
    blocks = commented_blocks(CONFIG / name)
    assert blocks, f"{name} shows other providers"
    for block in blocks:
        assert block["type"] in REGISTRY
        validate_config(block, environ=ENVIRON, source=f"a commented block of {name}")


def test_the_two_files_configure_the_same_provider() -> None:
    assert load_config(CONFIG / "config.yaml") == load_config(CONFIG / "default_config.yaml")


def test_each_block_names_the_key_variable_its_provider_page_documents() -> None:
    for block in commented_blocks(CONFIG / "default_config.yaml"):
        reference = re.fullmatch(r"\$\{([A-Z_]+)\}", str(block.get("api_key", "")))
        if reference:
            page = CONFIG.parent / "docs" / "providers" / f"{block['type']}.md"
            assert reference.group(1) in page.read_text(encoding="utf-8"), (block["type"], reference.group(1))
