"""Incremental Server-Sent Events decoder: bytes in, whole events out (WHATWG event-stream rules)."""
from __future__ import annotations

from .types import SSEEvent

_BOM = b"\xef\xbb\xbf"


class SSEDecoder:
    """Feed bytes split anywhere; get back every event completed so far."""

    __slots__ = ("_buffer", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._buffer = b""
        self._skip_lf = False
        self._started = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Decode a piece of the stream; an event is returned once its blank line has arrived."""
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if data.endswith(b"\r"):
            # A CR ends a line now, so a final event is not held back; an LF opening the next piece completes it.
            self._skip_lf = True
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer + data
        if not self._started:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._buffer = buffer
                return []
            self._started = True
            if buffer.startswith(_BOM):
                buffer = buffer[len(_BOM):]
        if b"\n\n" not in buffer:
            self._buffer = buffer
            return []
        blocks = buffer.split(b"\n\n")
        self._buffer = blocks.pop()
        events = []
        for block in blocks:
            event = _parse(block)
            if event is not None:
                events.append(event)
        return events


def _parse(block: bytes) -> SSEEvent | None:
    """One event from its lines; None when it carries no data (comments, lone fields)."""
    if block.startswith(b"data: ") and b"\n" not in block:
        return SSEEvent(block[6:].decode("utf-8", "replace"))
    data: list[bytes] = []
    event: bytes | None = None
    for line in block.split(b"\n"):
        if not line or line[:1] == b":":
            continue
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value
    if not data:
        return None
    return SSEEvent(b"\n".join(data).decode("utf-8", "replace"), event.decode("utf-8", "replace") if event else None)
