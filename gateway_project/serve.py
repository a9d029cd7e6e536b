"""Daphne with graceful shutdown and a slow-client timeout: `python -m gateway_project.serve [daphne args]`.

Takes every daphne option (e.g. `-b 0.0.0.0 -p 8000 gateway_project.asgi:application`). Plain
Daphne lets Twisted stop at once on SIGTERM and cancel open streams; here SIGTERM (or SIGINT)
drains first (gateway_project/shutdown.py), and a second signal stops at once.
"""
from __future__ import annotations

import signal
import sys

from daphne.cli import CommandLineInterface
from daphne.server import Server
from twisted.internet import reactor

from .env import envfloat
from .shutdown import drain, graceful


class DrainingServer(Server):
    """Daphne's server with our signal handlers in place of Twisted's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.signal_handlers = False

    def run(self):
        loop = reactor._asyncioEventloop  # the loop Daphne runs applications on
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal)
        reactor.callWhenRunning(self.limit_idle_clients)
        super().run()

    def limit_idle_clients(self) -> None:
        # Twisted drops a connection that sends nothing for this long while its request is read
        # (slow headers or a dribbled body); the timer restarts with each byte received.
        self.http_factory.timeOut = envfloat("REQUEST_IDLE_SECONDS", 30.0)

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
