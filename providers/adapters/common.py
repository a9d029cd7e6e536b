"""Helpers shared by the adapters: JSON, status classification, and error bodies stripped of secrets."""
from __future__ import annotations

import base64
import re
import struct
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from ..types import MAX_TOKENS, EmbeddingResponse, Target, UpstreamError, Usage

# Statuses where another attempt (or another provider) may succeed.
RETRYABLE_4XX = frozenset({408, 409, 429})

DEFAULT_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

MAX_MESSAGE = 1000
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',]+")
_ASSIGNED = re.compile(
    r"(?i)\b(api[-_ ]?key|x-api-key|access[-_]?token|token|secret|password|authorization|signature|sig)"
    r"(\s*[:=]\s*)[\"']?[^\s\"',;]+"
)
_PROVIDER_KEY = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}")
# Long opaque strings mixing letters and digits look like keys or signed tokens.
_OPAQUE = re.compile(r"[A-Za-z0-9+/=_\-]{32,}")
_IDENT = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def load_object(body: bytes | str) -> dict | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def is_success(status: int) -> bool:
    return 200 <= status < 300


def retryable_status(status: int) -> bool:
    return status in RETRYABLE_4XX or status >= 500


def json_headers(stream: bool) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}


def _strip_url(match: re.Match) -> str:
    parts = urlsplit(match.group(0))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _opaque(match: re.Match) -> str:
    text = match.group(0)
    if any(c.isdigit() for c in text) and any(c.isalpha() for c in text):
        return "[redacted]"
    return text


def redact(text: str, secret: str = "") -> str:
    """Text safe to show a caller: no keys, tokens, credentials in URLs or query strings."""
    if secret and len(secret) >= 6:
        text = text.replace(secret, "[redacted]")
    text = _URL.sub(_strip_url, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _ASSIGNED.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    text = _PROVIDER_KEY.sub("[redacted]", text)
    text = _OPAQUE.sub(_opaque, text)
    return text[:MAX_MESSAGE]


def _ident(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and _IDENT.match(value) else None


def error_object(data: dict | None, status: int | None, target: Target) -> dict:
    """An OpenAI-shaped {"message","type","code"} from any provider's error body, secrets stripped."""
    error: Any = (data or {}).get("error")
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        error = {"message": (data or {}).get("message")}
    message = error.get("message")
    if not isinstance(message, str) or not message.strip():
        message = f"The provider answered HTTP {status}." if status else "The provider reported an error."
    fallback = DEFAULT_TYPES.get(status or 0, "upstream_error")
    return {
        "message": redact(message, target.api_key),
        "type": _ident(error.get("type")) or fallback,
        "code": _ident(error.get("code")),
    }


def http_error(status: int, body: bytes, target: Target) -> UpstreamError:
    """The UpstreamError for a non-2xx answer."""
    clean = error_object(load_object(body), status, target)
    return UpstreamError(
        "http",
        f"{target.provider} answered HTTP {status}: {clean['message']}",
        status=status,
        retryable=retryable_status(status),
        body=clean,
    )


def stream_error(error: Any, target: Target) -> UpstreamError:
    """The UpstreamError for an error event inside a stream."""
    clean = error_object({"error": error}, None, target)
    return UpstreamError("stream", clean["message"], retryable=False, body=clean)


def malformed(status: int | None, what: str) -> UpstreamError:
    return UpstreamError("malformed", what, status=status, retryable=True)


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _detail(data: dict, name: str, field: str) -> int:
    details = data.get(name)
    return as_int(details.get(field)) if isinstance(details, dict) else 0


def usage(prompt: int, completion: int, cached: int = 0, cache_write: int = 0, reasoning: int = 0) -> Usage:
    """A Usage from a provider's counts; a count no ledger column can hold makes the answer malformed."""
    if max(prompt, completion) > MAX_TOKENS:
        raise malformed(None, f"the provider reported a token count above {MAX_TOKENS}")
    # Parts never exceed their whole: a provider's inconsistent details must not bill a negative class.
    cached = min(cached, prompt)
    return Usage(prompt, completion, cached_tokens=cached, cache_write_tokens=min(cache_write, prompt - cached),
                 reasoning_tokens=min(reasoning, completion))


def openai_usage(data: Any) -> Usage | None:
    """Usage from an OpenAI-shaped usage object (with its token details), or None."""
    if not isinstance(data, dict):
        return None
    return usage(
        as_int(data.get("prompt_tokens")),
        as_int(data.get("completion_tokens")),
        cached=_detail(data, "prompt_tokens_details", "cached_tokens"),
        reasoning=_detail(data, "completion_tokens_details", "reasoning_tokens"),
    )


def embeddings_response(status: int, body: bytes, target: Target) -> EmbeddingResponse:
    """An OpenAI-shaped embeddings answer ({"data": [{"index", "embedding"}], "usage"}), items in index order."""
    if not is_success(status):
        raise http_error(status, body, target)
    data = load_object(body)
    items = data.get("data") if data else None
    if not isinstance(items, list) or not items:
        raise malformed(status, f"{target.provider} answered without embeddings")
    out = []
    for i, item in enumerate(items):
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(vector, (list, str)):
            raise malformed(status, f"{target.provider} answered an item without an embedding")
        index = item.get("index")
        index = index if isinstance(index, int) and not isinstance(index, bool) else i
        out.append({"object": "embedding", "index": index, "embedding": vector})
    out.sort(key=lambda entry: entry["index"])
    return EmbeddingResponse(target.public_model, tuple(out), openai_usage(data.get("usage")))


def as_base64(response: EmbeddingResponse, target: Target) -> EmbeddingResponse:
    """Float vectors as OpenAI's base64 (little-endian float32), for a provider that ignored encoding_format."""
    data = []
    for item in response.data:
        vector = item["embedding"]
        if isinstance(vector, list):
            try:
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
            except (struct.error, TypeError, OverflowError):
                raise malformed(None, f"{target.provider} answered an embedding that is not numbers") from None
        data.append({**item, "embedding": vector})
    return EmbeddingResponse(response.model, tuple(data), response.usage)
