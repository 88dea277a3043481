"""``decoded_chunks``: what httpx decodes, decoded the same, but a bounded piece at a time."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import httpx
import pytest

from obra_llm.transports.decoding import PIECE, decoded_chunks

BODY = b'{"answer": "' + b"0123456789" * 500_000 + b'"}'


class _Chunks(httpx.SyncByteStream):
    """A body that arrives in ``size``-byte reads, as from a socket."""

    def __init__(self, data: bytes, size: int = 65536) -> None:
        self._data = data
        self._size = size

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self._data), self._size):
            yield self._data[start : start + self._size]


def _response(data: bytes, encoding: str | None) -> httpx.Response:
    headers = {"content-encoding": encoding} if encoding else {}
    return httpx.Response(200, headers=headers, stream=_Chunks(data))


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        (None, BODY),
        ("identity", BODY),
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", b"passed through"),  # httpx does not decode x-gzip either
        ("deflate", zlib.compress(BODY)),
        ("deflate", _raw_deflate(BODY)),
        ("gzip, gzip", gzip.compress(gzip.compress(BODY))),
        ("deflate, identity, gzip", gzip.compress(zlib.compress(BODY))),
    ],
)
def test_each_encoding_decodes_as_httpx_does(encoding: str | None, encoded: bytes) -> None:
    ours = b"".join(decoded_chunks(_response(encoded, encoding)))
    theirs = _response(encoded, encoding)
    theirs.read()
    assert ours == theirs.content == (encoded if encoding == "x-gzip" else BODY)


def test_no_piece_is_larger_than_a_piece_even_for_a_bomb() -> None:
    bomb = gzip.compress(b"\0" * (40 * PIECE), compresslevel=9)
    sizes = [len(piece) for piece in decoded_chunks(_response(bomb, "gzip"))]
    assert sum(sizes) == 40 * PIECE
    assert max(sizes) == PIECE  # httpx's decoder yields one piece per 64 KiB read: all 40 MiB at once here


def test_corrupt_data_is_a_decoding_error_naming_the_encoding() -> None:
    with pytest.raises(httpx.DecodingError, match=r"not valid gzip data"):
        b"".join(decoded_chunks(_response(b"\x1f\x8bnot gzip at all", "gzip")))


def test_an_encoding_obra_llm_does_not_handle_is_left_to_httpx() -> None:
    ours = b"".join(decoded_chunks(_response(b"as sent", "unknown-coding")))
    assert ours == b"as sent"  # httpx passes an unknown coding through undecoded


def test_a_body_already_read_is_returned_as_read() -> None:
    response = httpx.Response(200, content=b"read already")
    assert b"".join(decoded_chunks(response)) == b"read already"
