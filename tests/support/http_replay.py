"""Cassette plumbing shared by the HTTP provider tests.

In record mode ``none`` a test replays its cassette and must play every interaction in
it. In a recording mode it runs against the real service when its URL/key is configured,
or else against the local wire server, and the cassette's provenance says which.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from obra_llm.recording.cassettes import Provenance, use_cassette
from obra_llm.recording.mode import RecordMode

__all__ = ["HTTP_CASSETTES", "replayed"]

HTTP_CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "http"


@contextmanager
def replayed(
    provider: str,
    name: str,
    *,
    mode: RecordMode,
    made_by: Provenance | None,
    secrets: Sequence[str] = (),
) -> Iterator[None]:
    """Record or replay ``cassettes/http/<provider>/<name>.yaml`` around the block."""
    path = HTTP_CASSETTES / provider / f"{name}.yaml"
    if mode == "none" and not path.exists():
        msg = f"no cassette {path.relative_to(HTTP_CASSETTES.parent.parent)}; record it with --record-mode=once"
        raise FileNotFoundError(msg)
    with use_cassette(path, mode=mode, made_by=made_by, secrets=secrets) as cassette:
        yield
    if mode == "none" and not cassette.all_played:
        msg = f"{path.name}: {len(cassette) - cassette.play_count} recorded interaction(s) were never requested"
        raise AssertionError(msg)
