"""How URLs that may carry a credential appear in the audit trail (TRACKED in infra/audit/apps.py).

A mask runs while the change is saved, so it never raises: what it cannot read becomes "…".
auditlog hands it the value as text, a missing one as "None"; missing and empty both come back as None.
"""
from urllib.parse import urlsplit, urlunsplit

HIDDEN = "…"


def _split(value: str) -> tuple[str, str, str] | None:
    """(scheme, host[:port], path) of a URL, or None when it has no host or is malformed."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return parts.scheme, host if port is None else f"{host}:{port}", parts.path


def host_only(value: str) -> str | None:
    """Scheme and host: a webhook URL often carries its token in the path (Slack, Discord) or the query."""
    if value in ("", "None"):
        return None
    split = _split(value)
    return f"{split[0]}://{split[1]}/{HIDDEN}" if split else HIDDEN


def without_credentials(value: str) -> str | None:
    """The URL without user:password@, query or fragment: a provider's base URL keeps its path."""
    if value in ("", "None"):
        return None
    split = _split(value)
    return urlunsplit((*split, "", "")) if split else HIDDEN
