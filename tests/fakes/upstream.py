"""A real provider for tests: OpenAI, Azure and Anthropic wire formats on 127.0.0.1, with fault modes.

OpenAI and Azure answer embeddings too (`/v1/embeddings`, `/openai/deployments/NAME/embeddings`),
with the same fault modes as a non-streamed chat answer.

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

from .wire import Call, completion, dumps, embeddings, error_body, error_frame, refusal, stream_frames

MODES = frozenset({"ok", "500", "429", "400", "hang", "garbage", "cut", "slow", "error_event"})
_AZURE = re.compile(r"/openai/deployments/([^/]+)/(chat/completions|embeddings)$")
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
        # Parts of the counts above, sent in each provider's own fields (tests/fakes/wire.py).
        self.cached_tokens = 0  # OpenAI prompt_tokens_details.cached_tokens, Anthropic cache_read_input_tokens
        self.cache_write_tokens = 0  # Anthropic cache_creation_input_tokens (OpenAI has none)
        self.reasoning_tokens = 0  # OpenAI completion_tokens_details.reasoning_tokens
        self.send_usage = True  # False: answers carry no usage at all
        self.embeddings_usage = True  # False: embeddings answers carry no usage (as some servers send)
        self.delay = 0.2  # seconds between stream events in "slow" mode (and before a slow answer)
        self.retry_after = 1
        # When set, a request that offers tools and does not end with a tool's result gets a call to its
        # first tool with these arguments (tool call round trips).
        self.tool_arguments: dict | None = None
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
    request_queue_size = 256  # many concurrent clients connect at once in the stream tests
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
        flavor, model, operation = _flavor(request)
        if flavor is None:
            self._json(404, {"error": {"message": f"Unknown path {request.path}", "type": "invalid_request_error"}})
            return
        refused = refusal(flavor, request, self.server.fake.api_key, operation)
        if refused is not None:
            self._json(*refused)
            return
        model = model or str(request.body.get("model"))
        mode = self.server.fake.mode_for(request.path, model)
        stream = request.body.get("stream") is True and operation == "chat"
        tool = _tool_to_call(flavor, request.body) if self.server.fake.tool_arguments is not None else None
        thinking = flavor == "anthropic" and (request.body.get("thinking") or {}).get("type") == "enabled"
        call = Call(flavor, model, stream, _include_usage(request.body), tool=tool, thinking=thinking, operation=operation)
        self._answer(call, mode, request.body)

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

    def _answer(self, call: Call, mode: str, body: dict) -> None:
        fake = self.server.fake
        answer = embeddings(call, fake, body) if call.operation == "embeddings" else None
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
            self._cut_body(answer or completion(call, fake))
        elif mode == "slow" and not self._pause(fake.delay):
            self._gone()
        else:
            self._json(200, answer or completion(call, fake))

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


def _flavor(request: Recorded) -> tuple[str | None, str | None, str]:
    """Which wire format a path speaks, the Azure deployment when there is one, and chat or embeddings."""
    azure = _AZURE.search(request.path)
    if azure:
        return "azure", azure.group(1), "embeddings" if azure.group(2) == "embeddings" else "chat"
    if request.path.endswith("/v1/messages"):
        return "anthropic", None, "chat"
    if request.path.endswith("/v1/chat/completions"):
        return "openai", None, "chat"
    if request.path.endswith("/v1/embeddings"):
        return "openai", None, "embeddings"
    return None, None, "chat"


def _include_usage(body: dict | None) -> bool:
    options = (body or {}).get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _tool_to_call(flavor: str, body: dict) -> str | None:
    """The first tool offered, unless the conversation ends with a tool's result (the round trip is over)."""
    tools, messages = body.get("tools"), body.get("messages") or [{}]
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if flavor == "anthropic":
        content = last.get("content")
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            return None
        return tools[0].get("name")
    if last.get("role") == "tool":
        return None
    return (tools[0].get("function") or {}).get("name")
