"""redispipe: SharedRedis's scripts over one pipelined connection per loop, against real Redis and real sockets."""
import asyncio
import os
import time
from urllib.parse import urlsplit

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra import redispipe, sharedredis
from tests.fakes.redis_server import CLOSE, FakeRedis

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL (make test does)")

ECHO = "return ARGV[1]"
ALL = "return {KEYS[1], ARGV[1], ARGV[2]}"


def redis_url(db: int) -> str:
    """The test Redis, database `db`."""
    parts = urlsplit(os.environ["REDIS_URL"])
    return parts._replace(path=f"/{db}", query="").geturl()


@pytest.fixture
async def shared(settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    shared = sharedredis.SharedRedis()
    yield shared
    shared.forget()


def use(shared: sharedredis.SharedRedis, settings, url: str, socket_timeout: float | None = None):
    """The pipe for `url`, a fresh one."""
    settings.REDIS_URL = url
    if socket_timeout is not None:
        settings.GATEWAY = {**settings.GATEWAY, "REDIS_SOCKET_TIMEOUT": socket_timeout}
    return shared.pipe()


class CountingTransport:
    """Calls through to the connection's transport, keeping what each write sent."""

    def __init__(self, transport):
        self.transport, self.writes = transport, []

    def write(self, data):
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name):
        return getattr(self.transport, name)


async def connected(shared) -> CountingTransport:
    """Connect the pipe and have Redis know the scripts (other tests flush them), then count its writes."""
    assert await asyncio.gather(shared.run(ECHO, [], ["warm"]), shared.run(ALL, ["k"], [1, 2]))
    conn = shared._pipe._conn
    conn.transport = CountingTransport(conn.transport)
    return conn.transport


async def until(condition, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0)


@pytest.fixture
async def fake():
    servers = []

    async def make(answer, delay=0.0, unix_path=None):
        servers.append(await FakeRedis(answer, delay).start(unix_path))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


async def test_the_calls_of_one_turn_go_out_in_one_write_with_their_own_answers(shared, settings):
    use(shared, settings, os.environ["REDIS_URL"])
    transport = await connected(shared)
    values = ["text", b"bytes", 7, -3, 2.5, "\u00e9t\u00e9"]
    calls = [(f"k{i}", i, values[i % len(values)]) for i in range(60)]
    answers = await asyncio.gather(*(shared.run(ALL, [key], [i, value]) for key, i, value in calls))
    encoded = {"text": b"text", b"bytes": b"bytes", 7: b"7", -3: b"-3", 2.5: b"2.5", "\u00e9t\u00e9": "\u00e9t\u00e9".encode()}
    assert answers == [[key.encode(), str(i).encode(), encoded[value]] for key, i, value in calls]
    assert len(transport.writes) == 1
    assert transport.writes[0].count(b"EVALSHA") == 60


async def test_batches_in_flight_together_resolve_in_order(shared, settings):
    use(shared, settings, os.environ["REDIS_URL"])
    transport = await connected(shared)
    conn = shared._pipe._conn
    transport.pause_reading()  # replies wait in the socket until every batch is out
    calls = []
    for batch in range(4):
        calls += [asyncio.ensure_future(shared.run(ECHO, [], [f"{batch}-{i}"])) for i in range(3)]
        await until(lambda: len(conn._waiting) == batch + 1)
    assert len(transport.writes) == 4
    transport.resume_reading()
    assert await asyncio.gather(*calls) == [f"{batch}-{i}".encode() for batch in range(4) for i in range(3)]


async def test_values_come_back_as_redis_py_returns_them(shared, settings):
    use(shared, settings, os.environ["REDIS_URL"])
    scripts = {
        "return 42": 42,
        "return -7": -7,
        "return 'abc'": b"abc",
        "return {1, 'two', {3, {'four'}}}": [1, b"two", [3, [b"four"]]],
        "return {1, false, 'x'}": [1, None, b"x"],
        "return false": None,
        "return redis.status_reply('FINE')": b"FINE",
        "return {}": [],
    }
    ours = await asyncio.gather(*(shared.run(lua, [], []) for lua in scripts))
    async with redis.asyncio.Redis.from_url(os.environ["REDIS_URL"]) as plain:
        theirs = [await plain.eval(lua, 0) for lua in scripts]
    behind = sharedredis.SharedRedis()  # redis-py's pool behind the same send()
    use(behind, settings, redis_url(11) + "?socket_keepalive=true")
    pooled = await asyncio.gather(*(behind.run(lua, [], []) for lua in scripts))
    behind.forget()

    def shape(value):
        return [shape(v) for v in value] if isinstance(value, list) else (type(value), value)

    assert ours == list(scripts.values())
    assert shape(ours) == shape(theirs) == shape(pooled)


