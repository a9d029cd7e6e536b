"""POST /v1/embeddings: OpenAI's embeddings wire shape on the one pipeline; translation only.

`input` is a string, an array of strings, an array of token ids, or an array of such arrays;
`encoding_format` and `dimensions` are passed on. Embeddings are deterministic, so every request
is cacheable (per tenant, while the cache is on). Billed on input tokens (../shared/INTERFACE.md,
"More endpoints").
"""
from __future__ import annotations

from typing import Any

import orjson

from infra.errors import GatewayError, bad_request
from providers import routing
from providers.types import EmbeddingRequest

from .endpoint import Endpoint
from .validation import _int, _string, parse_json

MAX_INPUTS = 2048  # OpenAI's limit on inputs in one request
MAX_TOKEN_ID = 2**31 - 1
FORMATS = ("float", "base64")
KNOWN = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def _tokens(value: list, where: str) -> tuple[int, ...]:
    if not value:
        raise bad_request(f"'{where}' must not be empty.", param="input")
    for token in value:
        if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token <= MAX_TOKEN_ID:
            raise bad_request(f"'{where}' must hold token ids (integers from 0 to {MAX_TOKEN_ID}).", param="input")
    return tuple(value)


def _input(data: dict[str, Any]) -> tuple[str | tuple[int, ...], ...]:
    if "input" not in data:
        raise bad_request("Missing required field 'input'.", param="input")
    value = data["input"]
    if isinstance(value, str):
        items: list = [value]
    elif isinstance(value, list) and value:
        if isinstance(value[0], int) and not isinstance(value[0], bool):
            return (_tokens(value, "input"),)  # one token array
        items = value
    else:
        raise bad_request("'input' must be a non-empty string, an array of strings, or token arrays.", param="input")
    if len(items) > MAX_INPUTS:
        raise bad_request(f"'input' may hold at most {MAX_INPUTS} items, got {len(items)}.", param="input")
    out: list[str | tuple[int, ...]] = []
    for i, item in enumerate(items):
        if isinstance(item, str) and item:
            out.append(item)
        elif isinstance(item, list):
            out.append(_tokens(item, f"input[{i}]"))
        else:
            raise bad_request(f"'input[{i}]' must be a non-empty string or an array of token ids.", param="input")
    if len({type(item) for item in out}) > 1:
        raise bad_request("'input' must hold only strings or only token arrays.", param="input")
    return tuple(out)


def parse_embedding_request(data: dict[str, Any]) -> EmbeddingRequest:
    model = data.get("model")
    if model is None:
        raise bad_request("Missing required field 'model'.", param="model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' must be a non-empty string.", param="model")
    encoding_format = data.get("encoding_format")
    if encoding_format is not None and encoding_format not in FORMATS:
        raise bad_request("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    return EmbeddingRequest(
        model=model,
        input=_input(data),
        encoding_format=encoding_format,
        dimensions=_int(data, "dimensions", 1, 65536),
        user=_string(data, "user"),
        extra={k: v for k, v in data.items() if k not in KNOWN},
        raw=data,
    )


def _parse(body: bytes, headers=None) -> EmbeddingRequest:
    return parse_embedding_request(parse_json(body))


def _error_body(err: GatewayError) -> bytes:
    return orjson.dumps(err.payload())


def _cacheable(req: EmbeddingRequest) -> bool:
    return True  # the same input gives the same vectors


EMBEDDINGS = Endpoint(
    name="embeddings",
    parse=_parse,
    render=orjson.dumps,
    stream=None,
    cacheable=_cacheable,
    error_body=_error_body,
    mode="embeddings",
    call=routing.embed,
)
