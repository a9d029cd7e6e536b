"""The hand-written OpenAPI description of the completion endpoints and /health.

These are raw ASGI and plain Django views, which drf-spectacular cannot see; gateway_project/openapi.py
joins this with the generated document of the DRF endpoints.
"""
from __future__ import annotations


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def error_answer(description: str, schema: str = "Error") -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*statuses: str, schema: str = "Error") -> dict:
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
    return {status: error_answer(described[status], schema) for status in statuses}


_NULLABLE_STRING = {"type": "string", "nullable": True}
_TOKEN = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}

SCHEMAS = {
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
    "EmbeddingRequest": {
        "type": "object",
        "required": ["model", "input"],
        "additionalProperties": True,
        "description": "OpenAI's embeddings body, for a route added with `--mode embeddings`; fields the gateway does "
                       "not know are passed upstream.",
        "properties": {
            "model": {"type": "string", "minLength": 1},
            "input": {
                "description": "A string, an array of strings, an array of token ids, or an array of token-id arrays; "
                               "at most 2048 inputs, none empty.",
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string", "minLength": 1}},
                    {"type": "array", "minItems": 1, "items": _TOKEN},
                    {"type": "array", "minItems": 1, "maxItems": 2048,
                     "items": {"type": "array", "minItems": 1, "items": _TOKEN}},
                ],
            },
            "encoding_format": {"type": "string", "enum": ["float", "base64"], "nullable": True,
                                "description": "`base64`: little-endian float32 vectors, base64-encoded."},
            "dimensions": {"type": "integer", "minimum": 1, "maximum": 65536, "nullable": True},
            "user": _NULLABLE_STRING,
        },
    },
    "EmbeddingList": {
        "type": "object",
        "required": ["object", "data", "model", "usage"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": {
                "type": "object",
                "required": ["object", "index", "embedding"],
                "properties": {
                    "object": {"type": "string", "enum": ["embedding"]},
                    "index": {"type": "integer"},
                    "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]},
                },
            }},
            "model": {"type": "string"},
            "usage": {"type": "object", "required": ["prompt_tokens", "total_tokens"],
                      "properties": {"prompt_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}},
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
    "AnthropicError": {
        "type": "object",
        "required": ["type", "error"],
        "description": "Anthropic's error shape, on /v1/messages; `error.type` follows the status "
                       "(`invalid_request_error`, `authentication_error`, `rate_limit_error`, `api_error`, ...).",
        "properties": {
            "type": {"type": "string", "enum": ["error"]},
            "error": {"type": "object", "required": ["type", "message"],
                      "properties": {"type": {"type": "string"}, "message": {"type": "string"}}},
        },
    },
    "MessagesRequest": {
        "type": "object",
        "required": ["model", "max_tokens", "messages"],
        "additionalProperties": True,
        "description": "Anthropic's Messages body. To an `anthropic` provider it goes as it came (the route's model; "
                       "`anthropic-beta` passed on); to the others it is translated to chat completions.",
        "properties": {
            "model": {"type": "string", "minLength": 1},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 2**53},
            "messages": {"type": "array", "minItems": 1, "description": "At most MAX_MESSAGES items (default 2048).",
                         "items": {"type": "object", "required": ["role", "content"], "properties": {
                             "role": {"type": "string", "enum": ["user", "assistant"]},
                             "content": {"oneOf": [{"type": "string"},
                                                   {"type": "array", "items": _ref("ContentPart")}]}}}},
            "system": {"nullable": True, "oneOf": [{"type": "string"}, {"type": "array", "items": _ref("ContentPart")}]},
            "stream": {"type": "boolean", "nullable": True},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
            "top_k": {"type": "integer", "minimum": 0, "maximum": 2**53, "nullable": True},
            "stop_sequences": {"type": "array", "items": {"type": "string"}, "nullable": True},
            "tools": {"type": "array", "items": {"type": "object"}, "nullable": True},
            "tool_choice": {"type": "object", "nullable": True, "required": ["type"], "properties": {
                "type": {"type": "string", "enum": ["auto", "any", "tool", "none"]}, "name": {"type": "string"}}},
            "metadata": {"description": "`user_id` becomes the chat request's `user`."},
        },
    },
    "MessagesResponse": {
        "type": "object",
        "required": ["id", "type", "role", "content", "model", "stop_reason", "usage"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string", "enum": ["message"]},
            "role": {"type": "string", "enum": ["assistant"]},
            "content": {"type": "array", "items": {"type": "object"},
                        "description": "`text` and `tool_use` blocks."},
            "model": {"type": "string"},
            "stop_reason": {"type": "string", "enum": ["end_turn", "max_tokens", "tool_use", "refusal"]},
            "stop_sequence": _NULLABLE_STRING,
            "usage": {"type": "object", "properties": {name: {"type": "integer"} for name in (
                "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")}},
        },
    },
    "ResponsesRequest": {
        "type": "object",
        "required": ["model", "input"],
        "additionalProperties": True,
        "description": "OpenAI's Responses body, stateless: `store` is not kept and `previous_response_id` gets 400.",
        "properties": {
            "model": {"type": "string", "minLength": 1},
            "input": {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": "object"},
                                                     "description": "`message` (input_text, input_image, input_file "
                                                                    "parts), `function_call` and "
                                                                    "`function_call_output` items."}]},
            "instructions": _NULLABLE_STRING,
            "stream": {"type": "boolean", "nullable": True},
            "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 2**53, "nullable": True},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2, "nullable": True},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
            "tools": {"type": "array", "nullable": True, "items": {
                "type": "object", "required": ["type", "name"],
                "properties": {"type": {"type": "string", "enum": ["function"]}, "name": {"type": "string"}}}},
            "tool_choice": {"nullable": True, "oneOf": [
                {"type": "string", "enum": ["auto", "none", "required"]},
                {"type": "object", "required": ["type", "name"], "properties": {
                    "type": {"type": "string", "enum": ["function"]}, "name": {"type": "string"}}}]},
            "parallel_tool_calls": {"type": "boolean", "nullable": True},
            "user": _NULLABLE_STRING,
            "store": {"description": "Accepted and ignored: the gateway keeps no responses."},
            "previous_response_id": {"description": "Not supported (400): send the whole conversation in `input`."},
        },
    },
    "Response": {
        "type": "object",
        "required": ["id", "object", "created_at", "status", "model", "output"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["response"]},
            "created_at": {"type": "integer"},
            "status": {"type": "string", "enum": ["completed", "incomplete"]},
            "model": {"type": "string"},
            "output": {"type": "array", "items": {"type": "object"},
                       "description": "`message` and `function_call` items."},
            "usage": {"type": "object", "properties": {
                "input_tokens": {"type": "integer"}, "output_tokens": {"type": "integer"},
                "total_tokens": {"type": "integer"},
                "input_tokens_details": {"type": "object", "properties": {"cached_tokens": {"type": "integer"}}},
                "output_tokens_details": {"type": "object", "properties": {"reasoning_tokens": {"type": "integer"}}}}},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok", "degraded", "down"]},
                       "database": {"type": "object"}, "cache": {"type": "object"},
                       "redis": {"type": "object", "required": ["mode"], "properties": {
                           "mode": {"type": "string", "enum": ["none", "single", "sentinel", "cluster"]},
                           "status": {"type": "string", "enum": ["ok", "down"]},
                           "fallback": {"type": "boolean"}}}},
    },
}

