"""The framing readers (lines, NDJSON, SSE, SSE mixed with bare JSON) over byte chunks split anywhere.

Pure functions over ``Iterable[bytes]``: a chunk may end inside a line, inside a ``\\r\\n``
pair or inside a multi-byte UTF-8 character, and the output is the same as for one
big chunk. Every reader is linear in its input (a hostile server sending one huge line,
or a pretty-printed value line by line, costs no more than the bytes it sends): each
byte is joined into a line once and scanned a bounded number of times. Corrupt input
raises ``LLMResponseException``, never anything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import Any, NamedTuple

from obra_llm.errors import LLMResponseException

__all__ = [
    "MAX_LINE_BYTES",
    "SSEEvent",
    "iter_lines",
    "iter_ndjson",
    "iter_sse",
    "iter_sse_or_json",
    "json_object",
]

#: A line longer than this is corrupt input, not an answer: it would otherwise grow unbounded.
MAX_LINE_BYTES = 64 * 1024 * 1024



class SSEEvent(NamedTuple):
    """One server-sent event: its ``event`` name (``message`` when absent) and ``data``.

    A ``NamedTuple`` rather than an attrs class: one is built for every streamed token.
    """

    data: str
    event: str = "message"
    id: str | None = None


def _line_blocks(chunks: Iterable[bytes], *, max_line_bytes: int, any_ending: bool) -> Iterator[bytes]:
    """The complete lines of ``chunks`` in blocks, each ending turned into ``\\n`` (the block's last one dropped).

    ``any_ending``: lines end at ``\\r\\n``, ``\\r`` or ``\\n``, normalised chunk by chunk
    (a chunk ending in ``\\r`` drops the ``\\n`` the next one may start with); otherwise only
    at ``\\n``. The last line is yielded even unterminated. An unfinished line is kept as a
    list of chunks and joined once, when its end arrives: appending to one growing ``bytes``
    would copy it again for every chunk.
    """
    parts: list[bytes] = []
    size = 0
    after_cr = False
    for chunk in chunks:
        if not chunk:
            continue
        if any_ending:
            if after_cr and chunk[:1] == b"\n":
                chunk = chunk[1:]
            after_cr = chunk[-1:] == b"\r"
            if b"\r" in chunk:
                chunk = chunk.replace(b"\r\n", b"\n")
                if b"\r" in chunk:
                    chunk = chunk.replace(b"\r", b"\n")
        cut = chunk.rfind(b"\n")
        if cut < 0:
            parts.append(chunk)
            size += len(chunk)
            if size > max_line_bytes:
                raise _overlong(max_line_bytes)
            continue
        parts.append(chunk[:cut])
        yield b"".join(parts)
        rest = chunk[cut + 1 :]
        parts, size = [rest], len(rest)
        if size > max_line_bytes:
            raise _overlong(max_line_bytes)
    rest = b"".join(parts)
    if rest:
        yield rest


def _overlong(max_line_bytes: int) -> LLMResponseException:
    return LLMResponseException(f"a line of the response exceeds {max_line_bytes} bytes")


def iter_lines(chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Yield the UTF-8 lines ended by ``\\n``, ``\\r\\n`` or ``\\r``, without their endings.

    The last line is yielded even without a terminator. UTF-8 never puts ``\\r`` or ``\\n``
    inside a character, so each complete line decodes on its own.
    """
    for block in _line_blocks(chunks, max_line_bytes=max_line_bytes, any_ending=True):
        yield from _decode(block).split("\n")


def iter_ndjson(chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Any]:
    """Yield one parsed JSON value per non-blank line (``\\n``-terminated; ``\\r`` is whitespace)."""
    for block in _line_blocks(chunks, max_line_bytes=max_line_bytes, any_ending=False):
        for line in _decode(block).split("\n"):
            if line.strip():
                yield _parse_json_line(line)


def _parse_json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as error:
        msg = f"the stream holds a line that is not JSON: {_excerpt(line)}"
        raise LLMResponseException(msg) from error


def iter_sse(chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[SSEEvent]:
    """Yield server-sent events as the WHATWG spec frames them.

    Blank lines dispatch; ``data`` lines join with ``\\n``; comments (``:``) and unknown
    fields are ignored; one space after the colon is dropped; a leading BOM is skipped. A
    final event without its blank line is still dispatched, since some servers close right
    after the last one. Each block of complete lines is decoded once (UTF-8 never puts
    ``\\r`` or ``\\n`` inside a character) and cut by ``_EventReader``.
    """
    reader = _EventReader(gemini=False)
    first = True
    for block in _line_blocks(chunks, max_line_bytes=max_line_bytes, any_ending=True):
        if first:
            block, first = block.removeprefix(b"\xef\xbb\xbf"), False
        text = reader.long_data_line(block)
        if text is not None:
            reader.read(text, 0)
        yield from reader.take()
    reader.dispatch()
    yield from reader.take()


_new_tuple = tuple.__new__
_EVENT_START = "\n\ndata: "
_BULK_MIN_EVENTS = 8
_LONG_LINE = 1024 * 1024


class _EventReader:
    """The server-sent event being read, fed blocks of whole lines (a ``str``, lines joined by ``\\n``).

    ``read`` collects each event a block completes: an ``SSEEvent``, or with ``gemini`` only
    the data of the default-type events (Gemini's values), a line starting with ``{`` or
    ``[`` ending the SSE part (Gemini's bare JSON: ``read`` returns where it starts).

    A block of a busy stream is mostly a run of ``data: ...`` events with nothing else
    between their blank lines: such a run is cut out by one ``split`` on ``\\n\\ndata: ``,
    checked by counting line breaks, and turned into events by ``map`` (C loops, no Python
    step per event). Any other block is walked line by line with ``find``, each line sliced
    once, so a huge line is copied once and never scanned again.
    """

    def __init__(self, *, gemini: bool) -> None:
        self.data: list[str] = []
        self.event = ""
        self.event_id: str | None = None
        self.gemini = gemini
        self.done: list[Any] = []  # SSEEvent, or the data str of a default-type event when ``gemini``

    def take(self) -> list[Any]:
        done, self.done = self.done, []
        return done

    def long_data_line(self, block: bytes) -> str | None:
        """``block`` decoded, except a long ``data: `` line it starts with: that one is decoded straight into the event.

        A huge event (one line of megabytes) is then decoded once and never sliced; ``None``
        when nothing is left of the block.
        """
        if len(block) < _LONG_LINE or not block.startswith(b"data: "):
            return _decode(block)
        cut = block.find(b"\n")
        stop = len(block) if cut < 0 else cut
        self.data.append(_decode(memoryview(block)[6:stop]))
        return None if cut < 0 else _decode(block[cut + 1 :])

    def read(self, text: str, start: int) -> int | None:
        """Read ``text[start:]``; return where a bare JSON line starts (``gemini`` only), or ``None``."""
        end = len(text)
        if start == 0 and text.count(_EVENT_START) >= _BULK_MIN_EVENTS:
            items = text.split(_EVENT_START)
            # items[0] ends the event being read; the others are events after "data: ", the last unfinished
            first, last = items[0], items[-1]
            breaks = text.count("\n") - 2 * (len(items) - 1) - first.count("\n") - last.count("\n")
            if breaks == 0:  # each event between the first and the last is one data line and its blank line
                bare = self._walk(text, 0, len(first))
                if bare is not None:
                    return bare
                self.dispatch()
                whole = items[1:-1]
                if self.gemini:
                    self.done.extend(whole)
                else:
                    events = zip(whole, repeat("message"), repeat(self.event_id))
                    self.done.extend(map(_new_tuple, repeat(SSEEvent), events))
                self.data.append(last)  # its "data: " is cut; its line is whole when it holds a line break
                cut = last.find("\n")
                if cut < 0:
                    return None
                self.data[-1] = last[:cut]
                return self._walk(text, end - len(last) + cut + 1, end)
        return self._walk(text, start, end)

    def _walk(self, text: str, pos: int, end: int) -> int | None:
        """Read the lines of ``text[pos:end]`` one by one (``pos == end`` is one blank line)."""
        while True:
            cut = text.find("\n", pos, end)
            stop = end if cut < 0 else cut
            if text.startswith("data:", pos, stop):
                self.data.append(text[pos + 6 if text.startswith(" ", pos + 5, stop) else pos + 5 : stop])
            elif pos == stop:
                self.dispatch()
            elif self.gemini and text[pos] in "{[":
                self.dispatch()
                return pos
            else:
                name, _, value = text[pos:stop].partition(":")
                value = value[1:] if value[:1] == " " else value
                if name == "data":
                    self.data.append(value)
                elif name == "event":
                    self.event = value
                elif name == "id":
                    self.event_id = value
            if cut < 0:
                return None
            pos = cut + 1

    def dispatch(self) -> None:
        """The blank line: the event read so far (if it has data) is complete."""
        if self.data:
            data = self.data[0] if len(self.data) == 1 else "\n".join(self.data)
            if not self.gemini:
                self.done.append(_new_tuple(SSEEvent, (data, self.event or "message", self.event_id)))
            elif self.event in ("", "message"):
                self.done.append(data)
            self.data = []
        self.event = ""


def iter_sse_or_json(
    chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES, max_value_bytes: int = MAX_LINE_BYTES
) -> Iterator[Any]:
    """Yield the parsed JSON values of a stream that mixes SSE with bare JSON: Gemini's.

    Each ``data:`` event of the default type is one value (named events such as pings,
    comments and other fields are skipped). A line starting with ``{`` starts a bare JSON
    value (the error chunk Gemini may pretty-print without ``data:``); a line starting with
    ``[`` starts a JSON array (Gemini's stream without ``alt=sse``), whose elements are
    yielded one by one as each completes. Linear: bare JSON is read a block of lines at a
    time by the C decoder, and an unfinished value is only counted (brackets outside strings)
    until it may close. A value longer than ``max_value_bytes``, one that is not JSON, or a
    stream ending inside one raises ``LLMResponseException``.
    """
    bare = _BareJson(max_value_bytes)
    reader = _EventReader(gemini=True)
    for block in _line_blocks(chunks, max_line_bytes=max_line_bytes, any_ending=True):
        text = reader.long_data_line(block)
        pos: int | None = None if text is None else 0
        while pos is not None and text is not None:
            if bare.open:
                rest = bare.feed(text, pos)
                yield from bare.take()
                text, pos = rest if rest is not None else (text, None)
                continue
            pos = reader.read(text, pos)
            yield from _parsed(reader.take())
            if pos is not None:
                bare.start(array=text[pos] == "[")
    bare.finish()
    reader.dispatch()
    yield from _parsed(reader.take())


def _parsed(data: list[str]) -> Iterator[Any]:
    """Each event's data parsed as JSON, in a C loop."""
    try:
        yield from map(json.loads, data)
    except (ValueError, RecursionError) as error:
        text = next(text for text in data if not _is_json(text))
        msg = f"the stream holds an event that is not JSON: {_excerpt(text)}"
        raise LLMResponseException(msg) from error


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


_BRACKET = re.compile(r"[][{}]")
_BETWEEN_ELEMENTS = re.compile(r"[\s,]*")
_DECODER = json.JSONDecoder()


class _BareJson:
    """The bare JSON value (or array of values) being read, and what is kept of an unfinished one.

    JSON strings cannot hold a raw line break, so every line starts outside a string and
    brackets can be counted line-block by line-block.
    """

    def __init__(self, max_value_bytes: int) -> None:
        self.max_value_bytes = max_value_bytes
        self.open = False
        self.array = False
        self.fresh = False
        self.depth = 0
        self.pending: list[str] = []
        self.size = 0
        self.values: list[Any] = []

    def start(self, *, array: bool) -> None:
        self.open, self.array, self.fresh = True, array, True

    def finish(self) -> None:
        """The stream has ended: raise if it ended inside a value."""
        if self.open:
            msg = f"the stream ended inside a JSON value: {_excerpt(chr(10).join(self.pending)[:200])}"
            raise LLMResponseException(msg, retryable=True)

    def take(self) -> list[Any]:
        values, self.values = self.values, []
        return values

    def feed(self, text: str, pos: int) -> tuple[str, int] | None:
        """Read ``text[pos:]`` (whole lines); return the text and position after the value, or ``None`` when it is all taken."""
        if self.pending:
            if pos:
                text, pos = text[pos:], 0
            if not self._closes_in(text):
                self._keep(text)
                return None
            text = "\n".join([*self.pending, text])
            self.pending, self.size = [], 0
        if self.fresh:
            self.fresh = False
            pos += 1 if self.array else 0
        while True:
            if self.array:
                between = _BETWEEN_ELEMENTS.match(text, pos)
                pos = between.end() if between is not None else pos
                if pos == len(text):
                    return None
                if text[pos] == "]":
                    self.open = False
                    return text, pos + 1
            try:
                value, end = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as error:
                tail = text[pos:]
                self.depth = 0
                if not self._closes_in(tail) and self.depth > 0:
                    self._keep(tail)
                    return None
                raise self._error(f"the stream holds a JSON value that is not valid: {_excerpt(tail)}") from error
            except RecursionError as error:
                raise self._error(f"the stream holds a JSON value nested too deep: {_excerpt(text[pos:])}") from error
            if end - pos > self.max_value_bytes:
                raise self._error(f"a JSON value of the stream exceeds {self.max_value_bytes} bytes")
            self.values.append(value)
            pos = end
            if not self.array:
                self.open = False
                return text, pos

    def _keep(self, text: str) -> None:
        """Keep ``text`` of an unfinished value; ``self.depth`` already counts its brackets."""
        self.pending.append(text)
        self.size += len(text) + 1
        if self.size > self.max_value_bytes:
            raise self._error(f"a JSON value of the stream exceeds {self.max_value_bytes} bytes")

    def _error(self, msg: str) -> LLMResponseException:
        self.open, self.pending, self.values = False, [], []
        return LLMResponseException(msg)

    def _closes_in(self, text: str) -> bool:
        """Whether the bracket depth reaches 0 in ``text``; when not, ``self.depth`` takes its brackets in.

        Strings are cut out and brackets counted at C speed; only a block that may close is
        walked bracket by bracket.
        """
        text = _outside_strings(text)
        closes = text.count("}") + text.count("]")
        if self.depth - closes > 0:
            self.depth += text.count("{") + text.count("[") - closes
            return False
        depth = self.depth
        for bracket in _BRACKET.finditer(text):
            depth += 1 if bracket.group() in "{[" else -1
            if depth <= 0:
                return True
        self.depth = depth
        return False


def _outside_strings(text: str) -> str:
    """``text`` without its JSON strings: escapes dropped, then every other piece between quotes.

    A block with few quotes and no escapes (a huge string's line) is cut with ``find``, so
    the string's inside is never copied.
    """
    if '"' not in text:
        return text
    if "\\" in text:
        text = text.replace("\\\\", "").replace('\\"', "")
    elif len(text) > _LONG_LINE and text.count('"') <= _FEW_QUOTES:
        pieces, pos = [], 0
        while (opening := text.find('"', pos)) >= 0:
            pieces.append(text[pos:opening])
            closing = text.find('"', opening + 1)
            if closing < 0:
                return "".join(pieces)
            pos = closing + 1
        pieces.append(text[pos:])
        return "".join(pieces)
    return "".join(text.split('"')[::2])


_FEW_QUOTES = 64


def _decode(data: bytes | memoryview) -> str:
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as error:
        msg = f"the response is not valid UTF-8 ({error.reason})"
        raise LLMResponseException(msg) from error


def json_object(data: str, *, what: str, provider: str | None = None) -> dict[str, Any]:
    """``data`` (a streamed event's payload) parsed as a JSON object.

    Anything else raises ``LLMResponseException`` whose message starts with ``what``
    (e.g. "Anthropic streamed a ping event whose data") and quotes the payload.
    """
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as error:
        msg = f"{what} is not JSON: {data[:200]!r}"
        raise LLMResponseException(msg, provider=provider) from error
    if not isinstance(value, dict):
        msg = f"{what} is not a JSON object: {type(value).__name__}"
        raise LLMResponseException(msg, provider=provider)
    return value


def _excerpt(text: str, limit: int = 200) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
