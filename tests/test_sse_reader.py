"""The SSE decoder gives the same events however the bytes are split and whatever the line endings."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from providers.sse import SSEDecoder
from providers.types import SSEEvent

OPENAI = b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n'
ANTHROPIC = (
    b'event: message_start\ndata: {"type":"message_start"}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def decode(*pieces: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return [event for piece in pieces for event in decoder.feed(piece)]


def test_it_decodes_openai_data_events():
    assert decode(OPENAI) == [SSEEvent('{"a":1}'), SSEEvent('{"b":2}'), SSEEvent("[DONE]")]


def test_it_keeps_the_event_field():
    events = decode(ANTHROPIC)
    assert [e.event for e in events] == ["message_start", "ping", "message_stop"]
    assert events[1].data == '{"type": "ping"}'


def test_it_waits_for_the_blank_line():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":1}\n') == []
    assert decoder.feed(b"\n") == [SSEEvent('{"a":1}')]


def test_it_gives_the_same_events_split_at_every_byte():
    whole = decode(ANTHROPIC + OPENAI)
    for cut in range(1, len(ANTHROPIC + OPENAI)):
        stream = ANTHROPIC + OPENAI
        assert decode(stream[:cut], stream[cut:]) == whole
    assert decode(*[bytes([b]) for b in ANTHROPIC + OPENAI]) == whole


def test_it_accepts_crlf_and_cr_line_endings():
    lf = decode(ANTHROPIC)
    assert decode(ANTHROPIC.replace(b"\n", b"\r\n")) == lf
    assert decode(ANTHROPIC.replace(b"\n", b"\r")) == lf
    crlf = ANTHROPIC.replace(b"\n", b"\r\n")
    assert decode(*[bytes([b]) for b in crlf]) == lf


def test_it_joins_multi_line_data():
    assert decode(b"data: one\ndata: two\ndata:\n\n") == [SSEEvent("one\ntwo\n")]


def test_it_skips_comments_and_events_without_data():
    assert decode(b": keep-alive\n\nevent: ping\n\n: note\ndata: x\n\n") == [SSEEvent("x")]


def test_it_strips_one_space_after_the_colon_only():
    assert decode(b"data:x\n\ndata:  y\n\n") == [SSEEvent("x"), SSEEvent(" y")]


def test_a_field_without_colon_has_an_empty_value():
    assert decode(b"data\n\n") == [SSEEvent("")]


def test_it_ignores_id_retry_and_unknown_fields():
    assert decode(b"id: 7\nretry: 100\nfoo: bar\ndata: x\n\n") == [SSEEvent("x")]


def test_it_drops_a_leading_byte_order_mark_split_across_pieces():
    assert decode(b"\xef\xbb", b"\xbfdata: x\n\n") == [SSEEvent("x")]


def test_it_decodes_utf8_split_inside_a_character():
    raw = "data: héllo ✓\n\n".encode()
    assert decode(raw[:8], raw[8:]) == [SSEEvent("héllo ✓")]


def test_an_unfinished_event_is_not_returned():
    assert decode(b"data: x\n\ndata: partial") == [SSEEvent("x")]


_line_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20)
_events = st.lists(
    st.tuples(st.lists(_line_text, min_size=1, max_size=3), st.one_of(st.none(), st.from_regex(r"[a-z_]{1,12}", fullmatch=True))),
    max_size=8,
)


def _encode(events, newline: bytes) -> bytes:
    out = b""
    for lines, name in events:
        if name:
            out += b"event: " + name.encode() + newline
        for line in lines:
            out += b"data: " + line.encode() + newline
        out += newline
    return out


@given(_events, st.sampled_from([b"\n", b"\r\n", b"\r"]), st.lists(st.integers(min_value=0), max_size=10))
def test_any_split_of_any_stream_decodes_to_the_events_sent(events, newline, cuts):
    stream = _encode(events, newline)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)])]
    expected = [SSEEvent("\n".join(lines), name or None) for lines, name in events]
    assert decode(*pieces) == expected
