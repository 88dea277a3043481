"""``obra-llm check`` on a fallback chain, through the real console script: every member, and who would serve."""

from __future__ import annotations

from pathlib import Path

from tests.support.console import obra_llm, refused_url
from tests.support.ollama_wire import OllamaWireServer


def _chain_config(directory: Path, *endpoints: str) -> Path:
    lines = ["llm:", "  type: fallback", "  members:"]
    for endpoint in endpoints:
        lines += ["    - type: ollama", f"      base_url: {endpoint}", "      retry_attempts: 1"]
    path = directory / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_check_names_each_member_and_the_one_that_would_serve(tmp_path: Path) -> None:
    down = refused_url()
    with OllamaWireServer() as server:
        config = _chain_config(tmp_path, down, server.url)
        done = obra_llm("--config", str(config), "check")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"ok    config file: {config} (--config)",
        "ok    configuration: type fallback, model (provider default)",
        f"FAIL  member ollama: cannot connect to {down}: [Errno 111] Connection refused; is the server running? "
        "(start it with `ollama serve`, or set base_url to where it runs)",
        "ok    member ollama#2: available",
        "ok    serving: ollama#2 would serve",
        "ok    available: calls can be sent",
        "ok    model info: qwen2.5-coder:32b, context length 32768",
    ]


def test_check_fails_when_no_member_can_serve(tmp_path: Path) -> None:
    done = obra_llm("--config", str(_chain_config(tmp_path, refused_url(), refused_url())), "check")

    assert done.returncode == 1
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert [line.split(":")[0] for line in failures] == ["FAIL  member ollama", "FAIL  member ollama#2", "FAIL  not usable"]
    assert failures[-1] == "FAIL  not usable: no member of the chain can serve"


def test_check_reports_a_members_config_problem_at_its_path(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("llm:\n  type: fallback\n  members:\n    - type: ollama\n    - type: anthropic\n      modle: x\n", encoding="utf-8")

    done = obra_llm("--config", str(path), "check")

    assert done.returncode == 2
    assert "unknown key 'modle' (did you mean 'model'?) @ $.llm.members[1].modle" in done.stdout + done.stderr
