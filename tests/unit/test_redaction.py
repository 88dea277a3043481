"""Redactor: a secret is masked bare, percent-encoded, and inside base64 at any alignment."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from obra_llm.redaction import MASK, Redactor

KEY = "sk-test+key/with=odd&chars-0123456789abcdef"


@pytest.mark.parametrize("prefix", ["", "u", "us", "usr:"], ids=["aligned", "shift-1", "shift-2", "shift-1-later"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode], ids=["base64", "urlsafe"])
def test_a_key_inside_base64_leaves_nothing_that_decodes_to_it(prefix: str, encode: object) -> None:
    assert callable(encode)
    blob = encode(f"{prefix}{KEY}".encode()).decode()
    masked = Redactor([KEY])(f"Authorization: Basic {blob}")

    assert MASK in masked
    kept = masked.split("Basic ", 1)[1].split(MASK)
    # Only the groups mixing the key with its surroundings survive: a few characters each side.
    assert len(kept) == 2
    assert all(len(part) <= 8 for part in kept)


@pytest.mark.parametrize("form", [KEY, urllib.parse.quote(KEY, safe=""), urllib.parse.quote_plus(KEY)])
def test_bare_and_percent_encoded_keys_are_masked(form: str) -> None:
    assert Redactor([KEY])(f"url: https://h/?key={form}&x=1") == f"url: https://h/?key={MASK}&x=1"


def test_without_secrets_text_is_unchanged_and_the_repr_shows_no_form() -> None:
    empty = Redactor([None, ""])
    assert not empty
    assert empty("sk-anything") == "sk-anything"
    assert KEY not in repr(Redactor([KEY]))
