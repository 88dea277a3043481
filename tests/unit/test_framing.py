"""NDJSON, SSE and SSE-or-JSON framing over chunks split anywhere: exhaustive splits and properties."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obra_llm.errors import LLMResponseException
from obra_llm.transports.framing import SSEEvent, iter_lines, iter_ndjson, iter_sse, iter_sse_or_json, json_object

NDJSON = (
    '{"message":{"content":"héllo 👋"},"done":false}\r\n'
    "\n"
    '{"message":{"content":"中文\\n"},"done":false}\n'
    '{"done":true,"eval_count":3}'
).encode()
NDJSON_VALUES = [
    {"message": {"content": "héllo 👋"}, "done": False},
    {"message": {"content": "中文\n"}, "done": False},
    {"done": True, "eval_count": 3},
]

SSE = (
    ": keep-alive comment\r\n"
    "event: message_start\r\n"
    'data: {"type":"start","text":"é"}\r\n'
    "\r\n"
    "id: 7\n"
    "data:first line\n"
    "data: second 😀\n"
    "retry: 1000\n"
    "\n"
    "event: ping\r"
    "data: {}\r"
    "\r"
    "data: [DONE]"
).encode()
SSE_EVENTS = [
    SSEEvent(data='{"type":"start","text":"é"}', event="message_start"),
    SSEEvent(data="first line\nsecond 😀", event="message", id="7"),
    SSEEvent(data="{}", event="ping", id="7"),
    SSEEvent(data="[DONE]", event="message", id="7"),
]


def _split(payload: bytes, *cuts: int) -> list[bytes]:
    points = [0, *sorted(cuts), len(payload)]
    return [payload[start:end] for start, end in zip(points, points[1:], strict=False)]


# -- iter_lines --------------------------------------------------------------------------


def test_lines_with_every_terminator() -> None:
    assert list(iter_lines([b"a\nb\r\nc\rd"])) == ["a", "b", "c", "d"]


def test_blank_lines_are_kept() -> None:
    assert list(iter_lines([b"a\n\n\r\n\rb\n"])) == ["a", "", "", "", "b"]


def test_no_lines_from_no_bytes() -> None:
    assert list(iter_lines([])) == []
    assert list(iter_lines([b"", b""])) == []


def test_final_carriage_return_ends_the_last_line() -> None:
    assert list(iter_lines([b"a\r"])) == ["a"]


def test_crlf_split_between_chunks_is_one_terminator() -> None:
    assert list(iter_lines([b"a\r", b"\nb"])) == ["a", "b"]


def test_cr_then_cr_split_is_two_lines() -> None:
    assert list(iter_lines([b"a\r", b"\rb"])) == ["a", "", "b"]


def test_multibyte_character_split_across_chunks() -> None:
    data = "é👋中".encode()
    assert list(iter_lines([bytes([byte]) for byte in data])) == ["é👋中"]


def test_lines_are_yielded_before_the_stream_ends() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"first\nsec"
        raise AssertionError("read past the first complete line")

    lines = iter_lines(chunks())
    assert next(lines) == "first"


def test_invalid_utf8_is_a_response_error() -> None:
    with pytest.raises(LLMResponseException) as caught:
        list(iter_lines([b"ok\n", b"\xff\xfe\n"]))
    assert str(caught.value) == "the response is not valid UTF-8 (invalid start byte)"
    assert isinstance(caught.value.__cause__, UnicodeDecodeError)


def test_truncated_utf8_at_the_end_is_a_response_error() -> None:
    with pytest.raises(LLMResponseException, match="not valid UTF-8"):
        list(iter_lines(["é".encode()[:1]]))


def test_overlong_line_is_a_response_error() -> None:
    with pytest.raises(LLMResponseException) as caught:
        list(iter_lines([b"x" * 6, b"y" * 6], max_line_bytes=10))
    assert str(caught.value) == "a line of the response exceeds 10 bytes"


def test_long_lines_within_the_limit_pass() -> None:
    assert list(iter_lines([b"x" * 6, b"y" * 4 + b"\n"], max_line_bytes=10)) == ["x" * 6 + "y" * 4]


# -- every split point -------------------------------------------------------------------


@pytest.mark.parametrize("cut", range(1, len(NDJSON)))
def test_ndjson_every_single_split_point(cut: int) -> None:
    assert list(iter_ndjson(_split(NDJSON, cut))) == NDJSON_VALUES


@pytest.mark.parametrize("cut", range(1, len(SSE)))
def test_sse_every_single_split_point(cut: int) -> None:
    assert list(iter_sse(_split(SSE, cut))) == SSE_EVENTS


def test_ndjson_every_pair_of_split_points() -> None:
    size = len(NDJSON)
    for first in range(1, size):
        for second in range(first, size):
            assert list(iter_ndjson(_split(NDJSON, first, second))) == NDJSON_VALUES, (first, second)


def test_sse_one_byte_at_a_time() -> None:
    assert list(iter_sse([bytes([byte]) for byte in SSE])) == SSE_EVENTS


def test_ndjson_one_byte_at_a_time() -> None:
    assert list(iter_ndjson([bytes([byte]) for byte in NDJSON])) == NDJSON_VALUES


def test_split_points_cover_crlf_and_utf8_interiors() -> None:
    """The samples really contain the hard cases the split tests are meant to hit."""
    assert b"\r\n" in NDJSON and b"\r\n" in SSE
    assert "👋".encode() in NDJSON and "😀".encode() in SSE


# -- NDJSON ------------------------------------------------------------------------------


def test_ndjson_skips_blank_lines() -> None:
    assert list(iter_ndjson([b'\n  \n{"a":1}\n\t\n'])) == [{"a": 1}]


def test_ndjson_any_json_value() -> None:
    assert list(iter_ndjson([b'1\n"s"\nnull\n[1]\n'])) == [1, "s", None, [1]]


def test_ndjson_bad_line_is_a_response_error_with_an_excerpt() -> None:
    with pytest.raises(LLMResponseException) as caught:
        list(iter_ndjson([b'{"a":1}\n{"cut": \n']))
    assert str(caught.value) == "the stream holds a line that is not JSON: '{\"cut\": '"
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)


def test_ndjson_excerpt_is_truncated() -> None:
    with pytest.raises(LLMResponseException) as caught:
        list(iter_ndjson([b"x" * 500]))
    assert str(caught.value) == f"the stream holds a line that is not JSON: {'x' * 200 + '...'!r}"


# -- SSE ---------------------------------------------------------------------------------


def test_sse_comment_only_stream_has_no_events() -> None:
    assert list(iter_sse([b": hello\n\n: again\n\n"])) == []


def test_sse_multiline_data_joins_with_newline() -> None:
    assert list(iter_sse([b"data: a\ndata: b\ndata:\ndata: c\n\n"])) == [SSEEvent(data="a\nb\n\nc")]


def test_sse_only_one_space_is_dropped() -> None:
    assert list(iter_sse([b"data:  two spaces\n\n"])) == [SSEEvent(data=" two spaces")]


def test_sse_data_without_space() -> None:
    assert list(iter_sse([b"data:{}\n\n"])) == [SSEEvent(data="{}")]


def test_sse_event_name_resets_after_dispatch() -> None:
    assert list(iter_sse([b"event: delta\ndata: 1\n\ndata: 2\n\n"])) == [
        SSEEvent(data="1", event="delta"),
        SSEEvent(data="2", event="message"),
    ]


def test_sse_event_without_data_is_not_dispatched() -> None:
    assert list(iter_sse([b"event: ping\n\ndata: x\n\n"])) == [SSEEvent(data="x")]


def test_sse_unknown_fields_are_ignored() -> None:
    assert list(iter_sse([b"foo: bar\nretry: 5\ndata: y\n\n"])) == [SSEEvent(data="y")]


def test_sse_field_without_colon_has_an_empty_value() -> None:
    """WHATWG: a line with no colon is a field named by the whole line, with value ""."""
    assert list(iter_sse([b"data\ndata: y\n\n"])) == [SSEEvent(data="\ny")]
    assert list(iter_sse([b"data\n\n"])) == [SSEEvent(data="")]


def test_sse_leading_byte_order_mark_is_stripped() -> None:
    """WHATWG: the stream is UTF-8 decoded with one leading BOM removed, even split across chunks."""
    bom = "\ufeff".encode()
    assert list(iter_sse([bom + b"data: first\n\n"])) == [SSEEvent(data="first")]
    assert list(iter_sse([bom[:2], bom[2:] + b"data: first\n\n"])) == [SSEEvent(data="first")]


def test_sse_final_event_without_blank_line_is_dispatched() -> None:
    assert list(iter_sse([b"event: end\ndata: bye"])) == [SSEEvent(data="bye", event="end")]


def test_sse_crlf_lines() -> None:
    assert list(iter_sse([b"event: e\r\ndata: d\r\n\r\n"])) == [SSEEvent(data="d", event="e")]


def test_sse_id_persists_across_events() -> None:
    assert list(iter_sse([b"id: 1\ndata: a\n\ndata: b\n\n"])) == [SSEEvent("a", "message", "1"), SSEEvent("b", "message", "1")]


# -- SSE or bare JSON (Gemini) -------------------------------------------------------------

PRETTY_ERROR = {"error": {"code": 429, "message": 'brace } bracket ] quote " backslash \\ [', "status": "RESOURCE_EXHAUSTED"}}
MIXED = (
    'data: {"a":1}\r\n\r\n'
    "event: ping\r\ndata: {}\r\n\r\n"
    + json.dumps(PRETTY_ERROR, indent=2).replace("\n", "\r\n")
    + '\r\ndata: {"after":"é"}\r\n\r\n'
).encode()
MIXED_VALUES = [{"a": 1}, PRETTY_ERROR, {"after": "é"}]
ARRAY_VALUES = [{"c": [1, {"x": "]"}]}, {"d": 'q"}'}, {"e": []}]


@pytest.mark.parametrize("cut", range(1, len(MIXED)))
def test_sse_or_json_every_single_split_point(cut: int) -> None:
    assert list(iter_sse_or_json(_split(MIXED, cut))) == MIXED_VALUES


@pytest.mark.parametrize("payload", [json.dumps(ARRAY_VALUES, indent=2), json.dumps(ARRAY_VALUES)], ids=["pretty", "compact"])
def test_sse_or_json_yields_each_element_of_a_json_array_one_byte_at_a_time(payload: str) -> None:
    assert list(iter_sse_or_json([bytes([byte]) for byte in payload.encode()])) == ARRAY_VALUES


def test_sse_or_json_yields_an_element_before_the_array_ends() -> None:
    def chunks() -> Iterator[bytes]:
        yield b'[{"a": 1},\n'
        raise AssertionError("read past the first complete element")

    assert next(iter_sse_or_json(chunks())) == {"a": 1}


def test_sse_or_json_goes_back_to_sse_after_a_bare_value() -> None:
    assert list(iter_sse_or_json([b'{"e": 1}\ndata: 2\n\n[3]\ndata: 4'])) == [{"e": 1}, 2, 3, 4]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{\n  "a": 1\n', "the stream ended inside a JSON value: '{\\n  \"a\": 1'"),
        (b'{"a": tru}\n', "the stream holds a JSON value that is not valid: '{\"a\": tru}'"),
        (b"data: {nope\n\n", "the stream holds an event that is not JSON: '{nope'"),
        (b"[" * 50_000 + b"]" * 50_000 + b"\n", "the stream holds a JSON value nested too deep: '"),
    ],
    ids=["ended-inside", "invalid", "invalid-event", "too-deep"],
)
def test_sse_or_json_corrupt_input_is_a_response_error(payload: bytes, message: str) -> None:
    with pytest.raises(LLMResponseException) as caught:
        list(iter_sse_or_json([payload]))
    assert str(caught.value).startswith(message)


def test_sse_or_json_bounds_a_bare_value() -> None:
    lines = [b"{"] + [b'  "k": "' + b"v" * 50 + b'",'] * 30 + [b'  "end": 1', b"}"]
    assert list(iter_sse_or_json([b"\n".join(lines)], max_value_bytes=4096)) == [{"k": "v" * 50, "end": 1}]
    with pytest.raises(LLMResponseException, match="a JSON value of the stream exceeds 1000 bytes"):
        list(iter_sse_or_json([line + b"\n" for line in lines], max_value_bytes=1000))


# -- properties --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@st.composite
def chunkings(draw: st.DrawFn, payload: bytes) -> list[bytes]:
    cuts = draw(st.lists(st.integers(0, len(payload)), max_size=12))
    return _split(payload, *cuts)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(json_values, max_size=6), terminator=st.sampled_from(["\n", "\r\n"]), data=st.data())
def test_property_ndjson_any_chunking_equals_one_chunk(values: list[Any], terminator: str, data: st.DataObject) -> None:
    payload = "".join(json.dumps(value, ensure_ascii=False) + terminator for value in values).encode()
    whole = list(iter_ndjson([payload]))
    assert whole == values
    assert list(iter_ndjson(data.draw(chunkings(payload)))) == whole


sse_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(st.tuples(st.none() | sse_text, st.lists(sse_text, min_size=1, max_size=3)), max_size=5),
    terminator=st.sampled_from(["\n", "\r\n", "\r"]),
    data=st.data(),
)
def test_property_sse_any_chunking_equals_one_chunk(
    events: list[tuple[str | None, list[str]]], terminator: str, data: st.DataObject
) -> None:
    lines: list[str] = []
    for name, data_lines in events:
        if name is not None:
            lines.append(f"event: {name}")
        lines.extend(f"data: {line}" for line in data_lines)
        lines.append("")
    payload = "".join(line + terminator for line in lines).encode()
    whole = list(iter_sse([payload]))
    assert [(event.event, event.data) for event in whole] == [
        (name or "message", "\n".join(data_lines)) for name, data_lines in events
    ]
    assert list(iter_sse(data.draw(chunkings(payload)))) == whole


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=40), max_size=6))
def test_property_random_bytes_raise_only_response_errors(chunks: list[bytes]) -> None:
    for reader in (iter_ndjson, iter_sse, iter_lines, iter_sse_or_json):
        try:
            list(reader(chunks))
        except LLMResponseException:
            pass


@settings(max_examples=200, deadline=None)
@given(values=st.lists(json_values, max_size=5), indent=st.sampled_from([None, 0, 2]), data=st.data())
def test_property_sse_or_json_array_any_chunking_equals_its_elements(
    values: list[Any], indent: int | None, data: st.DataObject
) -> None:
    payload = json.dumps(values, indent=indent, ensure_ascii=False).encode()
    assert list(iter_sse_or_json(data.draw(chunkings(payload)))) == values


# -- the fast SSE paths against a line-by-line reference ----------------------------------


def _reference_sse(payload: bytes) -> list[SSEEvent]:
    """WHATWG framing one line at a time, with nothing clever: what every fast path must agree with."""
    text = payload.decode().removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    events: list[SSEEvent] = []
    data: list[str] = []
    event, event_id = "", None
    for line in text.split("\n"):
        if not line:
            if data:
                events.append(SSEEvent("\n".join(data), event or "message", event_id))
            data, event = [], ""
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value
    if data:
        events.append(SSEEvent("\n".join(data), event or "message", event_id))
    return events


_sse_lines = st.lists(
    st.sampled_from(
        ["data: {}", 'data: {"k": "v"}', "data:1", "data: 2", "data", "event: ping", "event: message", "id: 9", "id: 1\0", ": c", ""]
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(_sse_lines, min_size=0, max_size=40),
    simple_run=st.integers(min_value=0, max_value=30),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    data=st.data(),
)
def test_property_sse_fast_paths_equal_the_line_by_line_reference(
    events: list[list[str]], simple_run: int, ending: str, data: st.DataObject
) -> None:
    """Runs of plain ``data:`` events (the split path), long lines (decoded straight from the bytes) and
    everything else (the walk) mixed, chunked anywhere: the same events as the reference, for
    ``iter_sse`` and for ``iter_sse_or_json``'s values."""
    lines = [line for event in events for line in [*event, ""]]
    position = data.draw(st.integers(min_value=0, max_value=len(lines)))
    lines[position:position] = [line for n in range(simple_run) for line in (f"data: {n}", "")]
    payload = ending.join(lines).encode()
    expected = _reference_sse(payload)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("obra_llm.transports.framing._LONG_LINE", data.draw(st.sampled_from([4, 1024 * 1024])))
        patch.setattr("obra_llm.transports.framing._BULK_MIN_EVENTS", data.draw(st.sampled_from([1, 8])))
        chunks = data.draw(chunkings(payload))
        assert list(iter_sse(chunks)) == expected
        default = [event.data for event in expected if event.event == "message"]
        try:
            values = [json.loads(text) for text in default]
        except ValueError:
            with pytest.raises(LLMResponseException, match="not JSON"):
                list(iter_sse_or_json(chunks))
        else:
            assert list(iter_sse_or_json(chunks)) == values


