"""``obra-llm demo``: the orchestrator's main job, offline, on the shipped recordings.

The same quality-check prompt goes to every provider that has a demo recording, along
the path production takes (config -> registry -> provider -> transport), with the
transport replayed: HTTP through the provider's cassette, CLIs through their transcript.
``obra-llm demo --live`` asks it of a real model on this machine instead (llama-server).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from obra_llm.demo_prompts import QUALITY_CHECK_PROMPT, QUALITY_CHECK_SYSTEM
from obra_llm.protocol import LLMPlugin, SupportsClose
from obra_llm.providers.cli_base import CliLLM
from obra_llm.providers.http_api import HttpLLM
from obra_llm.registry import REGISTRY, create_llm

__all__ = [
    "DEMO_CONFIGS",
    "LIVE_PROVIDERS",
    "RECORDING_FOLDERS",
    "DemoRow",
    "demo_recording",
    "replayed_provider",
    "run_demo",
    "run_live_demo",
]

_DEMO_KEY = "test-key-not-a-secret"
#: Registry aliases that share another type's recordings (and documentation page).
RECORDING_FOLDERS: Mapping[str, str] = {"openai-api": "openai"}
#: The providers ``obra-llm demo --live`` asks the local model through: each API llama-server speaks.
LIVE_PROVIDERS = ("llamacpp", "openai", "anthropic")
#: Enough for a score and a sentence; a tiny model may otherwise ramble to the context's end.
_LIVE_MAX_TOKENS = 64


def _cli_providers() -> dict[str, type[CliLLM[Any]]]:
    """The registered CLI providers: each declares its replay folder and demo config."""
    return {name: cls for name, cls in REGISTRY.items() if issubclass(cls, CliLLM)}


#: The configuration each provider's demo recording was made with (the recording tests use these).
#: An HTTP provider's comes from its identity: its default model, and a dummy key when its
#: service takes one (replay sends nothing anywhere, and the cassettes hold no header).
#: CLI providers declare theirs (``CliIdentity.demo_config``).
def _http_demo_config(llm_type: str, provider: type[HttpLLM[Any]]) -> Mapping[str, Any]:
    identity = provider.wire.identity
    key = {"api_key": _DEMO_KEY} if identity.key_required else {}
    return {"type": llm_type, "model": identity.default_model, **key}


DEMO_CONFIGS: Mapping[str, Mapping[str, Any]] = {
    **{name: _http_demo_config(name, cls) for name, cls in REGISTRY.items() if issubclass(cls, HttpLLM)},
    **{name: cls.identity.demo_config for name, cls in _cli_providers().items()},
}


@attrs.frozen
class DemoRow:
    """One provider's result in the demo table."""

    provider: str
    transport: str
    answer: str
    tokens: int
    latency_ms: float
    recording: str


def demo_recording(root: Path, provider: str) -> Path:
    """Where ``provider``'s demo recording lives under the recordings ``root``."""
    cli = _cli_providers().get(provider)
    if cli is not None:
        return root / "cli" / cli.identity.replay_folder / "demo.json"
    return root / "http" / RECORDING_FOLDERS.get(provider, provider) / "demo.yaml"


def run_demo(root: Path) -> list[DemoRow]:
    """Replay the quality check through every provider that has a demo recording under ``root``."""
    rows = []
    for provider in REGISTRY:
        if provider in RECORDING_FOLDERS:
            continue  # an alias: its recordings are its target's
        if demo_recording(root, provider).exists() and provider in DEMO_CONFIGS:
            with replayed_provider(root, provider) as (llm, provenance):
                rows.append(_ask(provider, "cli" if provider in _cli_providers() else "http", llm, provenance))
    return rows


@contextmanager
def replayed_provider(root: Path, provider: str) -> Iterator[tuple[LLMPlugin, Mapping[str, Any]]]:
    """``provider`` built as production builds it, its transport replaying its demo recording.

    Yields the initialized provider and the recording's provenance; the provider is closed
    afterwards. Inside the block, calls other than the recorded quality check fail loudly.
    """
    path = demo_recording(root, provider)
    cli = _cli_providers().get(provider)
    if cli is not None:
        from obra_llm.recording.transcripts import Transcript, TranscriptReplayer

        transcript = Transcript.load(path)
        # The binary is "found" under its own name: replay runs nothing.
        with cli(runner=TranscriptReplayer([transcript]), which=lambda name: name) as replayed:
            replayed.initialize(dict(DEMO_CONFIGS[provider]))
            yield replayed, attrs.asdict(transcript.provenance)
        return
    from obra_llm.recording.cassettes import use_cassette

    with use_cassette(path, mode="none") as cassette:
        llm = create_llm(DEMO_CONFIGS[provider])
        try:
            yield llm, cassette.get_metadata("provenance", {})
        finally:
            if isinstance(llm, SupportsClose):
                llm.close()


def run_live_demo() -> tuple[str, list[DemoRow]]:
    """Ask the quality check of a real model on this machine, through every API its server speaks.

    Starts llama.cpp's llama-server with SmolLM2-135M-Instruct on loopback (installed by
    ``scripts/install-llama.sh``) and stops it afterwards. Returns the server's label and the rows.
    """
    from obra_llm.llama_server import find_install, provider_config, running_server

    with running_server(find_install()) as server:
        rows = []
        for provider in LIVE_PROVIDERS:
            llm = create_llm(provider_config(provider, server.url) | {"max_tokens": _LIVE_MAX_TOKENS})
            try:
                rows.append(_ask(provider, "http", llm, {"source": "live"}))
            finally:
                if isinstance(llm, SupportsClose):
                    llm.close()
        return server.label, rows


def _ask(provider: str, transport: str, llm: LLMPlugin, provenance: Mapping[str, Any]) -> DemoRow:
    started = time.perf_counter()
    answer = llm.generate(QUALITY_CHECK_PROMPT, system=QUALITY_CHECK_SYSTEM)
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return DemoRow(
        provider=provider,
        transport=transport,
        answer=answer,
        tokens=int(llm.metrics["total_tokens"]),
        latency_ms=elapsed_ms,
        recording=_describe(provenance),
    )


def _describe(provenance: Mapping[str, Any]) -> str:
    """A short label of how a recording was made, from its provenance."""
    source = str(provenance.get("source", "unknown provenance"))
    if source == "synthesized":
        return "synthesized from the documented wire format"
    if source == "real-service":
        return f"real service {provenance.get('server_version', '')}".rstrip()
    return source.split(" (", 1)[0]
