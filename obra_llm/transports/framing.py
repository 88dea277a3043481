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
from itertools import chain, repeat
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


def _line_blocks(
    chunks: Iterable[bytes], *, max_line_bytes: int, any_ending: bool, keep_endings: bool = False
) -> Iterator[bytes]:
    """The complete lines of ``chunks`` in blocks, the block's last line ending dropped.

    ``any_ending``: lines end at ``\\r\\n``, ``\\r`` or ``\\n``, turned into ``\\n``, or with
    ``keep_endings`` left as they are (the SSE readers cut a run of ``\\r\\n`` events without
    that copy); a chunk ending in ``\\r`` drops the ``\\n`` the next one may start with, so
    ``\\r\\n`` in a block is always one ending. Otherwise lines end only at ``\\n``. Only the
    piece of a chunk before its last line end can hold one: the pieces of a long line are
    searched once, never the joined line. The last line is yielded even unterminated. An
    unfinished line is kept as a list of chunks and joined once, when its end arrives:
    appending to one growing ``bytes`` would copy it again for every chunk. A line longer
    than ``max_line_bytes`` raises, wherever the chunks were cut: only a block that is
    longer as a whole is split to measure its lines.
    """
    parts: list[bytes | bytearray] = []
    size = 0
    after_cr = False
    for chunk in chunks:
        if not chunk:
            continue
        cut = end = chunk.rfind(b"\n")
        if any_ending:
            if after_cr and chunk[:1] == b"\n":
                chunk, cut = chunk[1:], cut - 1
            after_cr = chunk[-1:] == b"\r"
            cr = chunk.rfind(b"\r", cut + 1)
            if cr >= 0:
                cut = end = cr
            else:
                end = cut - 1 if cut > 0 and chunk[cut - 1] == _CR else cut
        if cut < 0:
            if len(chunk) < _SMALL_CHUNK and parts and type(parts[-1]) is bytearray:
                parts[-1] += chunk
            else:
                parts.append(bytearray(chunk) if len(chunk) < _SMALL_CHUNK else chunk)
            size += len(chunk)
            if size > max_line_bytes:
                raise _overlong(max_line_bytes)
            continue
        lines = chunk[:end] if keep_endings or not any_ending else _lf(chunk[:end])
        if size + len(lines) > max_line_bytes and _longest_line(lines, size, any_ending=any_ending) > max_line_bytes:
            raise _overlong(max_line_bytes)
        parts.append(lines)
        yield b"".join(parts)
        rest = chunk[cut + 1 :]
        parts, size = [rest], len(rest)
        if size > max_line_bytes:
            raise _overlong(max_line_bytes)
    rest = b"".join(parts)
    if rest:
        yield rest


_CR = ord("\r")
#: A piece of an unfinished line shorter than this is copied onto the last piece: a peer
#: sending a line a few bytes at a time would otherwise cost a ``bytes`` object (~35 bytes) each.
_SMALL_CHUNK = 4096


def _longest_line(lines: bytes, pending: int, *, any_ending: bool) -> int:
    """The length of the longest of ``lines`` (whole lines), the first continuing ``pending`` bytes kept before."""
    split = (_lf(lines) if any_ending else lines).split(b"\n")
    return max(pending + len(split[0]), max(map(len, split[1:]), default=0))


