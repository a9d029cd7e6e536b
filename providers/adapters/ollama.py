"""Ollama through its OpenAI-compatible endpoint (base_url ends with /v1); no secret."""
from __future__ import annotations

from ..types import ChatRequest, EmbeddingRequest, Target, UpstreamRequest
from . import common, openai
from .openai import StreamParser, parse_embeddings_response, parse_response

__all__ = ["build_request", "parse_response", "StreamParser", "build_embeddings_request", "parse_embeddings_response"]


def build_request(req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
    url = f"{target.base_url}/chat/completions"
    body = openai.body(req, target.upstream_model, stream=stream)
    return UpstreamRequest("POST", url, common.json_headers(stream), body, stream)


def build_embeddings_request(req: EmbeddingRequest, target: Target) -> UpstreamRequest:
    body = openai.embeddings_body(req, target.upstream_model)
    return UpstreamRequest("POST", f"{target.base_url}/embeddings", common.json_headers(False), body)
