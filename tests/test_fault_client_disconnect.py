"""A client leaving mid-stream: upstream cancelled within a second, usage recorded, the open-streams gauge back to 0."""
import re
import time

import httpx
import pytest

from usage.models import UsageRecord

from .conftest import add_route, make_tenant
from .test_stream_disconnect_cancels_upstream import open_stream

pytestmark = pytest.mark.django_db(transaction=True)


def open_streams(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    match = re.search(r"^gateway_open_streams(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_a_client_leaving_releases_everything(gateway, upstream):
    add_route(upstream, "openai", "chat")
    tenant = make_tenant("acme")
    upstream.set_mode("slow", delay=0.5)
    sockets = [open_stream(gateway.url, tenant.raw) for _ in range(3)]
    for sock in sockets:
        received = b""
        while b"data: {" not in received:
            part = sock.recv(65536)
            assert part, received
            received += part
    assert open_streams(gateway.url) == 3
    for sock in sockets:
        sock.close()
    closed_at = time.monotonic()
    deadline = closed_at + 3
    while upstream.disconnects < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.disconnects == 3 and time.monotonic() - closed_at < 1.5
    while (open_streams(gateway.url) or UsageRecord.objects.count() < 3) and time.monotonic() < deadline + 2:
        time.sleep(0.05)
    assert open_streams(gateway.url) == 0
    assert UsageRecord.objects.filter(client_disconnected=True, streamed=True).count() == 3
