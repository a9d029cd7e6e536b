"""Who is calling: the client's address as the gateway sees it, behind its own proxy or not."""
from __future__ import annotations

from .hotsettings import hot


def client_address(request) -> str:
    """The caller's address: the socket peer, or the hop our own proxy added when TRUSTED_PROXY is on."""
    if hot.GATEWAY["TRUSTED_PROXY"]:
        forwarded = request.headers.get("x-forwarded-for", "")
        # The rightmost entry is the one our proxy appended; entries left of it come from the client.
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR") or "unknown"
