"""The one NDJSON reader and the one SSE reader, over byte chunks split anywhere.

Pure functions over ``Iterable[bytes]``: a chunk may end inside a line, inside a ``\\r\\n``
pair or inside a multi-byte UTF-8 character, and the output is the same as for one
big chunk. Corrupt input raises ``LLMResponseException``, never anything else.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Generator, Iterable, Iterator
from typing import Any, NamedTuple

from obra_llm.errors import LLMResponseException

__all__ = ["MAX_LINE_CHARS", "SSEEvent", "iter_lines", "iter_ndjson", "iter_sse", "json_object"]

#: A line longer than this is corrupt input, not an answer: it would otherwise grow unbounded.
MAX_LINE_CHARS = 64 * 1024 * 1024


class SSEEvent(NamedTuple):
    """One server-sent event: its ``event`` name (``message`` when absent) and ``data``.

    A ``NamedTuple`` rather than an attrs class: one is built for every streamed token.
    """

    data: str
    event: str = "message"
    id: str | None = None


def iter_lines(chunks: Iterable[bytes], *, max_line_chars: int = MAX_LINE_CHARS) -> Iterator[str]:
    """Decode UTF-8 incrementally and yield lines ended by ``\\n``, ``\\r\\n`` or ``\\r``.

    The last line is yielded even without a terminator. Line endings are not included.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = ""
    try:
        for chunk in chunks:
            pending += decoder.decode(chunk)
            pending = yield from _complete_lines(pending, final=False)
            if len(pending) > max_line_chars:
                msg = f"a line of the response exceeds {max_line_chars} characters"
                raise LLMResponseException(msg)
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        msg = f"the response is not valid UTF-8 ({error.reason} at byte {error.start} of a chunk)"
        raise LLMResponseException(msg) from error
    rest = yield from _complete_lines(pending, final=True)
    if rest:
        yield rest


def _complete_lines(text: str, *, final: bool) -> Generator[str, None, str]:
    """Yield every terminated line of ``text``; return what is left (an unfinished line).

    A trailing ``\\r`` is held back unless ``final``: the next chunk may start with ``\\n``.
    """
    start = 0
    size = len(text)
    while True:
        newline = text.find("\n", start)
        carriage = text.find("\r", start, newline if newline >= 0 else size)
        if carriage >= 0:
            if carriage == size - 1 and not final:
                break
            yield text[start:carriage]
            start = carriage + 2 if text.startswith("\n", carriage + 1) else carriage + 1
        elif newline >= 0:
            yield text[start:newline]
            start = newline + 1
        else:
            break
    return text[start:]


def iter_ndjson(chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_CHARS) -> Iterator[Any]:
    """Yield one parsed JSON value per non-blank line (``\\n``-terminated; ``\\r`` is whitespace).

    Works on bytes: ``json.loads`` decodes UTF-8 itself, so a character split between two
    chunks is joined before it is decoded, and no per-line text decoding is paid twice.
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        if b"\n" not in chunk:
            if len(pending) > max_line_bytes:
                msg = f"a line of the response exceeds {max_line_bytes} bytes"
                raise LLMResponseException(msg)
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield _parse_json_line(line)
    if pending.strip():
        yield _parse_json_line(pending)


def _parse_json_line(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError as error:
        text = line.decode("utf-8", errors="replace")
        msg = f"the stream holds a line that is not JSON: {_excerpt(text)}"
        raise LLMResponseException(msg) from error


def iter_sse(chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_CHARS) -> Iterator[SSEEvent]:
    """Yield server-sent events as the WHATWG spec frames them.

    Blank lines dispatch; ``data`` lines join with ``\\n``; comments (``:``) and unknown
    fields are ignored; one space after the colon is dropped; a leading BOM is skipped. A
    final event without its blank line is still dispatched, since some servers close right
    after the last one. Works on bytes (UTF-8 never puts ``\\r`` or ``\\n`` inside a
    character, so complete lines decode safely); a trailing ``\\r`` waits for the next chunk,
    which may start with the ``\\n`` of the same line ending.
    """
    data: list[str] = []
    event = ""
    event_id: str | None = None
    pending = b""
    first = True
    ended = False
    iterator = iter(chunks)
    while not ended:
        chunk = next(iterator, None)
        if chunk is None:
            ended = True
            lines = _LINE_ENDING.split(pending) if pending else []
            pending = b""
        else:
            pending += chunk
            if len(pending) > max_line_bytes and b"\n" not in chunk and b"\r" not in chunk:
                msg = f"a line of the response exceeds {max_line_bytes} bytes"
                raise LLMResponseException(msg)
            held = pending.endswith(b"\r")
            *lines, pending = _LINE_ENDING.split(pending[:-1] if held else pending)
            if held:
                pending += b"\r"
        for line in lines:
            if first:
                line, first = line.removeprefix(_BOM), False
            if not line:
                if data:
                    yield SSEEvent(data[0] if len(data) == 1 else "\n".join(data), event or "message", event_id)
                data, event = [], ""
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(_decode(value))
            elif name == b"event":
                event = _decode(value)
            elif name == b"id":
                event_id = _decode(value)
    if data:
        yield SSEEvent("\n".join(data), event or "message", event_id)


_LINE_ENDING = re.compile(rb"\r\n|\r|\n")
_BOM = "\ufeff".encode()


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as error:
        msg = f"the response is not valid UTF-8 ({error.reason} at byte {error.start} of a line)"
        raise LLMResponseException(msg) from error


def json_object(data: str, *, what: str, provider: str | None = None) -> dict[str, Any]:
    """``data`` (a streamed event's payload) parsed as a JSON object.

    Anything else raises ``LLMResponseException`` whose message starts with ``what``
    (e.g. "Anthropic streamed a ping event whose data") and quotes the payload.
    """
    try:
        value = json.loads(data)
    except ValueError as error:
        msg = f"{what} is not JSON: {data[:200]!r}"
        raise LLMResponseException(msg, provider=provider) from error
    if not isinstance(value, dict):
        msg = f"{what} is not a JSON object: {type(value).__name__}"
        raise LLMResponseException(msg, provider=provider)
    return value


def _excerpt(text: str, limit: int = 200) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
