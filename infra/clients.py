"""Who is calling: the client's address as the gateway sees it, behind its own proxies or not."""
from __future__ import annotations

from .hotsettings import hot


def proxy_hops() -> int:
    """How many proxies of our own append to X-Forwarded-For (TRUSTED_PROXY=1 is one)."""
    return hot.GATEWAY["TRUSTED_PROXY_HOPS"] or (1 if hot.GATEWAY["TRUSTED_PROXY"] else 0)


def client_address(request) -> str:
    """The caller's address: the socket peer, or with N trusted proxies the Nth X-Forwarded-For hop from the right.

    Each of our proxies appends the address it received from; hops further left come from the client
    and can be forged. A header with fewer hops than proxies did not come through all of them: the
    socket peer is used then."""
    trusted = proxy_hops()
    if trusted:
        forwarded = request.headers.get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= trusted:
            return hops[-trusted]
    return request.META.get("REMOTE_ADDR") or "unknown"
