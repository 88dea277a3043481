"""HTTP record/replay through vcrpy cassettes, scrubbed before anything is written.

Requests match on method, path and JSON body (never on host, port or headers), so a
cassette recorded against a GPU box replays for a config that points at localhost.
Every cassette carries a ``provenance`` block in its metadata saying how it was made.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from obra_llm.recording.mode import RecordMode
from obra_llm.redaction import Redactor

if TYPE_CHECKING:
    from vcr.cassette import Cassette
    from vcr.request import Request

__all__ = ["Provenance", "SECRET_PATTERNS", "provenance", "scrub_text", "use_cassette"]

#: How a recording was made: from the real service, from a real model server run locally
#: (llama.cpp's llama-server, or vLLM/Ollama on a GPU box), from a real CLI against a local stub,
#: or synthesized by a local server that follows the documented wire format.
Source = Literal["real-service", "real-server", "real-cli+local-stub", "synthesized"]
Provenance = dict[str, Any]

#: Request headers that carry credentials or account identity.
_REQUEST_HEADERS_DROPPED = (
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "anthropic-beta",
    "host",
    "user-agent",
)
#: Response headers that identify accounts, requests or sessions, or change every run.
_RESPONSE_HEADERS_DROPPED = frozenset(
    {
        "set-cookie",
        "date",
        "cf-ray",
        "request-id",
        "x-request-id",
        "anthropic-organization-id",
        "openai-organization",
        "openai-project",
        "mistral-correlation-id",
        "x-kong-request-id",
        "x-envoy-upstream-service-time",
        "x-debug-trace-id",
        "server",
        "via",
    }
)
#: A local server's random port makes every re-recording differ; its cassettes say ``localhost``.
_LOOPBACK = re.compile(r"^(https?://)(?:127\.0\.0\.1|localhost|\[::1\]):\d+")
#: Query parameters that carry credentials (Gemini's ``?key=``).
_QUERY_SECRETS = ("key", "api_key")
#: Secrets that look the same in every provider's bodies (see docs wire.md section 7).
SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"sk-[A-Za-z0-9_-]*\*+[A-Za-z0-9]{2,}"), "sk-REDACTED"),
    (re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"), "sk-REDACTED"),
    (re.compile(r"\borg-[A-Za-z0-9]{8,}"), "org-REDACTED"),
    (re.compile(r"\bprojects/\d+"), "projects/REDACTED"),
    (re.compile(r"\bproject([ =])\d{6,}"), r"project\1REDACTED"),
    (re.compile(r"\"containerInfo\"\s*:\s*\"\d+\""), '"containerInfo": "REDACTED"'),
    (re.compile(r"\"(request_id|organization_id|owner_id)\"\s*:\s*\"[^\"]*\""), r'"\1": "REDACTED"'),
    (re.compile(r"/(Users|home)/[^/\"\s]+/"), r"/\1/REDACTED/"),
    (re.compile(r"\"signin_url\"\s*:\s*\"[^\"]*\""), '"signin_url": "REDACTED"'),
)


def scrub_text(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with known secrets (in every form ``obra_llm.redaction`` masks) and every secret-shaped pattern replaced."""
    text = Redactor(secrets, mask="REDACTED")(text)
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def provenance(source: Source, *, how: str, service: str, **details: Any) -> Provenance:
    """The metadata block every cassette and transcript carries."""
    return {
        "source": source,
        "how": how,
        "service": service,
        "recorded_at": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        **details,
    }