def _lf(block: bytes) -> bytes:
    """``block`` with its line endings turned into ``\\n``."""
    if b"\r" not in block:
        return block
    return block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


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
    ``\\r`` or ``\\n`` inside a character) and cut by ``_EventReader``; the events of a
    block are handed on by ``chain`` (no Python step per event, where a generator would
    resume once for each).
    """
    return chain.from_iterable(_sse_blocks(chunks, max_line_bytes))


def _sse_blocks(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[list[SSEEvent]]:
    """The events of each block of ``chunks``, in one list per block."""
    reader = _EventReader(gemini=False)
    for block in _event_stream_blocks(chunks, max_line_bytes):
        reader.feed(block)
        yield reader.take()
    reader.dispatch()
    yield reader.take()


def _event_stream_blocks(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[bytes]:
    """The blocks of lines an SSE reader reads: every line ending kept, one leading BOM skipped."""
    blocks = _line_blocks(chunks, max_line_bytes=max_line_bytes, any_ending=True, keep_endings=True)
    for block in blocks:
        yield block.removeprefix(b"\xef\xbb\xbf")
        break
    yield from blocks


_new_tuple = tuple.__new__
_EVENT_START = "\n\ndata: "
_CRLF_EVENT_START = "\r\n\r\ndata: "
_BULK_MIN_EVENTS = 8
_LONG_LINE = 1024 * 1024


def _is_run(block: bytes, items: list[str], *, crlf: bool) -> bool:
    """Whether each event between the first and the last of ``items`` (``block`` decoded and split at every event start) is one data line and its blank line.

    That is when the splits (two line breaks each) hold every ``\\n`` of ``block``, and with
    ``crlf`` every ``\\r``, but those of the first and last items: counted, not searched
    item by item, and in the bytes, where the text may take four bytes a character.
    """
    if len(items) <= _BULK_MIN_EVENTS:
        return False
    first, last = items[0], items[-1]
    between = 2 * (len(items) - 1)
    if block.count(b"\n") != between + first.count("\n") + last.count("\n"):
        return False
    return not crlf or block.count(b"\r") == between + first.count("\r") + last.count("\r")


def _lf_text(text: str) -> str:
    """``text`` with its line endings turned into ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _EventReader:
    """The server-sent event being read, fed blocks of whole lines.

    ``feed`` and ``read`` collect each event a block completes: an ``SSEEvent``, or with
    ``gemini`` only the data of the default-type events (Gemini's values), a line starting
    with ``{`` or ``[`` ending the SSE part (Gemini's bare JSON: they return the text and
    where it starts).

    A block of a busy stream is mostly a run of ``data: ...`` events with nothing else
    between their blank lines: such a run is cut out by one ``split`` on ``\\n\\ndata: ``
    (``\\r\\n\\r\\ndata: `` in a block holding a ``\\r``, so that its endings need not be
    rewritten first), checked by counting line breaks, and turned into events by ``map`` (C
    loops, no Python step per event). Any other block is walked line by line with ``find``,
    each line sliced once, so a huge line is copied once and never scanned again.
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

    def feed(self, block: bytes) -> tuple[str, int] | None:
        """Read ``block`` (whole lines, any endings); return the text and where a bare JSON line starts in it, or ``None``."""
        if len(block) >= _LONG_LINE and block.startswith(b"data: "):
            rest = self._long_data_line(block)
            if rest is None:
                return None
            block = rest
        if b"\r" in block:
            text = _decode(block)
            items = text.split(_CRLF_EVENT_START)
            if _is_run(block, items, crlf=True):
                return self._read_run(text, items, crlf=True)
            block = _lf(block)
        text = _decode(block)
        items = text.split(_EVENT_START)
        if _is_run(block, items, crlf=False):
            return self._read_run(text, items, crlf=False)
        return self.read(text, 0)

    def _long_data_line(self, block: bytes) -> bytes | None:
        """Decode the long ``data: `` line ``block`` starts with straight into the event; return the lines after it.

        A huge event (one line of megabytes) is then decoded once and never sliced; ``None``
        when nothing is left of the block.
        """
        stop = block.find(b"\n")
        stop = len(block) if stop < 0 else stop
        cr = block.find(b"\r", 0, stop)
        stop = stop if cr < 0 else cr
        self.data.append(_decode(memoryview(block)[6:stop]))
        if stop == len(block):
            return None
        return block[stop + 2 if block.startswith(b"\r\n", stop) else stop + 1 :]

    def _read_run(self, text: str, items: list[str], *, crlf: bool) -> tuple[str, int] | None:
        """Read ``text``, split into ``items`` at each event start of a run (see ``_is_run``)."""
        # items[0] ends the event being read; the others are events after "data: ", the last unfinished
        first, last = (_lf_text(items[0]), _lf_text(items[-1])) if crlf else (items[0], items[-1])
        bare = self._walk(first, 0, len(first))
        if bare is not None:  # the lines before the run, and so their positions, are the same in the whole text
            return (_lf_text(text) if crlf else text), bare
        self.dispatch()
        whole = items[1:-1]
        if self.gemini:
            self.done.extend(whole)
        else:
            events = zip(whole, repeat("message"), repeat(self.event_id))
            self.done.extend(map(_new_tuple, repeat(SSEEvent), events))
        cut = last.find("\n")  # its "data: " is cut; its line is whole when it holds a line break
        self.data.append(last if cut < 0 else last[:cut])
        return None if cut < 0 else self.read(last, cut + 1)

    def read(self, text: str, start: int) -> tuple[str, int] | None:
        """Read the lines of ``text[start:]`` (``\\n`` endings); return the text and where a bare JSON line starts, or ``None``."""
        bare = self._walk(text, start, len(text))
        return None if bare is None else (text, bare)

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
                elif name == "id" and "\0" not in value:  # WHATWG: an id holding NUL is ignored
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
    for block in _event_stream_blocks(chunks, max_line_bytes):
        if bare.open:
            at: tuple[str, int] | None = (_decode(_lf(block)), 0)
        else:
            at = reader.feed(block)
            yield from _parsed(reader.take())
        while at is not None:
            text, pos = at
            if not bare.open:
                bare.start(array=text[pos] == "[")
            at = bare.feed(text, pos)
            yield from bare.take()
            if at is not None:
                at = reader.read(*at)
                yield from _parsed(reader.take())
    bare.finish()
    reader.dispatch()
    yield from _parsed(reader.take())


def _parsed(data: list[str]) -> Iterator[Any]:
    """Each event's data parsed as JSON."""
    for text in data:
        try:
            yield _loads(text)
        except (ValueError, RecursionError) as error:
            msg = f"the stream holds an event that is not JSON: {_excerpt(text)}"
            raise LLMResponseException(msg) from error