async def test_scripts_redis_lost_are_loaded_again(shared, settings):
    use(shared, settings, os.environ["REDIS_URL"])
    other = "return 'other:' .. ARGV[1]"
    assert await asyncio.gather(shared.run(ECHO, [], ["a"]), shared.run(other, [], ["b"])) == [b"a", b"other:b"]
    async with redis.asyncio.Redis.from_url(os.environ["REDIS_URL"]) as separate:
        await separate.script_flush()
        answers = await asyncio.gather(
            shared.run(ECHO, [], ["c"]), shared.run(other, [], ["d"]), shared.run(ECHO, [], ["e"]),
            shared.run("return (", [], []), return_exceptions=True,
        )
        assert answers[:3] == [b"c", b"other:d", b"e"]
        assert isinstance(answers[3], ResponseError) and not isinstance(answers[3], NoScriptError)
        assert "compiling" in str(answers[3])  # SCRIPT LOAD's error reaches the caller whose script it is
        assert await separate.script_exists(sharedredis._sha(ECHO), sharedredis._sha(other)) == [True, True]


async def test_an_error_reply_reaches_only_its_caller(shared, settings):
    use(shared, settings, os.environ["REDIS_URL"])
    answers = await asyncio.gather(
        shared.run(ECHO, [], ["first"]),
        shared.run("return redis.error_reply('mine alone')", [], []),
        shared.run("return redis.call('NOSUCHCOMMAND')", [], []),
        shared.run(ECHO, [], ["last"]),
        return_exceptions=True,
    )
    assert answers[0] == b"first" and answers[3] == b"last"
    assert type(answers[1]) is ResponseError and str(answers[1]) == "mine alone"
    assert type(answers[2]) is ResponseError and "unknown" in str(answers[2]).lower()
    with pytest.raises(DataError):  # an argument Redis cannot take fails its own call, at once
        await shared.run(ECHO, [], [None])
    assert await shared.run(ECHO, [], ["after"]) == b"after"


async def test_the_urls_database_is_selected(shared, settings):
    use(shared, settings, redis_url(12))
    assert await shared.run("redis.call('SET', KEYS[1], ARGV[1]) return 1", ["gw:test:pipe-db"], ["in 12"]) == 1
    async with redis.asyncio.Redis.from_url(redis_url(12)) as db12:
        assert await db12.getdel("gw:test:pipe-db") == b"in 12"


async def test_auth_and_select_go_first_and_answer_before_any_script(shared, settings, fake):
    server = await fake(lambda n, command: b"+OK\r\n" if command[0] in (b"AUTH", b"SELECT") else b":7\r\n")
    use(shared, settings, f"redis://user:s%40cret@127.0.0.1:{server.port}/5")
    assert await shared.run(ECHO, [], ["x"]) == 7
    sha = sharedredis._sha(ECHO).encode()
    assert server.commands == [[b"AUTH", b"user", b"s@cret"], [b"SELECT", b"5"], [b"EVALSHA", sha, b"0", b"x"]]

    server.commands.clear()
    use(shared, settings, f"redis://:pw@127.0.0.1:{server.port}?db=3")
    assert await shared.run(ECHO, [], ["y"]) == 7
    assert server.commands == [[b"AUTH", b"pw"], [b"SELECT", b"3"], [b"EVALSHA", sha, b"0", b"y"]]


async def test_a_refused_password_fails_the_call_and_runs_no_script(shared, settings, fake):
    server = await fake(lambda n, command: b"-WRONGPASS invalid username-password pair\r\n")
    use(shared, settings, f"redis://:wrong@127.0.0.1:{server.port}/0")
    with pytest.raises(RedisConnectionError):
        await shared.run(ECHO, [], ["x"])
    assert [command[0] for command in server.commands] == [b"AUTH"]


async def test_a_unix_socket_url(shared, settings, fake, tmp_path):
    server = await fake(lambda n, command: b"+OK\r\n" if command[0] == b"SELECT" else b"$4\r\nunix\r\n",
                        unix_path=str(tmp_path / "redis.sock"))
    use(shared, settings, f"unix://{tmp_path / 'redis.sock'}?db=2")
    assert await shared.run(ECHO, [], ["x"]) == b"unix"
    assert [command[0] for command in server.commands] == [b"SELECT", b"EVALSHA"]


