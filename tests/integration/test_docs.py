"""The documentation keeps up with the code: every config key of every provider is documented."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from obra_llm.registry import REGISTRY

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMON_SECTION = "Keys every provider accepts"


def sections(text: str) -> dict[str, str]:
    """The page's ``##`` sections by title (provider sections are titled `` `type` ``)."""
    parts = re.split(r"^## +(.+)$", text, flags=re.MULTILINE)
    return {title.strip().strip("`"): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


@pytest.mark.parametrize("llm_type", sorted(REGISTRY))
def test_every_settings_key_is_documented(llm_type: str) -> None:
    page = sections((DOCS / "configuration.md").read_text(encoding="utf-8"))
    assert llm_type in page, f"docs/configuration.md has no section for `{llm_type}`"
    documented = page[llm_type] + page[COMMON_SECTION]
    settings_type = getattr(REGISTRY[llm_type], "settings_type", None)
    assert settings_type is not None, f"{llm_type} declares no settings_type"
    missing = [field.name for field in attrs.fields(settings_type) if f"`{field.name}`" not in documented]
    assert missing == [], f"keys of {llm_type} not in docs/configuration.md: {missing}"


def test_readme_links_resolve() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", readme)
    assert targets, "the README links its docs"
    missing = [target for target in targets if not (DOCS.parent / target).exists()]
    assert missing == []
