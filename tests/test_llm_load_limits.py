"""What lets one worker hold thousands of open streams: the open-file limit and the upstream connection limit."""
from __future__ import annotations

import asyncio
import subprocess
import sys

from providers import http


def test_the_open_file_limit_is_raised_to_the_hard_limit_when_the_application_loads():
    # A fresh process with a low soft limit loads the serving module's first step, as every server does.
    code = (
        "import resource; soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE);"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard));"
        "from infra import fdlimit; before, after = fdlimit.raise_to_hard_limit();"
        "print(before, after, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, after, now, hard = map(int, out)
    assert before == min(256, hard) and after == now == hard


def test_the_serving_module_raises_the_limit_before_anything_else():
    source = open("gateway_project/asgi.py").read()
    assert source.index("fdlimit.raise_to_hard_limit()") < source.index("django.setup(")


def test_one_worker_may_hold_thousands_of_upstream_connections_per_provider():
    # 512 made stream 513 wait for another stream's end before its request was even sent.
    assert http.MAX_CONNECTIONS >= 5_000


async def test_one_provider_holds_more_calls_open_at_once_than_the_old_limit():
    # 600 calls, each held by the upstream until all 600 have arrived: through the provider's own pool (the
    # default limit), so at the old 512 call 513 would wait in the pool for a connection and time out there.
    from infra import fdlimit

    from .test_http1_transport import OK, Server, fetch

    fdlimit.raise_to_hard_limit()  # 1,200 sockets in this process, as a serving worker would
    calls = 600

    async def held_until_all_arrived(server: Server, reader, writer) -> None:
        while await server.request(reader) is not None:
            if len(server.requests) >= calls:
                server.gate.set()
            await server.gate.wait()
            writer.write(OK)

    upstream = http.Upstream()
    try:
        async with Server(held_until_all_arrived) as server:
            answers = await asyncio.wait_for(
                asyncio.gather(*(fetch(upstream.pool, server.url, timeout=20.0) for _ in range(calls))), 60)
        assert [body for _, body in answers] == [b"hello"] * calls
        assert server.connections == calls
    finally:
        await upstream.aclose()
