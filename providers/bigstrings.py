"""A big provider answer's big strings relayed as the bytes received, never decoded (issue 18: a 1 MB answer is
held at most twice, the received bytes and what is sent).

orjson parses a 1 MB answer holding three copies at once (the received bytes, its own working copy, the
content as a `str`), and rendering holds a fourth beside the parsed one: 1.8 answer sizes above the
received one, measured (bench/README.md, "Issue 18"). Here, in a body of HOLLOW_FROM bytes or more, each
string literal of BIG bytes or more is cut out before parsing and a marker string stands in for it; the
answer rendered from the parsed skeleton gets the literal's received bytes back in one join (`splice`).

A literal is relayed only once it is known to be a valid JSON string: each piece of at most PIECE bytes,
cut where no escape or UTF-8 character is split, must parse as one (orjson, so the rules are the same as
for everything else). Anything unexpected (a literal that is not valid, more strings than MAX_STRING_SHARE
allows, a body with nothing big) leaves the body whole for the ordinary parse, so what reaches the client
is the same JSON either way; the markers carry a random nonce, so no provider string can pose as one.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

HOLLOW_FROM = 256 * 1024  # smaller answers are parsed whole: their copies cost little
BIG = 64 * 1024  # a string literal this long or longer is relayed as received
PIECE = 64 * 1024  # a big literal is checked this much at a time, so the check holds no big copy
MAX_STRING_SHARE = 256  # at most one string per this many bytes, or the scan (a Python loop) gives up
_SLASH = 0x5C
_UNESCAPED_QUOTE = re.compile(rb'"(?<=[^\\]")')  # a quote after anything but a backslash
_HIGH_SURROGATES = (b"d8", b"d9", b"da", b"db")


@dataclass(frozen=True, slots=True, eq=False)
class Hollow:
    """The received body and, for each marker string standing in the parsed answer, its literal's span."""

    body: bytes
    marks: dict[str, tuple[int, int]]

    def splice(self, rendered: bytes) -> bytes:
        """`rendered` (JSON that holds markers as strings) with each marker replaced by its literal's bytes."""
        view, pieces, at = memoryview(self.body), [], 0
        for start, end, (a, b) in sorted(self._found(rendered)):
            pieces += [rendered[at:start], view[a:b]]
            at = end
        pieces.append(rendered[at:])
        return b"".join(pieces)

    def _found(self, rendered: bytes) -> list[tuple[int, int, tuple[int, int]]]:
        """Where each marker stands in `rendered`, as (start, end, its literal's span)."""
        found = []
        for mark, span in self.marks.items():
            quoted = _quoted(mark)
            at = rendered.find(quoted)
            while at >= 0:
                found.append((at, at + len(quoted), span))
                at = rendered.find(quoted, at + len(quoted))
        return found

    def restore(self, value: Any) -> Any:
        """`value` (a parsed JSON value) with each marker string decoded back into its text."""
        if isinstance(value, str):
            span = self.marks.get(value)
            return value if span is None else orjson.loads(memoryview(self.body)[span[0]:span[1]])
        if isinstance(value, dict):
            return {key: self.restore(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.restore(item) for item in value]
        return value


def cut(body: bytes) -> tuple[bytes, Hollow | None]:
    """The body to parse, with big string literals replaced by markers, and what splices them back; or the
    body itself and None when it is small, holds nothing big, or anything about it is unexpected."""
    if len(body) < HOLLOW_FROM:
        return body, None
    spans = _big_literals(body)
    if not spans or not all(_valid_string(body, a, b) for a, b in spans):
        return body, None
    nonce = secrets.token_hex(8)
    view, pieces, marks, at = memoryview(body), [], {}, 0
    for i, (a, b) in enumerate(spans):
        mark = f"gw-hollow-{nonce}-{i}"
        marks[mark] = (a, b)
        pieces += [view[at:a], _quoted(mark)]
        at = b
    pieces.append(view[at:])
    return b"".join(pieces), Hollow(body, marks)


def _quoted(mark: str) -> bytes:
    """A marker as JSON renders it: plain ASCII, so always these bytes."""
    return b'"' + mark.encode() + b'"'


def _big_literals(body: bytes) -> list[tuple[int, int]] | None:
    """The spans (quotes included) of the string literals of BIG bytes or more, in order; None when the
    quotes do not pair up or there are too many strings to walk in Python."""
    find, budget, spans = body.find, len(body) // MAX_STRING_SHARE, []
    start = find(b'"')
    while start >= 0:
        end = find(b'"', start + 1)
        if end > 0 and body[end - 1] == _SLASH and _escaped(body, end):
            # Escaped quotes ahead: let the regex engine skip them. It also skips a quote closing a string
            # that ends in an escaped backslash (\\"); the span is then wrong and fails _valid_string.
            found = _UNESCAPED_QUOTE.search(body, end + 1)
            end = found.start() if found else -1
        if end < 0:
            return None
        if end + 1 - start >= BIG:
            spans.append((start, end + 1))
        budget -= 1
        if budget < 0:
            return None
        start = find(b'"', end + 1)
    return spans


def _escaped(body: bytes, quote: int) -> bool:
    """Whether the quote at `quote` is escaped: an odd run of backslashes before it."""
    run = quote - 1
    while run >= 0 and body[run] == _SLASH:
        run -= 1
    return (quote - 1 - run) % 2 == 1


def _valid_string(body: bytes, start: int, end: int) -> bool:
    """Whether body[start:end] (quotes included) is one valid JSON string, checked a piece at a time."""
    view, at, last = memoryview(body), start + 1, end - 1
    while at < last:
        stop = _safe_stop(body, at, last)
        try:
            orjson.loads(b'"' + view[at:stop] + b'"')  # a stray quote inside leaves trailing characters: an error
        except orjson.JSONDecodeError:
            return False
        at = stop
    return True


def _safe_stop(body: bytes, at: int, last: int) -> int:
    """Where the piece from `at` ends: PIECE bytes on or fewer, splitting no UTF-8 character and no escape
    (`\\n`, `\\u00e9`, `\\\\`)."""
    stop = at + PIECE
    if stop >= last:
        return last
    while stop > at and 0x80 <= body[stop] < 0xC0:  # a UTF-8 continuation byte: back to its lead byte
        stop -= 1
    slash = body.rfind(b"\\", max(at, stop - 6), stop)
    if slash >= 0:  # an escape may run across: stop before the run of backslashes it belongs to
        while slash > at and body[slash - 1] == _SLASH:
            slash -= 1
        stop = slash
        if body[stop - 6:stop - 4] == b"\\u" and body[stop - 4:stop - 2].lower() in _HIGH_SURROGATES:
            stop -= 6  # keep a surrogate pair (\ud83d\ude00) in one piece
    return stop if stop > at else at + PIECE  # a piece of nothing but backslashes: let orjson judge
