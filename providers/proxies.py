"""Which provider URLs go through a forward proxy: HTTP(S)_PROXY and NO_PROXY, read once per transport."""
from __future__ import annotations

import urllib.request

import httpx


class Proxies:
    """HTTP(S)_PROXY and NO_PROXY, read once: httpx reads them for a client it makes, not for a custom transport."""

    def __init__(self) -> None:
        self._env = urllib.request.getproxies()
        self._for: dict[tuple[str, str], str | None] = {}

    def __bool__(self) -> bool:
        return bool(self._env)

    def for_url(self, url: httpx.URL) -> str | None:
        """The forward proxy for this URL, or None to go straight to it."""
        key = (url.scheme, url.host)
        if key not in self._for:
            proxy = self._env.get(url.scheme)
            if proxy and urllib.request.proxy_bypass_environment(url.host, self._env):
                proxy = None
            self._for[key] = proxy
        return self._for[key]
