"""SharedRedis's fallback: calls answer NO_REDIS when Redis is off, down or fails them; noted once; Redis tried again."""
import asyncio
import logging
import os

import pytest

from infra import metrics, sharedredis
from infra.sharedredis import NO_REDIS

from tests.fakes.redis_server import CLOSE, FakeRedis

ECHO = "return ARGV[1]"
OFF = "the feature under test is off"


@pytest.fixture
async def shared(settings):
    settings.GATEWAY = {**settings.GATEWAY, "REDIS_RETRY_SECONDS": 0.2}
    shared = sharedredis.SharedRedis()
    yield shared
    shared.forget()


@pytest.fixture
async def server():
    """A Redis that answers every command `:1`, or closes the connection while `refusing`."""
    fake = FakeRedis(lambda n, command: CLOSE if fake.refusing else b":1\r\n")
    fake.refusing = False
    yield await fake.start()
    fake.stop()


async def test_without_redis_url_every_call_answers_no_redis_at_once(shared, settings):
    settings.REDIS_URL = ""
    assert await shared.script(ECHO, [], ["x"], fallback=OFF) is NO_REDIS
    assert await shared.command(b"GET", "k", fallback=OFF) is NO_REDIS
    assert shared.pipe() is None and not shared.down


async def test_a_failure_answers_no_redis_is_logged_once_and_redis_is_left_alone_until_the_retry(
    shared, settings, server, caplog
):
    settings.REDIS_URL = f"redis://127.0.0.1:{server.port}/0"
    caplog.set_level(logging.WARNING, logger="gateway.redis")
    assert await shared.command(b"GET", "k", fallback=OFF) == 1

    server.refusing = True
    answers = await asyncio.gather(shared.script(ECHO, [], ["a"], fallback=OFF), shared.command(b"GET", "k", fallback=OFF))
    assert answers == [NO_REDIS, NO_REDIS]
    assert shared.down and metrics.REDIS_FALLBACK._value.get() == 1
    connections = server.connections
    for _ in range(3):  # within REDIS_RETRY_SECONDS: not even a connection attempt
        assert await shared.command(b"GET", "k", fallback=OFF) is NO_REDIS
    assert server.connections == connections
    unreachable = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1 and unreachable[0].endswith(f": {OFF} until it answers")

    server.refusing = False
    await asyncio.sleep(0.25)  # past REDIS_RETRY_SECONDS
    assert await shared.command(b"GET", "k", fallback=OFF) == 1
    assert not shared.down and metrics.REDIS_FALLBACK._value.get() == 0
    assert any("reachable again" in r.getMessage() for r in caplog.records)


async def test_an_error_reply_answers_no_redis_and_the_other_calls_keep_theirs(shared, settings):
    settings.REDIS_URL = os.environ.get("REDIS_URL") or pytest.skip("needs Redis: set REDIS_URL")
    answers = await asyncio.gather(
        shared.script(ECHO, [], ["mine"], fallback=OFF),
        shared.script("return redis.error_reply('broken')", [], [], fallback=OFF),
    )
    assert answers == [b"mine", NO_REDIS]
    assert shared.down  # as every caller did before: an error reply means Redis is not to be trusted for now


async def test_an_argument_redis_cannot_take_answers_no_redis_without_sending(shared, settings, server):
    settings.REDIS_URL = f"redis://127.0.0.1:{server.port}/0"
    assert await shared.script(ECHO, [], [None], fallback=OFF) is NO_REDIS
    assert server.commands == []
