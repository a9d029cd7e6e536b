"""A real provider for tests: OpenAI, Azure and Anthropic wire formats on 127.0.0.1, with fault modes.

Shape after newrelic's mock_external_http_server: a stdlib HTTP/1.1 server in a
background thread. Streams use chunked transfer encoding, as the real providers
do, so a cut stream is a protocol error on the client side, not a clean end.
"""
from __future__ import annotations

import json
import re
import select
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MODES = frozenset({"ok", "500", "429", "400", "hang", "garbage", "cut", "slow", "error_event"})
_AZURE = re.compile(r"/openai/deployments/([^/]+)/chat/completions$")
_POLL = 0.05  # seconds between checks for a closed client or a stopping server


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening, for connection-refused tests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: dict | None  # the JSON body, None when it is not a JSON object
    raw: bytes
    peer_port: int  # the client's port: equal ports mean one kept-alive connection


class FakeUpstream:
    """The fake provider: start(), point a Provider at .url (or .base_url(kind)), set modes, stop()."""

    def __init__(self, *, api_key: str | None = None, reply: str | None = None):
        self.api_key = api_key  # when set, each format's key header must carry it
        self.reply = reply  # answer text; default "Hello from fake-<format>"
        self.prompt_tokens = 12
        self.completion_tokens = 7
        self.delay = 0.2  # seconds between stream events in "slow" mode (and before a slow answer)
        self.retry_after = 1
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._default = "ok"
        self._by_model: dict[str, str] = {}
        self._by_path: dict[str, str] = {}
        self._queue: deque[str] = deque()
        self.disconnects = 0
        self.disconnected = threading.Event()  # a client closed the connection before the answer ended
        self.stream_done = threading.Event()  # a stream was sent to its end
        self.stopping = threading.Event()  # set by stop(): hanging and slow answers give up
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> FakeUpstream:
        self.stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": _POLL},
                                        name=f"fake-upstream-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, kind: str = "openai", prefix: str = "") -> str:
        """The --base-url for a provider of this kind; a prefix lets one server play several providers."""
        return f"{self.url}{prefix}/v1" if kind in ("openai", "ollama") else f"{self.url}{prefix}"

    # Modes

    def set_mode(self, mode: str, *, model: str | None = None, path: str | None = None,
                 delay: float | None = None) -> None:
        """Answer in `mode`: for every request, or for one model (or Azure deployment), or under a path prefix."""
        _check(mode)
        with self._lock:
            if model is not None:
                self._by_model[model] = mode
            elif path is not None:
                self._by_path[path] = mode
            else:
                self._default = mode
        if delay is not None:
            self.delay = delay

    def queue_modes(self, *modes: str) -> None:
        """The next len(modes) completion requests take these modes in order, before any other rule."""
        for mode in modes:
            _check(mode)
        with self._lock:
            self._queue.extend(modes)

    def mode_for(self, path: str, model: str) -> str:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if model in self._by_model:
                return self._by_model[model]
            for prefix, mode in self._by_path.items():
                if path.startswith(prefix):
                    return mode
            return self._default

    def reset(self) -> None:
        """Forget requests, modes and events (between phases of one test)."""
        with self._lock:
            self._requests.clear()
            self._default = "ok"
            self._by_model.clear()
            self._by_path.clear()
            self._queue.clear()
            self.disconnects = 0
        self.disconnected.clear()
        self.stream_done.clear()

    # What happened

    def record(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    def record_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1
        self.disconnected.set()

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def last(self) -> Recorded:
        with self._lock:
            return self._requests[-1]

    def wait_disconnect(self, timeout: float = 2.0) -> bool:
        return self.disconnected.wait(timeout)


def _check(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown fake upstream mode {mode!r}; one of {sorted(MODES)}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeUpstream

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is part of the tests
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Drop kept-alive connections, so pooled clients cannot reach a stopped server."""
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):
        """Keep test output quiet."""

    def do_GET(self):
        self._read_and_record()
        self._json(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})

    def do_POST(self):
        request = self._read_and_record()
        flavor, model = _flavor(request)
        if flavor is None:
            self._json(404, {"error": {"message": f"Unknown path {request.path}", "type": "invalid_request_error"}})
            return
        refused = refusal(flavor, request, self.server.fake.api_key)
        if refused is not None:
            self._json(*refused)
            return
        model = model or str(request.body.get("model"))
        mode = self.server.fake.mode_for(request.path, model)
        stream = request.body.get("stream") is True
        self._answer(Call(flavor, model, stream, _include_usage(request.body)), mode)

    # Reading

    def _read_and_record(self) -> Recorded:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        parts = urlsplit(self.path)
        request = Recorded(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body if isinstance(body, dict) else None,
            raw=raw,
            peer_port=self.client_address[1],
        )
        self.server.fake.record(request)
        return request

    # Answering

    def _answer(self, call: Call, mode: str) -> None:
        fake = self.server.fake
        if mode == "hang":
            self._hang()
        elif mode in ("500", "429", "400") or (mode == "error_event" and not call.stream):
            status = 500 if mode == "error_event" else int(mode)
            headers = {"Retry-After": str(fake.retry_after)} if status == 429 else {}
            self._json(status, error_body(call.flavor, status), headers)
        elif mode == "garbage":
            self._send(200, b"<html><body>Service temporarily unavailable</body></html>", "text/html")
        elif call.stream:
            self._stream(call, mode)
        elif mode == "cut":
            self._cut_body(completion(call, fake))
        elif mode == "slow" and not self._pause(fake.delay):
            self._gone()
        else:
            self._json(200, completion(call, fake))

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self._write(body)

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send(status, dumps(payload), "application/json", headers)

    def _cut_body(self, payload: dict) -> None:
        """Promise a body, send half of it, and close."""
        body = dumps(payload)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._write(body[: len(body) // 2])
        self.close_connection = True

    def _stream(self, call: Call, mode: str) -> None:
        fake = self.server.fake
        frames, first_text = stream_frames(call, fake)
        if mode in ("cut", "error_event"):
            frames = frames[: first_text + 1] + ([error_frame(call.flavor)] if mode == "error_event" else [])
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, frame in enumerate(frames):
            if (i and mode == "slow" and not self._pause(fake.delay)) or not self._chunk(frame):
                self._gone()
                return
        if mode == "cut":
            self.close_connection = True  # no closing chunk: the client sees an incomplete body
        elif self._chunk(b""):
            fake.stream_done.set()
        else:
            self._gone()

    def _chunk(self, data: bytes) -> bool:
        """Send one chunk of a chunked body (empty data ends it); False when the client has gone."""
        return self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False

    # Waiting

    def _hang(self) -> None:
        """Answer nothing until the client goes or the server stops."""
        while self._pause(1.0):
            pass
        self._gone()

    def _pause(self, seconds: float) -> bool:
        """Sleep, watching the socket; False as soon as the client closes it or the server stops."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.server.fake.stopping.is_set():
                return False
            readable, _, _ = select.select([self.connection], [], [], min(left, _POLL))
            if readable and self._peer_closed():
                return False
            if readable:
                time.sleep(min(left, _POLL))  # the client sent more bytes; do not spin on them
        return True

    def _peer_closed(self) -> bool:
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (ConnectionResetError, OSError):
            return True

    def _gone(self) -> None:
        """The answer was abandoned: record it as a client disconnect unless the server is stopping."""
        self.close_connection = True
        if not self.server.fake.stopping.is_set():
            self.server.fake.record_disconnect()


def _flavor(request: Recorded) -> tuple[str | None, str | None]:
    """Which wire format a path speaks, and the Azure deployment when there is one."""
    azure = _AZURE.search(request.path)
    if azure:
        return "azure", azure.group(1)
    if request.path.endswith("/v1/messages"):
        return "anthropic", None
    if request.path.endswith("/v1/chat/completions"):
        return "openai", None
    return None, None


def _include_usage(body: dict | None) -> bool:
    options = (body or {}).get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


# Wire formats: what each provider really sends.

@dataclass(frozen=True)
class Call:
    flavor: str  # openai | azure | anthropic
    model: str
    stream: bool
    include_usage: bool


def dumps(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _openai_error(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _anthropic_error(type_: str, message: str) -> dict:
    return {"type": "error", "error": {"type": type_, "message": message}}


def refusal(flavor: str, request: Recorded, api_key: str | None) -> tuple[int, dict] | None:
    """The 400/401 a real provider gives for a missing header, a wrong key or a body it cannot read."""
    headers, body = request.headers, request.body
    if flavor == "anthropic":
        if "anthropic-version" not in headers:
            return 400, _anthropic_error("invalid_request_error", "anthropic-version: header is required")
        if api_key is not None and headers.get("x-api-key") != api_key:
            return 401, _anthropic_error("authentication_error", "invalid x-api-key")
        if body is None or not isinstance(body.get("messages"), list) or "max_tokens" not in body:
            return 400, _anthropic_error("invalid_request_error", "messages and max_tokens: Field required")
        return None
    if flavor == "azure":
        if "api-version" not in request.query:
            return 404, {"error": {"code": "404", "message": "Resource not found"}}
        if api_key is not None and headers.get("api-key") != api_key:
            return 401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}
    elif api_key is not None and headers.get("authorization") != f"Bearer {api_key}":
        return 401, _openai_error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
    if body is None or not isinstance(body.get("messages"), list) or (flavor == "openai" and "model" not in body):
        return 400, _openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
    return None


def error_body(flavor: str, status: int) -> dict:
    """The error a provider sends with a 500, a 429 or a caller-fault 400."""
    if flavor == "anthropic":
        return {
            500: _anthropic_error("api_error", "Internal server error"),
            429: _anthropic_error("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
            400: _anthropic_error("invalid_request_error", "temperature: range: 0..1"),
        }[status]
    if flavor == "azure" and status == 429:
        return {"error": {"code": "429", "message": "Requests have exceeded the call rate limit. Retry after 1 second."}}
    return {
        500: _openai_error("The server had an error while processing your request.", "server_error"),
        429: _openai_error("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
        400: _openai_error("Invalid value for 'temperature': must be between 0 and 2.", "invalid_request_error",
                           "invalid_value", "temperature"),
    }[status]


def _text(call: Call, fake: FakeUpstream) -> str:
    return fake.reply if fake.reply is not None else f"Hello from fake-{call.flavor}"


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0]] + [f" {w}" for w in words[1:]]


def _ident(call: Call, fake: FakeUpstream) -> str:
    return f"msg_fake{fake.calls:04d}" if call.flavor == "anthropic" else f"chatcmpl-fake{fake.calls:04d}"


def completion(call: Call, fake: FakeUpstream) -> dict:
    """A whole, non-streamed answer."""
    text, prompt, completion_tokens = _text(call, fake), fake.prompt_tokens, fake.completion_tokens
    if call.flavor == "anthropic":
        return {
            "id": _ident(call, fake), "type": "message", "role": "assistant", "model": call.model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion_tokens},
        }
    return {
        "id": _ident(call, fake), "object": "chat.completion", "created": int(time.time()), "model": call.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                  "total_tokens": prompt + completion_tokens},
        "system_fingerprint": "fp_fake",
    }


def _frame(payload: dict, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + dumps(payload) + b"\n\n"


def stream_frames(call: Call, fake: FakeUpstream) -> tuple[list[bytes], int]:
    """Every SSE frame of a streamed answer, and the index of the first frame with text."""
    if call.flavor == "anthropic":
        return _anthropic_frames(call, fake)
    ident, created = _ident(call, fake), int(time.time())

    def chunk(choices: list, **extra) -> bytes:
        out = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": call.model,
               "system_fingerprint": "fp_fake", "choices": choices}
        if call.include_usage:
            out["usage"] = None
        return _frame({**out, **extra})

    def delta(content: dict, finish_reason: str | None = None) -> list:
        return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish_reason}]

    frames = []
    if call.flavor == "azure":  # Azure leads with a choice-less content-filter chunk
        frames.append(_frame({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                              "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}))
    frames.append(chunk(delta({"role": "assistant", "content": "", "refusal": None})))
    first_text = len(frames)
    frames += [chunk(delta({"content": piece})) for piece in _pieces(_text(call, fake))]
    frames.append(chunk(delta({}, "stop")))
    if call.include_usage:
        usage = {"prompt_tokens": fake.prompt_tokens, "completion_tokens": fake.completion_tokens,
                 "total_tokens": fake.prompt_tokens + fake.completion_tokens}
        frames.append(chunk([], usage=usage))
    frames.append(b"data: [DONE]\n\n")
    return frames, first_text


def _anthropic_frames(call: Call, fake: FakeUpstream) -> tuple[list[bytes], int]:
    message = {"id": _ident(call, fake), "type": "message", "role": "assistant", "model": call.model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": fake.prompt_tokens, "output_tokens": 1}}
    frames = [
        _frame({"type": "message_start", "message": message}, "message_start"),
        _frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
               "content_block_start"),
        _frame({"type": "ping"}, "ping"),
    ]
    first_text = len(frames)
    frames += [_frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                      "content_block_delta") for piece in _pieces(_text(call, fake))]
    frames += [
        _frame({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _frame({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": fake.completion_tokens}}, "message_delta"),
        _frame({"type": "message_stop"}, "message_stop"),
    ]
    return frames, first_text


def error_frame(flavor: str) -> bytes:
    """The error event a provider sends when it fails mid-stream."""
    if flavor == "anthropic":
        return _frame(_anthropic_error("overloaded_error", "Overloaded"), "error")
    return _frame(_openai_error("The server had an error while processing your request.", "server_error"))