@contextmanager
def use_cassette(
    path: str | Path,
    *,
    mode: RecordMode,
    made_by: Provenance | None = None,
    secrets: Sequence[str] = (),
) -> Iterator[Cassette]:
    """Record or replay the HTTP calls made inside the block.

    ``made_by`` becomes the cassette's provenance whenever it is written: ``all`` starts
    the file afresh, and ``new_episodes`` adding recordings of another source marks it
    ``mixed``. On replay the stored provenance is ``cassette.get_metadata("provenance", None)``.
    In mode ``none`` an unrecorded request raises vcrpy's
    ``CannotOverwriteExistingCassetteException``, whose message names the request.
    """
    import vcr  # deferred: vcrpy is only needed to record or replay

    if mode == "all":
        Path(path).unlink(missing_ok=True)
    recorder = vcr.VCR(
        serializer="yaml",
        record_mode=mode,
        match_on=("method", "path", "query", "json_body"),
        decode_compressed_response=True,
        record_on_exception=False,
        filter_headers=list(_REQUEST_HEADERS_DROPPED),
        filter_query_parameters=list(_QUERY_SECRETS),
        before_record_request=lambda request: _scrub_request(request, secrets),
        before_record_response=lambda response: _scrub_response(response, secrets),
    )
    recorder.register_matcher("json_body", _same_json_body)
    if made_by is not None:
        recorder.register_persister(_ProvenancePersister(made_by))
    with recorder.use_cassette(str(path), allow_playback_repeats=False) as cassette:
        yield cassette


class _ProvenancePersister:
    """vcrpy's file persister, writing ``made_by`` into the cassette's metadata on save."""

    def __init__(self, made_by: Provenance) -> None:
        self._made_by = made_by
        self._loaded: Provenance | None = None

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        from vcr.persisters.filesystem import FilesystemPersister

        loaded = FilesystemPersister.load_cassette(cassette_path, serializer)
        metadata = loaded[2] if len(loaded) > 2 else {}
        self._loaded = metadata.get("provenance") if isinstance(metadata, dict) else None
        return loaded

    def save_cassette(self, cassette_path: str, cassette_dict: dict[str, Any], serializer: Any) -> None:
        from vcr.persisters.filesystem import FilesystemPersister

        previous, current = self._loaded, self._made_by
        if previous is not None and previous.get("source") != current["source"]:
            current = {"source": "mixed", "how": "recordings of different sources in one cassette", "parts": [previous, current]}
            current["recorded_at"] = self._made_by["recorded_at"]
        metadata = dict(cassette_dict.get("metadata") or {}) | {"provenance": current}
        FilesystemPersister.save_cassette(cassette_path, cassette_dict | {"metadata": metadata}, serializer)


def _scrub_request(request: Request, secrets: Sequence[str]) -> Request:
    """The body and URI scrubbed; so is every header kept (the credential headers are already dropped)."""
    for name in list(request.headers):
        request.headers[name] = scrub_text(str(request.headers[name]), secrets)
    if request.body:
        request.body = scrub_text(request.body.decode("utf-8", errors="replace"), secrets).encode("utf-8")
    request.uri = _LOOPBACK.sub(r"\1localhost", scrub_text(request.uri, secrets))
    return request


def _scrub_response(response: dict[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
    """Identifying headers dropped; every other header value and the body scrubbed (a server may echo the key)."""
    headers: Mapping[str, Any] = response.get("headers", {})
    response["headers"] = {
        scrub_text(name, secrets): [scrub_text(str(value), secrets) for value in values]
        for name, values in headers.items()
        if name.lower() not in _RESPONSE_HEADERS_DROPPED
    }
    body = response.get("body", {})
    content = body.get("string")
    if isinstance(content, bytes):
        body["string"] = scrub_text(content.decode("utf-8", errors="replace"), secrets).encode("utf-8")
        for name in response["headers"]:
            if name.lower() == "content-length":
                response["headers"][name] = [str(len(body["string"]))]
    return response


def _same_json_body(first: Request, second: Request) -> None:
    """vcrpy matcher: bodies equal as JSON when both parse, else byte for byte."""
    if _parsed(first.body) != _parsed(second.body):
        msg = f"request bodies differ: {_parsed(first.body)!r} != {_parsed(second.body)!r}"
        raise AssertionError(msg)


def _parsed(body: bytes | str | None) -> Any:
    if not body:
        return None
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except ValueError:
        return text
