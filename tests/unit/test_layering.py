"""Call paths run one way: no module of obra_llm imports a module of a layer above its own.

(``config/`` never imports the registry, ``transports/`` never a provider or the package root.)

The layers, lowest first. A module may import its own layer and the ones below it;
``TYPE_CHECKING`` imports count too (a type that points upward is a dependency that does).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "obra_llm"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("_version", "errors"),
    ("config",),
    ("protocol", "redaction", "scoped", "metrics", "retry", "tokens"),
    ("options", "calls", "structured"),
    ("transports",),
    ("recording",),
    ("providers",),
    ("registry", "fallback"),  # a chain is built from the registry, which lists it
    ("demo_prompts", "llama_server", "demo"),
    ("cli",),
    ("__init__",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _layer(module: str) -> str:
    """``obra_llm.transports.endpoint`` -> ``transports``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "obra_llm":
            found.update(f"obra_llm.{alias.name}" for alias in node.names)  # submodules: ``from obra_llm import errors``
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("obra_llm"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("obra_llm"))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer() -> None:
    layers = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in MODULES}
    assert layers - set(RANK) == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    upward = sorted(module for module in _imports(path) if RANK[_layer(module)] > RANK[own])
    assert upward == [], f"{path.relative_to(PACKAGE)} reaches up to {upward}"