_SECURITY = [{"ApiKey": []}, {"Bearer": []}]

PATHS = {
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
    "/v1/embeddings": {"post": {
        "operationId": "createEmbedding",
        "summary": "OpenAI-compatible embeddings for routes added with `--mode embeddings`; billed on input tokens, "
                   "identical requests answered from the cache (`x-cache: HIT`). A chat model here is a 400.",
        "security": _SECURITY,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("EmbeddingRequest")}}},
        "responses": {
            "200": {"description": "One embedding per input, in input order.",
                    "content": {"application/json": {"schema": _ref("EmbeddingList")}}},
            **_errors("400", "401", "403", "404", "413", "429", "502", "504"),
        },
    }},
    "/v1/messages": {"post": {
        "operationId": "createMessage",
        "summary": "Anthropic's Messages API on any chat route (`x-api-key` or Bearer; `anthropic-version` accepted). "
                   "`stream: true` answers Anthropic's events: message_start, content_block_start/_delta/_stop, "
                   "message_delta (stop reason, usage), message_stop. Errors in Anthropic's shape.",
        "security": _SECURITY,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("MessagesRequest")}}},
        "responses": {
            "200": {"description": "The answer (JSON), or a stream of Anthropic's events.", "content": {
                "application/json": {"schema": _ref("MessagesResponse")},
                "text/event-stream": {"schema": {"type": "string"}},
            }},
            **_errors("400", "401", "403", "404", "413", "429", "502", "504", schema="AnthropicError"),
        },
    }},
    "/v1/responses": {"post": {
        "operationId": "createResponse",
        "summary": "OpenAI's Responses API, stateless, on any chat route. `stream: true` answers its typed events "
                   "(response.created, response.output_text.delta, response.function_call_arguments.delta, "
                   "response.completed, ...), each with `sequence_number`.",
        "security": _SECURITY,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ResponsesRequest")}}},
        "responses": {
            "200": {"description": "The Response object (JSON), or a stream of its events.", "content": {
                "application/json": {"schema": _ref("Response")},
                "text/event-stream": {"schema": {"type": "string"}},
            }},
            **_errors("400", "401", "403", "404", "413", "429", "502", "504"),
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
