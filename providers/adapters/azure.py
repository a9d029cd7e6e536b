"""Azure OpenAI: OpenAI's wire format on a per-deployment URL with an `api-key` header."""
from __future__ import annotations

from urllib.parse import quote

from ..types import ChatRequest, EmbeddingRequest, Target, UpstreamRequest
from . import common, openai
from .openai import StreamParser, parse_embeddings_response, parse_response

__all__ = ["build_request", "parse_response", "StreamParser", "build_embeddings_request", "parse_embeddings_response"]

# The GA version used when the provider row names none.
DEFAULT_API_VERSION = "2024-10-21"


def _url(target: Target, operation: str) -> str:
    version = target.options.get("api_version") or DEFAULT_API_VERSION
    deployment = quote(target.upstream_model, safe="")
    return f"{target.base_url}/openai/deployments/{deployment}/{operation}?api-version={quote(version, safe='')}"


def _headers(target: Target, stream: bool) -> dict[str, str]:
    headers = common.json_headers(stream)
    if target.api_key:
        headers["api-key"] = target.api_key
    return headers


def build_request(req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
    # The deployment picks the model; Azure ignores a model in the body.
    body = openai.body(req, None, stream=stream)
    return UpstreamRequest("POST", _url(target, "chat/completions"), _headers(target, stream), body, stream)


def build_embeddings_request(req: EmbeddingRequest, target: Target) -> UpstreamRequest:
    body = openai.embeddings_body(req, None)
    return UpstreamRequest("POST", _url(target, "embeddings"), _headers(target, False), body)
