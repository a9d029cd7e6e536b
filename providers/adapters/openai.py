"""OpenAI chat completions (and any OpenAI-compatible server): the reference wire format."""
from __future__ import annotations

import time

from ..types import (
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, EmbeddingRequest, EmbeddingResponse, SSEEvent, Target,
    UpstreamRequest, Usage,
)
from . import common


def body(req: ChatRequest, model: str | None, *, stream: bool) -> bytes:
    """The client's body, passed through, with our model and streaming options."""
    out = dict(req.raw)
    out.pop("model", None)
    if model is not None:
        out["model"] = model
    if stream:
        # Always ask for usage so the gateway can bill; it drops the chunk if the client did not ask.
        out["stream"] = True
        out["stream_options"] = {**(out.get("stream_options") or {}), "include_usage": True}
    else:
        out.pop("stream", None)
        out.pop("stream_options", None)
    return common.dumps(out)


def build_request(req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
    headers = common.json_headers(stream)
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    url = f"{target.base_url}/chat/completions"
    return UpstreamRequest("POST", url, headers, body(req, target.upstream_model, stream=stream), stream)


def embeddings_body(req: EmbeddingRequest, model: str | None) -> bytes:
    """The client's embeddings body, passed through (encoding_format, dimensions, user, extras), with our model."""
    out = dict(req.raw)
    out.pop("model", None)
    if model is not None:
        out["model"] = model
    return common.dumps(out)


def build_embeddings_request(req: EmbeddingRequest, target: Target) -> UpstreamRequest:
    headers = common.json_headers(False)
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    return UpstreamRequest("POST", f"{target.base_url}/embeddings", headers, embeddings_body(req, target.upstream_model))


def parse_embeddings_response(status: int, body: bytes, target: Target) -> EmbeddingResponse:
    return common.embeddings_response(status, body, target)


def _choice(item: object, i: int) -> Choice | None:
    if not isinstance(item, dict) or not isinstance(item.get("message"), dict):
        return None
    index = item.get("index")
    return Choice(index if isinstance(index, int) else i, item["message"], item.get("finish_reason"))


def parse_response(status: int, body: bytes, target: Target) -> ChatResponse:
    if not common.is_success(status):
        raise common.http_error(status, body, target)
    data = common.load_object(body)
    items = data.get("choices") if data else None
    if not isinstance(items, list) or not items:
        raise common.malformed(status, f"{target.provider} answered without choices")
    choices = tuple(_choice(item, i) for i, item in enumerate(items))
    if None in choices:
        raise common.malformed(status, f"{target.provider} answered a choice without a message")
    created = data.get("created")
    fingerprint = data.get("system_fingerprint")
    return ChatResponse(
        id=str(data.get("id") or ""),
        model=target.public_model,
        created=created if isinstance(created, int) and created > 0 else int(time.time()),
        choices=choices,
        usage=common.openai_usage(data.get("usage")),
        system_fingerprint=fingerprint if isinstance(fingerprint, str) else None,
    )


def _chunk_choice(item: object, i: int) -> ChunkChoice | None:
    if not isinstance(item, dict):
        return None
    index = item.get("index")
    delta = item.get("delta")
    return ChunkChoice(index if isinstance(index, int) else i, delta if isinstance(delta, dict) else {},
                       item.get("finish_reason"))


class StreamParser:
    """chat.completion.chunk events in, ChatChunks out; `[DONE]` ends the stream."""

    def __init__(self, target: Target):
        self.target = target
        self.done = False
        self.usage: Usage | None = None

    def feed(self, event: SSEEvent) -> list[ChatChunk]:
        if event.data.strip() == "[DONE]":
            self.done = True
            return []
        data = common.load_object(event.data)
        if data is None:
            raise common.malformed(None, f"{self.target.provider} sent a stream event that is not a JSON object")
        if "error" in data and not data.get("choices"):
            raise common.stream_error(data["error"], self.target)
        usage = common.openai_usage(data.get("usage"))
        if usage is not None:
            self.usage = usage
        items = data.get("choices") if isinstance(data.get("choices"), list) else []
        choices = tuple(c for c in (_chunk_choice(item, i) for i, item in enumerate(items)) if c is not None)
        if not choices and usage is None:
            return []  # e.g. Azure's leading prompt_filter_results chunk
        created = data.get("created")
        return [ChatChunk(
            id=str(data.get("id") or ""),
            model=self.target.public_model,
            created=created if isinstance(created, int) and created > 0 else int(time.time()),
            choices=choices,
            usage=usage,
        )]

    def finish(self) -> list[ChatChunk]:
        return []
