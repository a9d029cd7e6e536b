"""Daphne with graceful shutdown, a slow-client timeout and JSON answers to malformed HTTP.

`python -m gateway_project.serve [daphne args]` takes every daphne option (e.g. `-b 0.0.0.0 -p 8000
gateway_project.asgi:application`). Plain Daphne lets Twisted stop at once on SIGTERM and cancel open
streams; here SIGTERM (or SIGINT) drains first (gateway_project/shutdown.py), and a second signal
stops at once. Requests Twisted refuses before the application sees them (headers too large, a
broken request line or header) get the gateway's JSON error instead of a bare 400, and a body over
MAX_REQUEST_BYTES gets its 413 before it is read (Twisted would spool it to a temporary file). TCP and UNIX
endpoints listen with a backlog of LISTEN_BACKLOG connections unless their description sets one.
"""
from __future__ import annotations

import signal
import sys
from io import BytesIO

import orjson
from daphne.cli import CommandLineInterface
from daphne.server import Server
from twisted.internet import reactor
from twisted.web import http

from infra.hotsettings import hot
from infra.env import envfloat

from .shutdown import drain, graceful

LISTEN_BACKLOG = 1024  # Twisted's default, 50, overflows when one client opens a couple of hundred streams at once


def with_backlog(endpoint: str) -> str:
    """A Twisted endpoint description with LISTEN_BACKLOG, unless it names its own backlog."""
    if endpoint.startswith(("tcp:", "tcp6:", "unix:")) and "backlog=" not in endpoint:
        return f"{endpoint}:backlog={LISTEN_BACKLOG}"
    return endpoint


class _BoundedBody(BytesIO):
    """A request body kept in memory up to the limit: past it, `refuse` is called once and nothing more is kept.

    Twisted would spool any body over 100 KB (or of unknown length) to a temporary file."""

    def __init__(self, limit: int, refuse):
        super().__init__()
        self.limit, self.refuse, self.refused = limit, refuse, False

    def write(self, data: bytes) -> int:
        if self.refused:
            return len(data)
        if self.tell() + len(data) > self.limit:
            self.refused = True
            self.refuse()
            return len(data)
        return super().write(data)


def _http_error(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response carrying the gateway's JSON error; the connection closes after it."""
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}})
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class JsonErrorChannel(http.HTTPChannel):
    """Twisted's HTTP/1.1 channel, answering the requests it refuses itself with JSON errors."""

    def allHeadersReceived(self):
        """Refuse a body over MAX_REQUEST_BYTES by its declared length before reading it, or once it passes the limit."""
        limit = hot.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and self.length is not None and self.length > limit:
            return self._body_too_large(limit)
        super().allHeadersReceived()
        if limit is not None:
            request = self.requests[-1]
            request.content.close()
            request.content = _BoundedBody(limit, lambda: self._body_too_large(limit))

    def _body_too_large(self, limit: int) -> None:
        if getattr(self, "_refused_body", False):
            return
        self._refused_body = True
        message = f"Request body is larger than {limit} bytes."
        self.transport.write(_http_error(413, "Content Too Large", "request_too_large", message))
        self.loseConnection()

    def _too_large(self) -> None:
        message = (f"Request line and headers must stay under {self.totalHeadersSize} bytes"
                   f" and {self.maxHeaders} header fields.")
        self.transport.write(_http_error(431, "Request Header Fields Too Large", "request_header_fields_too_large", message))
        self.loseConnection()

    def lineLengthExceeded(self, line):
        # One request line or header over MAX_LENGTH: Twisted would drop the connection without a word.
        self._too_large()

    def _respondToBadRequestAndDisconnect(self):
        if self._receivedHeaderSize > self.totalHeadersSize or self._receivedHeaderCount > self.maxHeaders:
            return self._too_large()
        self.transport.write(_http_error(400, "Bad Request", "malformed_http_request", "The HTTP request is malformed."))
        self.loseConnection()


def _json_error_protocol():
    # What twisted.web.http.HTTPFactory.protocol builds (HTTP/1.1, or HTTP/2 when negotiated), with our channel.
    return http._GenericHTTPChannelProtocol(JsonErrorChannel())


class DrainingServer(Server):
    """Daphne's server with our signal handlers in place of Twisted's, a deeper backlog and JSON HTTP errors."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.signal_handlers = False
        self.endpoints = [with_backlog(e) for e in self.endpoints]

    def run(self):
        loop = reactor._asyncioEventloop  # the loop Daphne runs applications on
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal)
        reactor.callWhenRunning(self.tune_http)
        from infra import metrics  # needs Django set up, which loading the application did

        metrics.watch_loop(loop)
        super().run()

    def tune_http(self) -> None:
        """Set up the HTTP factory Daphne built in run(), before the first connection is accepted."""
        # Twisted drops a connection that sends nothing for this long while its request is read
        # (slow headers or a dribbled body); the timer restarts with each byte received.
        self.http_factory.timeOut = envfloat("REQUEST_IDLE_SECONDS", 30.0)
        self.http_factory.protocol = _json_error_protocol

    def on_signal(self) -> None:
        if drain.draining:
            self.stop()
        else:
            drain.begin(self.stop)


class DrainingCLI(CommandLineInterface):
    server_class = DrainingServer

    def load_asgi_app(self, asgi_app_path: str):
        return graceful(super().load_asgi_app(asgi_app_path))


def main() -> None:
    DrainingCLI().run(sys.argv[1:])


if __name__ == "__main__":
    main()
