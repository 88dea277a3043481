"""Recording: scrubbing, the record-mode switch, and a cassette round trip against a local server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from vcr.errors import CannotOverwriteExistingCassetteException

from obra_llm.errors import ConfigError
from obra_llm.recording import ENV_VAR, RECORD_MODES, resolve_record_mode
from obra_llm.recording.cassettes import provenance, scrub_text, use_cassette
from tests.support.ollama_wire import VERSION, Answer, OllamaWireServer

KEY = "sk-proj-Zq8vT3xW9yB2nM4kL7pQ1rS6tU0"
MODEL = "qwen2.5-coder:32b"

# -- scrub_text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {KEY} end", "key sk-REDACTED end"),
        ("sk-ant-api03-abcdefghijklmnopqrstuv", "sk-REDACTED"),
        ("sk-abcdefghijklmnop1234", "sk-REDACTED"),
        ("Incorrect API key provided: sk-proj-****************************Ab12.", "Incorrect API key provided: sk-REDACTED."),
        ("sk-abc***xyz", "sk-REDACTED"),
        ("org-AbCdEfGh12345678 in header", "org-REDACTED in header"),
        ("quota for projects/123456789012 exceeded", "quota for projects/REDACTED exceeded"),
        ('{"request_id": "req_011CX8abc", "x": 1}', '{"request_id": "REDACTED", "x": 1}'),
        ('{"organization_id":"8c1b"}', '{"organization_id": "REDACTED"}'),
        ("FROM /Users/someone/.ollama/models/blobs", "FROM /Users/REDACTED/.ollama/models/blobs"),
        ("cwd /home/alice/work/repo", "cwd /home/REDACTED/work/repo"),
        ('{"signin_url": "https://x.example/login?t=1"}', '{"signin_url": "REDACTED"}'),
    ],
)
def test_scrub_text_masks_secret_shapes(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["sk-short", "task-abcdefghijklmnopqrstuvwxyz", "organization", "projects/abc", "/usr/home", "desk-top"],
)
def test_scrub_text_leaves_look_alikes(text: str) -> None:
    assert scrub_text(text) == text


def test_scrub_text_masks_given_secrets_longest_first() -> None:
    assert scrub_text("pw hunter2hunter2 and hunter2", secrets=["hunter2", "hunter2hunter2", ""]) == (
        "pw REDACTED and REDACTED"
    )


# -- record mode ------------------------------------------------------------------------


def test_record_modes() -> None:
    assert RECORD_MODES == ("none", "once", "new_episodes", "all")


def test_record_mode_defaults_to_none() -> None:
    assert resolve_record_mode(None, {}) == "none"


def test_record_mode_from_environment() -> None:
    assert resolve_record_mode(None, {ENV_VAR: "once"}) == "once"


def test_record_mode_option_beats_environment() -> None:
    assert resolve_record_mode("all", {ENV_VAR: "once"}) == "all"
    assert resolve_record_mode("none", {ENV_VAR: "once"}) == "none"


def test_empty_environment_value_means_none() -> None:
    assert resolve_record_mode(None, {ENV_VAR: ""}) == "none"


def test_invalid_record_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_record_mode("sometimes", {})
    assert str(caught.value) == (
        "record mode 'sometimes' is not valid: expected one of ['none', 'once', 'new_episodes', 'all'] "
        f"(from --record-mode or ${ENV_VAR})"
    )


def test_invalid_record_mode_from_environment() -> None:
    with pytest.raises(ConfigError, match="record mode 'ONCE' is not valid"):
        resolve_record_mode(None, {ENV_VAR: "ONCE"})


@pytest.mark.parametrize("mode", ["once", "new_episodes", "all"])
def test_recording_is_refused_under_ci(mode: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_record_mode(mode, {"CI": "true"})
    assert str(caught.value) == f"record mode {mode!r} is refused under CI (the CI variable is set): CI only replays"


def test_replay_is_allowed_under_ci() -> None:
    assert resolve_record_mode(None, {"CI": "1", ENV_VAR: "none"}) == "none"


def test_provenance_block() -> None:
    block = provenance("synthesized", how="local wire server", service=f"ollama-wire {VERSION}", model=MODEL)
    recorded_at = block.pop("recorded_at")
    assert block == {"source": "synthesized", "how": "local wire server", "service": "ollama-wire 0.12.3", "model": MODEL}
    assert isinstance(recorded_at, str)
    assert recorded_at.endswith("+00:00")


# -- cassette round trip -----------------------------------------------------------------


def _echo_secret(request: dict[str, Any]) -> Answer:
    return Answer(pieces=["your key is ", KEY, " and pw hunter2-password"])


def _session(client: httpx.Client) -> tuple[dict[str, Any], list[Any]]:
    shown = client.post("/api/show", json={"model": MODEL}).json()
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"use {KEY} with hunter2-password"}]}
    with client.stream("POST", "/api/chat", json=body) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    return shown, lines


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}", "x-api-key": KEY}, timeout=5.0)


def test_cassette_round_trip_scrubs_and_replays(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    made_by = provenance("synthesized", how="tests/support/ollama_wire.py", service=f"ollama-wire {VERSION}")
    with OllamaWireServer(default_answer=_echo_secret) as server:
        url = server.url
        with use_cassette(path, mode="once", made_by=made_by, secrets=["hunter2-password"]) as cassette:
            with _client(url) as client:
                live_shown, live_lines = _session(client)
        assert len(cassette) == 2
        received = server.chat_requests()
    # the live call really carried the secrets: scrubbing happens only in what is written
    assert received[0]["messages"][0]["content"] == f"use {KEY} with hunter2-password"
    assert "".join(line["message"]["content"] for line in live_lines) == f"your key is {KEY} and pw hunter2-password"

    written = path.read_text(encoding="utf-8")
    assert KEY not in written
    assert KEY[3:] not in written
    assert "hunter2-password" not in written
    assert "/Users/someone/" not in written
    document = yaml.safe_load(written)
    for interaction in document["interactions"]:
        assert "authorization" not in {name.lower() for name in interaction["request"]["headers"]}
        assert "x-api-key" not in {name.lower() for name in interaction["request"]["headers"]}
    assert document["metadata"]["provenance"] == made_by

    # replay with the server stopped: same requests, scrubbed answers, provenance readable
    with use_cassette(path, mode="none", secrets=["hunter2-password"]) as replay:
        with _client(url) as client:
            shown, lines = _session(client)
        assert replay.get_metadata("provenance", None) == made_by
        assert replay.all_played
    assert "".join(line["message"]["content"] for line in lines) == "your key is sk-REDACTED and pw REDACTED"
    assert lines[-1]["done"] is True
    assert shown["modelfile"] == live_shown["modelfile"].replace("/Users/someone/", "/Users/REDACTED/")
    assert shown["model_info"] == live_shown["model_info"]


def test_unrecorded_request_in_mode_none_names_the_request(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    with OllamaWireServer() as server:
        url = server.url
        with use_cassette(path, mode="once"), _client(url) as client:
            client.get("/api/tags")
    with use_cassette(path, mode="none"), _client(url) as client:
        with pytest.raises(CannotOverwriteExistingCassetteException) as caught:
            client.post("/api/chat", json={"model": "never-recorded"})
    message = str(caught.value)
    assert "/api/chat" in message
    assert "POST" in message


def test_replay_matches_json_bodies_not_bytes(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    with OllamaWireServer() as server:
        url = server.url
        with use_cassette(path, mode="once"), _client(url) as client:
            client.post("/api/show", content=b'{"model": "qwen2.5-coder:32b"}')
    with use_cassette(path, mode="none"), _client(url) as client:
        shown = client.post("/api/show", content=b'{ "model":"qwen2.5-coder:32b" }').json()
    assert shown["details"]["family"] == "qwen2"


def test_replay_of_a_different_body_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    with OllamaWireServer() as server:
        url = server.url
        with use_cassette(path, mode="once"), _client(url) as client:
            client.post("/api/show", json={"model": MODEL})
    with use_cassette(path, mode="none"), _client(url) as client:
        with pytest.raises(CannotOverwriteExistingCassetteException):
            client.post("/api/show", json={"model": "llama3"})


def test_replay_ignores_host_and_port(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    with OllamaWireServer() as server:
        with use_cassette(path, mode="once"), _client(server.url) as client:
            client.get("/api/version")
    with use_cassette(path, mode="none"), _client("http://127.0.0.1:9") as client:
        assert client.get("/api/version").json() == {"version": VERSION}


def test_query_secrets_are_not_written(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    with OllamaWireServer() as server:
        with use_cassette(path, mode="once"), _client(server.url) as client:
            client.get("/api/version", params={"key": "AIzaSyA-secret-gemini-key", "alt": "sse"})
    written = path.read_text(encoding="utf-8")
    assert "AIzaSyA-secret-gemini-key" not in written
    assert "alt=sse" in written


def _stored_provenance(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]["provenance"]


def test_rerecording_replaces_the_provenance_and_the_interactions(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    with OllamaWireServer() as server:
        with use_cassette(path, mode="once", made_by=provenance("synthesized", how="wire", service="ollama")):
            with _client(server.url) as client:
                client.get("/api/version")
                client.get("/api/tags")
        with use_cassette(path, mode="all", made_by=provenance("real-service", how="real", service="ollama")):
            with _client(server.url) as client:
                client.get("/api/version")
    assert _stored_provenance(path)["source"] == "real-service"
    assert len(yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]) == 1


def test_new_episodes_from_another_source_are_marked_mixed(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    with OllamaWireServer() as server:
        with use_cassette(path, mode="once", made_by=provenance("synthesized", how="wire", service="ollama")):
            with _client(server.url) as client:
                client.get("/api/version")
        with use_cassette(path, mode="new_episodes", made_by=provenance("real-service", how="real", service="ollama")):
            with _client(server.url) as client:
                client.get("/api/version")
                client.get("/api/tags")
    stored = _stored_provenance(path)
    assert stored["source"] == "mixed"
    assert [part["source"] for part in stored["parts"]] == ["synthesized", "real-service"]
