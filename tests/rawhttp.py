"""HTTP/1.1 over a bare socket, for requests no HTTP client would send."""
from __future__ import annotations

import socket
from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the server closed the connection without answering
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> bool:
        return self.headers.get("content-type", "").startswith("application/json")

    def error(self) -> dict:
        return orjson.loads(self.body)["error"]


def exchange(url: str, data: bytes, half_close: bool = False, wait: float = 5.0) -> Answer:
    """Send `data` on a fresh connection (then shut our side if `half_close`); read until the server closes it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while part := sock.recv(65536):
                received += part
        except (TimeoutError, ConnectionResetError):
            pass
    return parse(received)


def parse(received: bytes) -> Answer:
    """The first response in `received` (its body as far as it came)."""
    if not received:
        return Answer(None, {}, b"")
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return Answer(int(status_line.split()[1]), headers, body)


def request(path: str, headers: dict[str, str], body: bytes = b"", method: str = "POST") -> bytes:
    """A request's bytes, headers as given (no Content-Length or Host added)."""
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + body
