"""The documentation keeps up with the code: every config key of every provider is documented."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from obra_llm.config.settings import CommonSettings
from obra_llm.demo import RECORDING_FOLDERS
from obra_llm.providers.http_wire import HttpSettings
from obra_llm.registry import REGISTRY

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Provider pages (under docs/) that are not ``providers/<type>.md``.
PAGES = {"openai-codex": "providers/codex.md", "fallback": "fallback.md"}


#: The page of the OpenAI-compatible presets, which have no page of their own.
COMPATIBLE_PAGE = DOCS / "providers" / "openai-compatible.md"


def provider_page(llm_type: str) -> Path:
    name = RECORDING_FOLDERS.get(llm_type, llm_type)
    own = DOCS / PAGES.get(name, f"providers/{name}.md")
    return own if own.exists() else COMPATIBLE_PAGE


@pytest.mark.parametrize("common", [CommonSettings, HttpSettings], ids=["every provider", "every HTTP provider"])
def test_common_keys_are_in_the_configuration_page(common: type[CommonSettings]) -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [field.name for field in attrs.fields(common) if f"| `{field.name}` |" not in page]
    assert missing == []


@pytest.mark.parametrize("llm_type", sorted(REGISTRY))
def test_a_provider_without_a_page_has_a_section_on_the_compatible_page(llm_type: str) -> None:
    if provider_page(llm_type) == COMPATIBLE_PAGE:
        assert f"`type: {llm_type}`" in COMPATIBLE_PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize("llm_type", sorted(REGISTRY))
def test_every_provider_key_is_on_its_page(llm_type: str) -> None:
    page = provider_page(llm_type)
    assert page.exists(), f"{llm_type} has no page {page.relative_to(DOCS.parent)}"
    text = page.read_text(encoding="utf-8")
    settings_type = getattr(REGISTRY[llm_type], "settings_type", None)
    assert settings_type is not None, f"{llm_type} declares no settings_type"
    common = {field.name for field in attrs.fields(HttpSettings)}
    missing = [
        field.name for field in attrs.fields(settings_type) if field.name not in common and f"`{field.name}`" not in text
    ]
    assert missing == [], f"keys of {llm_type} not documented in {page.name}: {missing}"


def test_configuration_page_links_every_provider_page() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for llm_type in REGISTRY:
        assert f"({provider_page(llm_type).relative_to(DOCS).as_posix()})" in text, llm_type


#: The README is also the package page, where only absolute links work: they point at the repository.
REPOSITORY_FILES = "https://github.com/obra-llm/obra_llm/blob/main/"


def test_readme_links_are_absolute_and_resolve() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", readme)
    assert targets, "the README links its docs"
    relative = [target for target in targets if "://" not in target]
    assert relative == [], "relative links break on the package page"
    missing = [target for target in targets if not (DOCS.parent / target.removeprefix(REPOSITORY_FILES)).exists()]
    assert missing == []
