"""Ollama through its OpenAI-compatible endpoint (base_url ends with /v1); no secret."""
from __future__ import annotations

from ..types import ChatRequest, Target, UpstreamRequest
from . import common, openai
from .openai import StreamParser, parse_response

__all__ = ["build_request", "parse_response", "StreamParser"]


def build_request(req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
    url = f"{target.base_url}/chat/completions"
    body = openai.body(req, target.upstream_model, stream=stream)
    return UpstreamRequest("POST", url, common.json_headers(stream), body, stream)