_json_texts = st.one_of(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=12,
    ).map(json.dumps),
    st.text(max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(text=_json_texts, before=st.sampled_from(["", " ", "\n\t"]), after=st.sampled_from(["", " \r\n", "x", "{}"]))
def test_property_json_object_parses_exactly_what_json_loads_accepts(text: str, before: str, after: str) -> None:
    """Its ``raw_decode`` fast path changes only the speed: an object ``json.loads`` reads comes back
    equal, and anything else (not JSON, extra data, not an object) raises the same response error."""
    payload = before + text + after
    try:
        expected = json.loads(payload)
    except ValueError:
        with pytest.raises(LLMResponseException, match="^an event is not JSON: "):
            json_object(payload, what="an event")
        return
    if isinstance(expected, dict):
        assert json_object(payload, what="an event") == expected
    else:
        with pytest.raises(LLMResponseException, match="^an event is not a JSON object: "):
            json_object(payload, what="an event")


@given(data=st.data())
def test_an_id_holding_nul_is_ignored_and_the_last_id_stays(data: st.DataObject) -> None:
    """WHATWG: an ``id`` field whose value contains NUL does not change the last event id."""
    payload = b"id: 1\n\ndata: a\n\nid: x\x00y\ndata: b\n\n"
    assert list(iter_sse(data.draw(chunkings(payload)))) == [SSEEvent("a", "message", "1"), SSEEvent("b", "message", "1")]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\xef\xbb\xbf[1, 2]", [1, 2]),
        (b"\xef\xbb\xbfdata: 1\n\ndata: 2\n\n", [1, 2]),
        (b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
    ],
    ids=["array", "sse", "bare"],
)
@given(data=st.data())
def test_sse_or_json_skips_one_leading_bom_however_chunked(payload: bytes, expected: list[Any], data: st.DataObject) -> None:
    """A BOM before Gemini's stream is skipped as ``iter_sse`` skips it, not read as a field name that loses every value."""
    assert list(iter_sse_or_json(data.draw(chunkings(payload)))) == expected


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.text(st.characters(blacklist_characters="\r\n"), max_size=6).map(str.encode), min_size=1, max_size=8),
    ending=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    bound=st.integers(min_value=1, max_value=14),
    data=st.data(),
)
def test_property_a_line_over_the_bound_raises_however_chunked(lines: list[bytes], ending: bytes, bound: int, data: st.DataObject) -> None:
    """``max_line_bytes`` holds for every line: inside one chunk, across chunks, or cut anywhere."""
    payload = ending.join(lines) + ending
    chunks = data.draw(chunkings(payload))
    if max(map(len, lines)) > bound:
        with pytest.raises(LLMResponseException, match=f"exceeds {bound} bytes"):
            list(iter_lines(chunks, max_line_bytes=bound))
    else:
        assert list(iter_lines(chunks, max_line_bytes=bound)) == [line.decode() for line in lines]
