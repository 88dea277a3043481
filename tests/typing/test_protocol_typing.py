"""The typing surface: mypy (strict, the repo's mypy.ini) accepts structural LLMPlugins, rejects broken ones.

One mypy run checks every sample below; each test reads the lines about its own sample.
"""

from __future__ import annotations

import configparser
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from mypy import api

from obra_llm import LLMPlugin
from obra_llm.providers.ollama import OllamaLLM

ROOT = Path(__file__).resolve().parents[2]

# A class written as the orchestrator writes one: no import of obra_llm, no base class.
ORCHESTRATOR_LLM = '''
from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class OrchestratorLLM:
    def __init__(self) -> None:
        self.metrics: dict[str, Any] = {"calls": 0, "total_tokens": 0}

    def initialize(self, config: dict[str, Any]) -> None:
        self.config = config

    def generate(self, prompt: str, **kwargs: Any) -> str:
        return prompt

    def generate_stream(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        yield prompt

    def estimate_tokens(self, text: str) -> int:
        return len(text) // 4

    def is_available(self) -> bool:
        return True

    def get_model_info(self) -> dict[str, Any]:
        return {"model_name": "local"}
'''

SAMPLES = {
    "orchestrator_llm.py": ORCHESTRATOR_LLM,
    "orchestrator_broken.py": ORCHESTRATOR_LLM.replace(
        "    def is_available(self) -> bool:\n        return True\n", ""
    ).replace("class OrchestratorLLM", "class BrokenLLM"),
    "orchestrator_wrong.py": ORCHESTRATOR_LLM.replace(
        "def estimate_tokens(self, text: str) -> int:", "def estimate_tokens(self, text: bytes) -> int:"
    ).replace("class OrchestratorLLM", "class WrongLLM"),
    "use_plugin.py": """
        from __future__ import annotations

        import obra_llm
        from orchestrator_llm import OrchestratorLLM

        plugin: obra_llm.LLMPlugin = OrchestratorLLM()
        plugin.initialize({"model": "qwen2.5-coder:32b"})
        answer: str = plugin.generate("hi", temperature=0.1, max_tokens=5, stop=["x"])
        pieces: list[str] = list(plugin.generate_stream("hi", system="be brief"))
        count: int = plugin.estimate_tokens("hi")
    """,
    "use_broken.py": """
        from __future__ import annotations

        import obra_llm
        from orchestrator_broken import BrokenLLM

        plugin: obra_llm.LLMPlugin = BrokenLLM()
    """,
    "use_wrong.py": """
        from __future__ import annotations

        import obra_llm
        from orchestrator_wrong import WrongLLM

        plugin: obra_llm.LLMPlugin = WrongLLM()
    """,
    "use_ollama.py": """
        from __future__ import annotations

        import obra_llm
        from obra_llm.providers.ollama import OllamaLLM

        plugin: obra_llm.LLMPlugin = OllamaLLM()
        info: obra_llm.ModelInfo = OllamaLLM().get_model_info()
        metrics: obra_llm.MetricsSnapshot = OllamaLLM().metrics
    """,
    "use_bad_option.py": """
        from __future__ import annotations

        import obra_llm

        def call(plugin: obra_llm.LLMPlugin) -> str:
            return plugin.generate("hi", top_k=3)
    """,
    "use_optional_surface.py": """
        from __future__ import annotations

        from obra_llm.protocol import ProviderClass, SupportsClose, SupportsDiagnosis
        from obra_llm.providers.codex import CodexCLI
        from obra_llm.providers.ollama import OllamaLLM

        classes: list[ProviderClass] = [OllamaLLM, CodexCLI]
        closable: SupportsClose = OllamaLLM()
        diagnosed: list[SupportsDiagnosis] = [OllamaLLM(), CodexCLI()]
    """,
    "use_optional_missing.py": """
        from __future__ import annotations

        from obra_llm.protocol import ProviderClass, SupportsDiagnosis
        from orchestrator_llm import OrchestratorLLM

        declared: ProviderClass = OrchestratorLLM
        diagnosed: SupportsDiagnosis = OrchestratorLLM()
    """,
    "use_registry_union.py": """
        from __future__ import annotations

        import obra_llm
        from orchestrator_llm import OrchestratorLLM

        llm = obra_llm.create_llm({"type": "mine"}, registry=obra_llm.REGISTRY | {"mine": OrchestratorLLM})
    """,
}


@attrs.frozen
class MypyRun:
    stdout: str
    stderr: str
    status: int

    def lines_for(self, sample: str) -> list[str]:
        return [line for line in self.stdout.splitlines() if Path(line.split(":", 1)[0]).name == sample]

    def errors_for(self, sample: str) -> list[str]:
        return [line for line in self.lines_for(sample) if ": error:" in line]


