"""Azure OpenAI: OpenAI's wire format on a per-deployment URL with an `api-key` header."""
from __future__ import annotations

from urllib.parse import quote

from ..types import ChatRequest, Target, UpstreamRequest
from . import common, openai
from .openai import StreamParser, parse_response

__all__ = ["build_request", "parse_response", "StreamParser"]

# The GA version used when the provider row names none.
DEFAULT_API_VERSION = "2024-10-21"


def build_request(req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
    version = target.options.get("api_version") or DEFAULT_API_VERSION
    deployment = quote(target.upstream_model, safe="")
    url = f"{target.base_url}/openai/deployments/{deployment}/chat/completions?api-version={quote(version, safe='')}"
    headers = common.json_headers(stream)
    if target.api_key:
        headers["api-key"] = target.api_key
    # The deployment picks the model; Azure ignores a model in the body.
    return UpstreamRequest("POST", url, headers, openai.body(req, None, stream=stream), stream)