def _loads(text: str) -> Any:
    """``json.loads(text)``, with ``raw_decode`` first.

    ``json.loads`` spends more of a small value's time in Python around the C scanner than
    in it. When ``raw_decode`` does not read the whole text (whitespace around the value, or
    no value), ``json.loads`` decides, with its own errors.
    """
    try:
        value, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        end = -1
    return value if end == len(text) else json.loads(text)


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
        joined = False
        if self.pending:  # then ``pos`` is 0: a kept value's next lines are fed whole
            if not self._closes_in(text):
                self._keep(text)
                return None
            text, joined = "\n".join([*self.pending, text]), True
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
                # A kept value that the count said closes is complete: strings do not span
                # lines in JSON, so the count is exact and a failure here is final (counting
                # again would rescan everything kept, for every later line, on bad input).
                if not joined and not self._closes_in(tail) and self.depth > 0:
                    self._keep(tail)
                    return None
                raise self._error(f"the stream holds a JSON value that is not valid: {_excerpt(tail)}") from error
            except RecursionError as error:
                raise self._error(f"the stream holds a JSON value nested too deep: {_excerpt(text[pos:])}") from error
            if end - pos > self.max_value_bytes:
                raise self._error(f"a JSON value of the stream exceeds {self.max_value_bytes} bytes")
            self.values.append(value)
            pos, joined = end, False
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

    In a long block (a huge string's line) the first ``_FEW_QUOTES`` strings are cut with
    ``find``, so a huge string's inside is never copied, nor counted; the rest is split.
    """
    if '"' not in text:
        return text
    if "\\" in text:
        text = text.replace("\\\\", "").replace('\\"', "")
    pieces: list[str] = []
    pos = 0
    if len(text) > _LONG_LINE:
        for _ in range(_FEW_QUOTES):
            opening = text.find('"', pos)
            if opening < 0:
                break
            pieces.append(text[pos:opening])
            closing = text.find('"', opening + 1)
            if closing < 0:
                return "".join(pieces)
            pos = closing + 1
    return "".join([*pieces, *text[pos:].split('"')[::2]])


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
        value = _loads(data)
    except (ValueError, RecursionError) as error:
        msg = f"{what} is not JSON: {data[:200]!r}"
        raise LLMResponseException(msg, provider=provider) from error
    if not isinstance(value, dict):
        msg = f"{what} is not a JSON object: {type(value).__name__}"
        raise LLMResponseException(msg, provider=provider)
    return value


def _excerpt(text: str, limit: int = 200) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
