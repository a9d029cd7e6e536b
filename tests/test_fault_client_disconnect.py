"""A client leaving mid-stream: upstream cancelled before its stream would end, usage recorded, nothing left running.

"Nothing left running" is read off /metrics: the open-streams gauge is back to 0 and the number of
asyncio tasks on the gateway's event loop is back to what the same scrape counted before the streams
(the scrape's own tasks and Daphne's are in both counts).
"""
import time

import httpx
import pytest

from usage.models import UsageRecord

from .conftest import add_route, make_tenant
from .promtext import value
from .test_stream_disconnect_cancels_upstream import UPSTREAM_PAUSE, open_stream, wait_for_end

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(url: str) -> tuple[float, float]:
    """(open streams, event-loop tasks) as /metrics says now."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return value(text, "gateway_open_streams"), value(text, "gateway_event_loop_tasks")


def settle(url: str, baseline: float, seconds: float) -> tuple[float, float]:
    """Scrape until no stream is open and the task count is down to `baseline`, or the time is up."""
    deadline = time.monotonic() + seconds
    streams, tasks = scrape(url)
    while (streams or tasks > baseline) and time.monotonic() < deadline:
        time.sleep(0.05)
        streams, tasks = scrape(url)
    return streams, tasks


def test_a_client_leaving_releases_everything(gateway, upstream):
    add_route(upstream, "openai", "chat")
    tenant = make_tenant("acme")
    upstream.set_mode("slow", delay=UPSTREAM_PAUSE)
    baseline = min(scrape(gateway.url)[1] for _ in range(3))  # an idle gateway, as a scrape sees it
    assert baseline > 0  # the scrape itself runs in tasks: the gauge is live
    sockets = [open_stream(gateway.url, tenant.raw) for _ in range(3)]
    for sock in sockets:
        received = b""
        while b"data: {" not in received:
            part = sock.recv(65536)
            assert part, received
            received += part
    streams, busy = scrape(gateway.url)
    assert streams == 3 and busy >= baseline + 3, (baseline, busy)
    for sock in sockets:
        sock.close()
    assert wait_for_end(upstream, count=3) == "disconnected" and upstream.disconnects == 3
    streams, tasks = settle(gateway.url, baseline, 5)
    assert streams == 0 and tasks <= baseline, (baseline, busy, tasks)
    deadline = time.monotonic() + 5
    while UsageRecord.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert UsageRecord.objects.filter(client_disconnected=True, streamed=True).count() == 3
