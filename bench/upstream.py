"""A fast fake OpenAI-compatible upstream on loopback: raw HTTP/1.1 on uvloop, fixed answers.

POST .../chat/completions answers a fixed chat.completion, or, when the body asks for
`"stream": true`, a fixed SSE stream: CHUNKS content chunks INTERVAL_MS apart (the first at
once), a usage chunk and `data: [DONE]`, chunked, keep-alive; with --answer-bytes the chat.completion's
content is that many bytes (bench/llmload.py's 1 MB answer). POST .../embeddings answers one
fixed 1536-dimension vector in base64 (what the bench asks for, as the OpenAI SDK does by
default). Nothing is parsed but the request's framing, so one core serves tens of thousands of
requests a second.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import struct
import time

import orjson
import uvloop

_COMPLETION = orjson.dumps({
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1767225600,
    "model": "bench-upstream",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
})
_JSON_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
              % len(_COMPLETION))
# text-embedding-3-small's size, little-endian float32 in base64 as OpenAI answers encoding_format=base64.
_VECTOR = base64.b64encode(struct.pack("<1536f", *(((i * 37) % 101 - 50) / 500 for i in range(1536)))).decode()
_EMBEDDING = orjson.dumps({
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": _VECTOR}],
    "model": "bench-upstream",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
})
_EMBEDDING_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                   % len(_EMBEDDING))
_SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    event = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1767225600,
             "model": "bench-upstream", "choices": choices}
    if usage:
        event["usage"] = usage
    return b"data: " + orjson.dumps(event) + b"\n\n"


def _framed(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def stream_events(chunks: int) -> list[bytes]:
    """The SSE events of one stream, each already framed as an HTTP chunk; the last ends the body."""
    events = [_chunk({"role": "assistant", "content": "Hello"})]
    events += [_chunk({"content": f" word{i}"}) for i in range(1, chunks)]
    events.append(_chunk({}, "stop"))
    events.append(_chunk({}, usage={"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}))
    framed = [_framed(e) for e in events]
    framed.append(_framed(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return framed


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class Upstream(asyncio.Protocol):
    """One connection: requests answered in order; a stream holds the connection until it ends."""

    def __init__(self, events: list[bytes], interval: float, answer: bytes = _JSON_HEAD + _COMPLETION):
        self.events = events
        self.answer = answer
        self.interval = interval
        self.buffer = b""
        self.busy = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        if not self.busy:
            self._serve()

    def _serve(self) -> None:
        while (taken := self._take()) is not None:
            head, request = taken
            if b"/embeddings " in head.split(b"\r\n", 1)[0]:
                self.transport.write(_EMBEDDING_HEAD + _EMBEDDING)
                continue
            if b'"stream":true' in request or b'"stream": true' in request:
                self.busy = True
                asyncio.get_running_loop().create_task(self._stream())
                return
            self.transport.write(self.answer)

    def _take(self) -> tuple[bytes, bytes] | None:
        """The next complete request's head and body, or None until one has arrived."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        length = _content_length(self.buffer[:end])
        if len(self.buffer) < end + 4 + length:
            return None
        head, body = self.buffer[:end], self.buffer[end + 4:end + 4 + length]
        self.buffer = self.buffer[end + 4 + length:]
        return head, body

    async def _stream(self) -> None:
        transport = self.transport
        transport.write(_SSE_HEAD + self.events[0])
        for event in self.events[1:-1]:
            await asyncio.sleep(self.interval)
            if transport.is_closing():
                return
            transport.write(event)
        transport.write(self.events[-1])
        self.busy = False
        self._serve()


def big_answer(size: int) -> bytes:
    """A whole chat.completion answer (head and body) whose content is `size` bytes of text."""
    words = (b"lorem ipsum dolor sit amet " * (size // 27 + 1))[:size].decode()
    body = orjson.loads(_COMPLETION)
    body["choices"][0]["message"]["content"] = words
    body["usage"] = {"prompt_tokens": 12, "completion_tokens": size // 4, "total_tokens": 12 + size // 4}
    data = orjson.dumps(body)
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(data) + data


async def serve(port: int, chunks: int, interval_ms: float, answer_bytes: int = 0) -> None:
    events = stream_events(chunks)
    answer = big_answer(answer_bytes) if answer_bytes else _JSON_HEAD + _COMPLETION
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Upstream(events, interval_ms / 1000, answer), "127.0.0.1", port,
                                      backlog=8192, reuse_address=True)
    print(f"upstream ready on 127.0.0.1:{port} at {time.strftime('%H:%M:%S')}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="pause between stream chunks")
    parser.add_argument("--answer-bytes", type=int, default=0, help="content size of the non-streamed answer")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.chunks, args.interval_ms, args.answer_bytes))


if __name__ == "__main__":
    main()