def _config(tmp: Path) -> Path:
    """The repo's mypy.ini settings (strict and the rest), with absolute paths and a private cache."""
    repo = configparser.ConfigParser()
    repo.read(ROOT / "mypy.ini")
    settings = dict(repo["mypy"])
    settings.pop("files", None)
    settings["mypy_path"] = f"{ROOT / 'stubs'}:{ROOT}:{tmp}"
    settings["cache_dir"] = str(tmp / ".mypy_cache")
    settings.pop("explicit_package_bases", None)
    written = configparser.ConfigParser()
    written["mypy"] = settings
    path = tmp / "mypy.ini"
    with path.open("w", encoding="utf-8") as handle:
        written.write(handle)
    return path


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory: pytest.TempPathFactory) -> MypyRun:
    tmp = tmp_path_factory.mktemp("typing")
    files = []
    for name, source in SAMPLES.items():
        path = tmp / name
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        files.append(str(path))
    assert "strict = True" in (ROOT / "mypy.ini").read_text(encoding="utf-8")
    stdout, stderr, status = api.run(["--config-file", str(_config(tmp)), "--no-error-summary", *files])
    return MypyRun(stdout, stderr, status)


def test_mypy_ran_and_resolved_obra_llm(mypy_run: MypyRun) -> None:
    assert mypy_run.stderr == ""
    assert "Cannot find implementation or library stub" not in mypy_run.stdout
    assert "import-not-found" not in mypy_run.stdout
    assert mypy_run.status == 1  # the broken samples fail, as they must


def test_orchestrator_class_without_obra_llm_import_is_clean(mypy_run: MypyRun) -> None:
    assert mypy_run.lines_for("orchestrator_llm.py") == []


def test_structural_class_is_accepted_as_llm_plugin(mypy_run: MypyRun) -> None:
    assert mypy_run.lines_for("use_plugin.py") == []


def test_class_missing_is_available_is_rejected(mypy_run: MypyRun) -> None:
    errors = mypy_run.errors_for("use_broken.py")
    assert len(errors) == 1
    assert "use_broken.py:6:" in errors[0]
    assert "[assignment]" in errors[0]
    assert "is_available" in "\n".join(mypy_run.lines_for("use_broken.py"))


def test_class_with_a_wrong_signature_is_rejected(mypy_run: MypyRun) -> None:
    errors = mypy_run.errors_for("use_wrong.py")
    assert len(errors) == 1
    assert "estimate_tokens" in "\n".join(mypy_run.lines_for("use_wrong.py"))


def test_ollama_provider_is_an_llm_plugin(mypy_run: MypyRun) -> None:
    assert mypy_run.lines_for("use_ollama.py") == []


def test_unknown_generate_option_is_a_type_error(mypy_run: MypyRun) -> None:
    errors = mypy_run.errors_for("use_bad_option.py")
    assert len(errors) == 1
    assert '"top_k"' in errors[0]


def test_documented_registry_union_type_checks(mypy_run: MypyRun) -> None:
    """registry.py's docstring recommends ``create_llm(config, registry=REGISTRY | {"mine": MyLLM})``."""
    assert mypy_run.lines_for("use_registry_union.py") == []


# -- runtime -----------------------------------------------------------------------------


class RuntimeLLM:
    def __init__(self) -> None:
        self.metrics: dict[str, Any] = {}

    def initialize(self, config: dict[str, Any]) -> None:
        pass

    def generate(self, prompt: str, **kwargs: Any) -> str:
        return prompt

    def generate_stream(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        yield prompt

    def estimate_tokens(self, text: str) -> int:
        return 0

    def is_available(self) -> bool:
        return True

    def get_model_info(self) -> Mapping[str, Any]:
        return {}


class NoAvailability:
    metrics: dict[str, Any] = {}

    def initialize(self, config: dict[str, Any]) -> None:
        pass

    def generate(self, prompt: str, **kwargs: Any) -> str:
        return prompt

    def generate_stream(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        yield prompt

    def estimate_tokens(self, text: str) -> int:
        return 0

    def get_model_info(self) -> Mapping[str, Any]:
        return {}


def test_runtime_isinstance_accepts_a_structural_class() -> None:
    assert isinstance(RuntimeLLM(), LLMPlugin)


def test_runtime_isinstance_rejects_a_class_missing_a_method() -> None:
    assert not isinstance(NoAvailability(), LLMPlugin)


def test_runtime_isinstance_accepts_ollama() -> None:
    assert isinstance(OllamaLLM(), LLMPlugin)


def test_obra_providers_declare_the_optional_surface(mypy_run: MypyRun) -> None:
    assert mypy_run.lines_for("use_optional_surface.py") == []


def test_a_foreign_plugin_does_not_pass_for_the_optional_surface(mypy_run: MypyRun) -> None:
    errors = mypy_run.errors_for("use_optional_missing.py")
    assert len(errors) == 2
    assert all("[assignment]" in error for error in errors)
