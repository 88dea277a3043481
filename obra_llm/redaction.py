"""Masking secrets in text: the key itself and the encoded forms a peer may echo it in.

A CLI or a server that prints the key back rarely prints it bare: it shows up inside an
``Authorization: Basic`` value (base64), in a URL query (percent-encoded), or in a JSON
dump. ``Redactor`` masks the key, its percent-encodings, and every base64 run that only
the key's bytes determine (at each of the three byte alignments the key can have inside
a longer base64 text), so a masked text keeps nothing that decodes back to the key.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["MASK", "Redactor", "redacted", "secret_forms"]

MASK = "****"
#: Encoded runs shorter than this are not masked: too short to identify a key, too likely in plain text.
MIN_ENCODED = 12


def secret_forms(secret: str) -> set[str]:
    """Every text form of ``secret`` that ``Redactor`` masks (the secret itself included)."""
    if not secret:
        return set()
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    raw = secret.encode("utf-8", errors="surrogatepass")
    for shift in range(3):
        padded = b"\0" * shift + raw
        # Chars of a 4-char group mixing the leading zeros or the bytes after the key depend on
        # what surrounds it in the real text: keep only the groups made of the key's bytes alone.
        whole_groups = len(padded) // 3 * 4
        first = 4 if shift else 0
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(padded).decode("ascii")[first:whole_groups]
            if len(core) >= MIN_ENCODED:
                forms.add(core)
    return forms


class Redactor:
    """Masks every form of the given secrets in a text; with no secret it returns the text unchanged."""

    __slots__ = ("_forms", "_mask")

    def __init__(self, secrets: Iterable[str | None] = (), *, mask: str = MASK) -> None:
        forms = {form for secret in secrets if secret for form in secret_forms(secret)}
        # Longest first, so that a form containing another is masked whole.
        self._forms = tuple(sorted(forms, key=len, reverse=True))
        self._mask = mask

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._forms)} forms)"

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, self._mask)
        return text


def redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (facts a server reported: strings, mappings, lists) with every string, keys included, through ``redact``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redacted(key, redact): redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(item, redact) for item in value]
    return value
