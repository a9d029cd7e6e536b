"""A fake Redis for the wire's corner cases: a real TCP (or Unix) server on this machine, answering as told."""
from __future__ import annotations

import asyncio

import hiredis

CLOSE = object()  # FakeRedis: close the connection instead of answering


class FakeRedis:
    """A real TCP (or Unix) server on this machine: records the commands it reads, answers as `answer` says.

    answer(connection number, command) -> bytes to write, None to stay silent, or CLOSE."""

    def __init__(self, answer, delay: float = 0.0):
        self.answer, self.delay = answer, delay
        self.commands: list[list[bytes]] = []
        self.connections = 0
        self._writers = []

    async def start(self, unix_path: str | None = None) -> "FakeRedis":
        if unix_path:
            self.server = await asyncio.start_unix_server(self._serve, unix_path)
        else:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.close()
        for writer in self._writers:
            writer.close()

    async def _serve(self, reader, writer):
        self.connections += 1
        number = self.connections
        self._writers.append(writer)
        parser = hiredis.Reader()
        while data := await reader.read(65536):
            parser.feed(data)
            while (command := parser.gets()) is not False:
                self.commands.append(command)
                reply = self.answer(number, command)
                if reply is CLOSE:
                    writer.close()
                    return
                if reply:
                    await asyncio.sleep(self.delay)
                    writer.write(reply)
        writer.close()
