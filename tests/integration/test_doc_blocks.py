"""Every code block and command of the README and docs/ runs here, so the docs cannot rot.

Python blocks run in a fresh interpreter, in a folder holding the repository's
``config/config.yaml`` pointed (through ``$OLLAMA_HOST_URL``) at a local Ollama wire
server; ``obra-llm`` commands run through the installed console script the same way.
YAML blocks are validated as configurations. Commands that set up or re-record are
checked without their side effects: their files, extras and pinned packages must exist,
and a ``pytest`` command must select tests. ``text`` blocks are diagrams, not code.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import yaml

from obra_llm.registry import validate_config
from tests.support.console import SCRIPT, environment
from tests.support.ollama_wire import OllamaWireServer

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
#: Commands that need a person's account or machine, and why they are only named here.
NOT_RUN = {
    "codex login": "logs in to the user's OpenAI account",
    "gemini": "logs in to the user's Google account, interactively",
    "claude setup-token": "logs in to the user's Claude account",
}
#: What a Python block may assume from its surroundings (the orchestrator's own names).
PRELUDE = '''
import logging, obra_llm, yaml  # nothing imports obra_llm.registry: a block must, if it names it
logger = logging.getLogger("orchestrator")
class OrchestratorException(Exception): ...
class MyLLM:
    def initialize(self, config): self.config = config
    def generate(self, prompt, **kwargs): return "SCORE: 8"
    def generate_stream(self, prompt, **kwargs): yield "SCORE: 8"
    def estimate_tokens(self, text): return len(text) // 4
    def is_available(self): return True
    def get_model_info(self): return {"provider": "mine"}
    metrics = {"calls": 0, "total_tokens": 0, "total_latency_ms": 0.0, "errors": 0, "timeouts": 0}
LocalLLMInterface = MyLLM
class Orchestrator: config = yaml.safe_load(open("config/config.yaml"))
self = Orchestrator()
llm_type, llm_config = "ollama", dict(self.config["llm"])
'''
KEYS = {name: "set-for-the-docs" for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MISTRAL_API_KEY", "GEMINI_API_KEY", "COHERE_API_KEY")}


@attrs.frozen
class Block:
    page: Path
    language: str
    text: str
    index: int

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(REPO)}#{self.index}-{self.language}"


def blocks() -> list[Block]:
    found = []
    for page in PAGES:
        for index, match in enumerate(_FENCE.finditer(page.read_text(encoding="utf-8"))):
            found.append(Block(page, match.group(1), match.group(2), index))
    return found


def commands() -> list[tuple[Block, str]]:
    """Every command of every ``sh`` block: one per line, ``&&`` chains split, comments dropped."""
    found = []
    for block in blocks():
        if block.language == "sh":
            for line in block.text.splitlines():
                code = line.split("  #", 1)[0].strip()
                found += [(block, part.strip()) for part in code.split("&&") if part.strip()]
    return found


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A working folder with the checkout's config, and the environment that points it at a local server."""
    folder = tmp_path_factory.mktemp("docs")
    shutil.copytree(REPO / "config", folder / "config")
    (folder / "prompt.txt").write_text("Rate this change from 0 to 10: it adds a test.\n", encoding="utf-8")
    with OllamaWireServer() as server:
        yield folder, environment(folder / "home", OLLAMA_HOST_URL=server.url) | KEYS


def test_every_block_has_a_known_language() -> None:
    unknown = [block.name for block in blocks() if block.language not in {"sh", "python", "yaml", "text"}]
    assert unknown == [], "label each block sh, python, yaml (a config) or text (a diagram)"


@pytest.mark.parametrize("block", [block for block in blocks() if block.language == "yaml"], ids=lambda block: block.name)
def test_yaml_blocks_are_valid_configurations(block: Block) -> None:
    document = yaml.safe_load(block.text)
    validate_config(document["llm"], environ=KEYS, source=block.name)


@pytest.mark.parametrize("block", [block for block in blocks() if block.language == "python"], ids=lambda block: block.name)
def test_python_blocks_run(block: Block, sandbox: tuple[Path, dict[str, str]]) -> None:
    folder, env = sandbox
    program = PRELUDE + block.text + "\nif '_initialize_llm' in globals():\n    _initialize_llm(self)\n"
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd=folder, env=env, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("block", "command"), commands(), ids=[f"{block.name}:{command[:40]}" for block, command in commands()])
def test_commands_run_or_are_checked(block: Block, command: str, sandbox: tuple[Path, dict[str, str]]) -> None:
    folder, env = sandbox
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words.pop(0)  # KEY=value prefixes: the real key is the reader's
    program, arguments = words[0], words[1:]
    if command in NOT_RUN:
        return
    if program.endswith("obra-llm"):
        run_obra_llm(arguments, folder, env)
    elif program.endswith("pip"):
        check_pip_install(arguments)
    elif program == "python3" and arguments[:2] == ["-m", "venv"]:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "venv")], check=True, timeout=120)
    elif program.endswith("python") and arguments[:2] == ["-m", "pytest"]:
        check_pytest_selects(arguments[2:])
    elif program in ("bash", "sh") or program.startswith("scripts/"):
        script = REPO / (arguments[0] if program in ("bash", "sh") else program)
        subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    elif program == "npm":
        check_npm_package(arguments)
    else:
        pytest.fail(f"{block.name}: no rule runs or checks {command!r}; add one, or to NOT_RUN with the reason")


def run_obra_llm(arguments: list[str], folder: Path, env: dict[str, str]) -> None:
    stdin = None
    if "<" in arguments:
        at = arguments.index("<")
        stdin = (folder / arguments[at + 1]).read_text(encoding="utf-8")
        arguments = arguments[:at] + arguments[at + 2 :]
    done = subprocess.run(
        [str(SCRIPT), *arguments], input=stdin, capture_output=True, text=True, timeout=60, cwd=folder, env=env, check=False
    )
    assert "Traceback" not in done.stderr
    if "openai-codex" in arguments and not shutil.which("codex", path=env.get("PATH")):
        assert done.returncode == 1 and "is not installed" in done.stdout, done.stdout + done.stderr
        return
    assert done.returncode == 0, done.stdout + done.stderr


def check_pip_install(arguments: list[str]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    targets = [word for word in arguments if not word.startswith("-")]
    assert arguments[0] == "install" and targets[1:], arguments
    for target in targets[1:]:
        name, _, extras = target.partition("[")
        if name == ".":
            assert set(extras.rstrip("]").split(",")) - {""} <= set(project["optional-dependencies"]), target
        else:
            assert re.sub(r"[-_.]+", "-", name).lower() == re.sub(r"[-_.]+", "-", project["name"]).lower(), target


def check_pytest_selects(arguments: list[str]) -> None:
    kept = [word for word in arguments if not word.startswith("--record-mode")]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *kept],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^\d+ tests? collected|^\d+/\d+ tests collected", done.stdout.splitlines()[-1]), done.stdout


def check_npm_package(arguments: list[str]) -> None:
    package = arguments[-1]
    pinned = re.findall(r'"(@[\w./-]+)@\$', "".join(path.read_text() for path in (REPO / "scripts").glob("install-*.sh")))
    assert arguments[0] == "install" and package in pinned, (package, pinned)