async def test_a_url_with_options_goes_through_redis_py_and_lost_scripts_are_loaded_again(shared, settings):
    use(shared, settings, redis_url(11) + "?socket_keepalive=true")
    assert isinstance(shared._pipe, redispipe.RedisPyPipe)
    assert await shared.run(ECHO, [], ["via redis-py"]) == b"via redis-py"
    async with redis.asyncio.Redis.from_url(redis_url(11)) as separate:
        await separate.script_flush()
    answers = await asyncio.gather(
        shared.run(ECHO, [], ["again"]), shared.run("return redis.error_reply('mine alone')", [], []),
        shared.run("return (", [], []), return_exceptions=True,
    )
    assert answers[0] == b"again"
    assert type(answers[1]) is ResponseError and str(answers[1]) == "mine alone"
    assert isinstance(answers[2], ResponseError) and "compiling" in str(answers[2])


async def test_an_unreachable_redis_fails_the_call_through_redis_py_too(shared, settings, fake):
    server = await fake(lambda n, command: b":1\r\n")
    server.stop()
    use(shared, settings, f"redis://127.0.0.1:{server.port}/0?socket_keepalive=true")
    with pytest.raises(RedisConnectionError):
        await shared.run(ECHO, [], ["x"])


async def test_no_reply_in_the_socket_timeout_fails_the_calls_and_the_next_call_reconnects(shared, settings, fake):
    server = await fake(lambda n, command: None if n == 1 else b"$2\r\nok\r\n")
    use(shared, settings, f"redis://127.0.0.1:{server.port}/0", socket_timeout=0.2)
    started = time.monotonic()
    async with asyncio.timeout(5):  # a failure, not a hang, if the timeout never fires
        answers = await asyncio.gather(*(shared.run(ECHO, [], [i]) for i in range(3)), return_exceptions=True)
    assert all(isinstance(answer, RedisTimeoutError) for answer in answers)
    assert isinstance(answers[0], RedisError)  # what callers catch: they fall back
    assert 0.15 < time.monotonic() - started < 1.5
    assert await shared.run(ECHO, [], ["again"]) == b"ok"
    assert server.connections == 2


async def test_the_timeout_counts_from_the_last_reply_not_from_each_write(shared, settings, fake):
    server = await fake(lambda n, command: b"$2\r\nok\r\n", delay=0.2)  # one reply every 0.2 s
    use(shared, settings, f"redis://127.0.0.1:{server.port}/0", socket_timeout=0.5)
    calls = []
    for i in range(5):  # five batches, together 1 s: twice the timeout, but never 0.5 s without a reply
        calls.append(asyncio.ensure_future(shared.run(ECHO, [], [i])))
        await asyncio.sleep(0.01)
    assert await asyncio.gather(*calls) == [b"ok"] * 5
    assert server.connections == 1


async def test_a_connection_lost_mid_flight_fails_its_calls_and_the_next_call_reconnects(shared, settings, fake):
    server = await fake(lambda n, command: CLOSE if n == 1 else b":1\r\n")
    use(shared, settings, f"redis://127.0.0.1:{server.port}/0")
    async with asyncio.timeout(5):
        answers = await asyncio.gather(*(shared.run(ECHO, [], [i]) for i in range(3)), return_exceptions=True)
    assert all(isinstance(answer, RedisConnectionError) for answer in answers), answers
    assert await shared.run(ECHO, [], ["again"]) == 1
    assert server.connections == 2


async def test_an_unreachable_redis_fails_the_call(shared, settings, fake):
    server = await fake(lambda n, command: b":1\r\n")
    server.stop()
    use(shared, settings, f"redis://127.0.0.1:{server.port}/0")
    with pytest.raises(RedisConnectionError):
        await shared.run(ECHO, [], ["x"])


async def test_a_cancelled_caller_does_not_shift_the_answers_of_the_others(shared, settings):
    use(shared, settings, os.environ["REDIS_URL"])
    transport = await connected(shared)
    transport.pause_reading()
    calls = [asyncio.ensure_future(shared.run(ECHO, [], [i])) for i in range(6)]
    await until(lambda: len(transport.writes) == 1)
    calls[1].cancel()
    calls[4].cancel()
    transport.resume_reading()
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert [answers[i] for i in (0, 2, 3, 5)] == [b"0", b"2", b"3", b"5"]
    assert calls[1].cancelled() and calls[4].cancelled()
    assert await shared.run(ECHO, [], ["next"]) == b"next"


def test_forgetting_a_connection_whose_loop_is_closed_raises_nothing(settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    shared = sharedredis.SharedRedis()

    async def call():
        return await shared.run(ECHO, [], ["x"])

    for _ in range(2):  # the second loop's client replaces the first's, whose loop is closed
        loop = asyncio.new_event_loop()
        assert loop.run_until_complete(call()) == b"x"
        loop.close()
    shared.forget()
