"""The OpenAPI 3 document of the public API, written by hand to match INTERFACE.md; GET /v1/openapi.json."""
from __future__ import annotations

from functools import cache

import orjson
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from infra.errors import error_response, method_not_allowed


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _errors(*statuses: str) -> dict:
    described = {
        "400": "Malformed JSON, a wrong field type or a missing field (`invalid_request_error`).",
        "401": "Missing, unknown, revoked or expired key (`authentication_error`).",
        "403": "Model not allowed for this tenant, or tenant disabled (`permission_error`).",
        "404": "Unknown model (`not_found_error`).",
        "405": "Wrong method (`invalid_request_error`).",
        "413": "Body over the size limit (`invalid_request_error`).",
        "429": "Rate limit, budget or too many failed key checks; see `Retry-After`.",
        "502": "Every provider in the chain failed (`upstream_error`).",
        "504": "Every provider in the chain timed out (`timeout_error`).",
    }
    return {status: _error(described[status]) for status in statuses}


_NULLABLE_STRING = {"type": "string", "nullable": True}

_SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "code"],
                "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "code": _NULLABLE_STRING,
                               "param": {"type": "string"}},
            }
        },
    },
    "ContentPart": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}},
    "Message": {
        "type": "object",
        "required": ["role"],
        "description": "`content` is required except for `assistant` messages that carry `tool_calls`.",
        "properties": {
            "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool", "function"]},
            "content": {"nullable": True, "oneOf": [{"type": "string"}, {"type": "array", "items": _ref("ContentPart")}]},
            "name": {"type": "string"},
            "tool_calls": {"type": "array", "items": {"type": "object"}},
            "tool_call_id": {"type": "string"},
        },
    },
    "ChatCompletionRequest": {
        "type": "object",
        "required": ["model", "messages"],
        "additionalProperties": True,
        "description": "OpenAI's chat completions body; fields the gateway does not know are passed upstream.",
        "properties": {
            "model": {"type": "string", "minLength": 1},
            "messages": {"type": "array", "minItems": 1, "items": _ref("Message"),
                         "description": "At most MAX_MESSAGES items (default 2048)."},
            "stream": {"type": "boolean", "nullable": True},
            "stream_options": {"type": "object", "nullable": True,
                               "properties": {"include_usage": {"type": "boolean", "nullable": True}}},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2, "nullable": True},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 2**53, "nullable": True},
            "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": 2**53, "nullable": True},
            "stop": {"nullable": True, "oneOf": [{"type": "string"},
                                                 {"type": "array", "maxItems": 4, "items": {"type": "string"}}]},
            "n": {"type": "integer", "minimum": 1, "maximum": 128, "nullable": True},
            "seed": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1, "nullable": True},
            "tools": {"type": "array", "items": {"type": "object"}, "nullable": True},
            "tool_choice": {"nullable": True, "oneOf": [{"type": "string"}, {"type": "object"}]},
            "response_format": {"type": "object", "nullable": True},
            "user": _NULLABLE_STRING,
        },
    },
    "ChatCompletion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["chat.completion"]},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {"type": "array", "items": {"type": "object"}},
            "usage": _ref("TokenUsage"),
        },
    },
    "TokenUsage": {
        "type": "object",
        "properties": {
            **{name: {"type": "integer"} for name in ("prompt_tokens", "completion_tokens", "total_tokens")},
            "prompt_tokens_details": {"type": "object", "properties": {"cached_tokens": {"type": "integer"}}},
            "completion_tokens_details": {"type": "object", "properties": {"reasoning_tokens": {"type": "integer"}}},
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "object", "owned_by"],
                "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["model"]},
                               "created": {"type": "integer"}, "owned_by": {"type": "string"}},
            }},
        },
    },
    "UsageTotals": {
        "type": "object",
        "properties": {
            **{name: {"type": "integer"} for name in
               ("requests", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
                "reasoning_tokens", "cached_requests", "errors")},
            "cost_usd": {"type": "string", "description": "Exact decimal string (the ledger's sum, never rounded), never a float."},
        },
    },
    "UsageReport": {
        "type": "object",
        "required": ["object", "tenant", "start", "end", "group_by", "data", "total"],
        "properties": {
            "object": {"type": "string", "enum": ["usage"]},
            "tenant": {"type": "string"},
            "start": {"type": "string", "format": "date"},
            "end": {"type": "string", "format": "date"},
            "group_by": {"type": "string", "enum": ["model", "day", "key"]},
            "data": {"type": "array", "items": {"allOf": [_ref("UsageTotals"), {"type": "object", "properties": {
                "model": {"type": "string"}, "day": {"type": "string"}, "key": {"type": "string"}}}]}},
            "total": _ref("UsageTotals"),
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok", "degraded", "down"]},
                       "database": {"type": "object"}, "cache": {"type": "object"}},
    },
}

_SECURITY = [{"ApiKey": []}, {"Bearer": []}]

_PATHS = {
    "/v1/chat/completions": {"post": {
        "operationId": "createChatCompletion",
        "summary": "OpenAI-compatible chat completions; `stream: true` answers Server-Sent Events ending `data: [DONE]`.",
        "security": _SECURITY,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ChatCompletionRequest")}}},
        "responses": {
            "200": {"description": "The answer (JSON), or a stream of `chat.completion.chunk` events.", "content": {
                "application/json": {"schema": _ref("ChatCompletion")},
                "text/event-stream": {"schema": {"type": "string"}},
            }},
            **_errors("400", "401", "403", "404", "413", "429", "502", "504"),
        },
    }},
    "/v1/models": {"get": {
        "operationId": "listModels",
        "summary": "The models this key's tenant may use, in OpenAI's list format.",
        "security": _SECURITY,
        "responses": {"200": {"description": "Models.", "content": {"application/json": {"schema": _ref("ModelList")}}},
                      **_errors("401", "403", "429")},
    }},
    "/v1/usage": {"get": {
        "operationId": "getUsage",
        "summary": "This tenant's usage between two UTC dates (both inclusive), as JSON or CSV.",
        "security": _SECURITY,
        "parameters": [
            {"name": "start", "in": "query", "schema": {"type": "string", "format": "date"}},
            {"name": "end", "in": "query", "schema": {"type": "string", "format": "date"}},
            {"name": "group_by", "in": "query", "schema": {"type": "string", "enum": ["model", "day", "key"]}},
            {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}},
        ],
        "responses": {
            "200": {"description": "The report.", "content": {"application/json": {"schema": _ref("UsageReport")},
                                                              "text/csv": {"schema": {"type": "string"}}}},
            **_errors("400", "401", "403", "429"),
        },
    }},
    "/health": {"get": {
        "operationId": "health",
        "summary": "Liveness and readiness, with the state of the database and the cache; no key needed.",
        "security": [],
        "responses": {
            "200": {"description": "Serving (`ok`, or `degraded`).", "content": {"application/json": {"schema": _ref("Health")}}},
            "503": {"description": "Not ready, or shutting down.", "content": {"application/json": {"schema": {
                "oneOf": [_ref("Health"), _ref("Error")]}}}},
        },
    }},
}


@cache
def document() -> bytes:
    """The OpenAPI document, serialised once."""
    return orjson.dumps({
        "openapi": "3.0.3",
        "info": {"title": "AI gateway", "version": "1", "description": "OpenAI-compatible gateway; see the README."},
        "servers": [{"url": "/"}],
        "paths": _PATHS,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    })


@csrf_exempt
async def view(request):
    if request.method not in ("GET", "HEAD"):
        return error_response(method_not_allowed(request.method))
    return HttpResponse(document(), content_type="application/json")
