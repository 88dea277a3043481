"""A response body's decoded bytes, inflated a bounded piece at a time.

httpx inflates each chunk read from the socket in one step, and zeros inflate a
thousandfold: one 64 KiB read of a gzip bomb becomes 64 MiB in memory before any size
check can look at it. Here every inflate step yields at most ``PIECE`` bytes, so the
callers' bounds (``max_response_bytes``, ``max_line_bytes``) hold to within one piece.
The encodings are the ones obra_llm asks for (``gzip``, ``deflate``) and ``identity``,
stacked as the ``Content-Encoding`` header lists them; any other is left to httpx.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import httpx

__all__ = ["PIECE", "decoded_chunks"]

#: The most one inflate step may produce: 1 MiB.
PIECE = 1024 * 1024

#: zlib window bits per encoding; deflate is tried with its zlib header first, as httpx does.
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


def decoded_chunks(response: httpx.Response) -> Iterator[bytes]:
    """``response``'s body as it arrives, decoded, in pieces of at most ``PIECE`` inflated bytes."""
    encodings = [value.strip().lower() for value in response.headers.get("content-encoding", "").split(",")]
    encodings = [value for value in encodings if value not in ("", "identity")]
    if response.is_stream_consumed or any(value not in _WBITS for value in encodings):
        return response.iter_bytes()  # already read (a mock's body), or an encoding httpx handles alone
    chunks: Iterator[bytes] = response.iter_raw()
    for value in reversed(encodings):
        chunks = _inflated(chunks, value)
    return chunks


def _inflated(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """``chunks`` inflated from ``encoding``, each piece at most ``PIECE`` bytes."""
    inflater = zlib.decompressobj(_WBITS[encoding])
    first = True
    for chunk in chunks:
        data = chunk
        while data and not inflater.eof:
            try:
                piece = inflater.decompress(data, PIECE)
            except zlib.error as error:
                if first and encoding == "deflate":  # a raw deflate stream, without the zlib header
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    first = False
                    continue
                msg = f"the answer is not valid {encoding} data ({error})"
                raise httpx.DecodingError(msg) from None
            first = False
            data = inflater.unconsumed_tail
            if piece:
                yield piece
    while not inflater.eof:  # output zlib still holds after the last input
        piece = inflater.decompress(b"", PIECE)
        if not piece:
            break
        yield piece
