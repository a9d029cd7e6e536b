"""Scripts called in the same loop turn share one pipeline; each caller gets its own answer or error."""
import asyncio
import os

import pytest
import redis.asyncio
from redis.exceptions import ResponseError

from infra import redispipe, sharedredis

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL (make test does)")

ECHO = "return ARGV[1]"
FAIL_ODD = "if tonumber(ARGV[1]) % 2 == 1 then return redis.error_reply('odd') end return ARGV[1]"


@pytest.fixture
async def shared():
    shared = sharedredis.SharedRedis()  # not the process's: earlier tests may have marked that one down
    yield shared
    shared.forget()  # closes its connection while the loop runs


@pytest.fixture
async def client(settings, shared):
    """A redis-py client of the same Redis, beside the shared pipe."""
    settings.REDIS_URL = os.environ["REDIS_URL"]
    shared.pipe()
    async with redis.asyncio.Redis.from_url(os.environ["REDIS_URL"]) as client:
        yield client


@pytest.fixture
def pipelines(monkeypatch):
    """Commands per write to Redis."""
    sent = []
    real = redispipe.RedisPipe.send

    def counting(pipe, commands, done):
        sent.append(len(commands))
        return real(pipe, commands, done)

    monkeypatch.setattr(redispipe.RedisPipe, "send", counting)
    return sent


async def test_calls_of_one_turn_go_in_one_pipeline_and_get_their_own_answers(shared, client, pipelines):
    answers = await asyncio.gather(*(shared.run(ECHO, [], [i]) for i in range(20)))
    assert answers == [str(i).encode() for i in range(20)]
    # The first write holds all 20 (another test run's SCRIPT FLUSH on the same server may add a reload after it).
    assert pipelines[0] == 20


async def test_a_script_redis_lost_is_loaded_again(shared, client, pipelines):
    await shared.run(ECHO, [], ["before"])
    await client.script_flush()
    assert await shared.run(ECHO, [], ["after"]) == b"after"
    assert pipelines[-2:] == [1, 2]  # NOSCRIPT, then SCRIPT LOAD and the same call once more


async def test_an_error_reaches_only_its_caller(shared, client):
    results = await asyncio.gather(*(shared.run(FAIL_ODD, [], [i]) for i in range(4)),
                                   return_exceptions=True)
    assert results[0] == b"0" and results[2] == b"2"
    assert all(isinstance(results[i], ResponseError) for i in (1, 3))


async def test_a_cancelled_caller_does_not_stop_the_others(shared, client):
    first = asyncio.ensure_future(shared.run(ECHO, [], ["gone"]))
    second = asyncio.ensure_future(shared.run(ECHO, [], ["here"]))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == b"here"
    assert first.cancelled()



async def test_bookkeeping_calls_of_a_short_while_share_one_later_pipeline(shared, client, pipelines, monkeypatch):
    monkeypatch.setattr(sharedredis, "LATER_SECONDS", 0.5)  # a window no stall of a busy machine outlasts
    first = asyncio.ensure_future(shared.run(ECHO, [], ["a"], later=True))
    for _ in range(3):  # other loop turns, same window
        await asyncio.sleep(0)
    assert first.done() is False and pipelines == []
    second = asyncio.ensure_future(shared.run(ECHO, [], ["b"], later=True))
    assert (await first, await second) == (b"a", b"b")
    assert pipelines[0] == 2  # a reload (another run's SCRIPT FLUSH) may follow it
