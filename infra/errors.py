"""The one error type every layer raises, rendered in ../shared/INTERFACE.md's JSON shape."""
from __future__ import annotations

import orjson
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpResponse


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.param = param

    def payload(self) -> dict:
        error = {"message": self.message, "type": self.type, "code": self.code}
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def error_response(err: GatewayError) -> HttpResponse:
    response = HttpResponse(orjson.dumps(err.payload()), status=err.status, content_type="application/json")
    for name, value in err.headers.items():
        response[name] = value
    return response


def bad_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, "invalid_request_error", message, code=code, param=param)


def unauthorized(message: str) -> GatewayError:
    return GatewayError(401, "authentication_error", message, code="invalid_api_key")


def forbidden(message: str, code: str | None = None) -> GatewayError:
    return GatewayError(403, "permission_error", message, code=code)


def not_found(message: str, code: str | None = None) -> GatewayError:
    return GatewayError(404, "not_found_error", message, code=code)


def method_not_allowed(method: str) -> GatewayError:
    return GatewayError(405, "invalid_request_error", f"Method {method} is not allowed here.", code="method_not_allowed")


def too_large(limit: int) -> GatewayError:
    return GatewayError(413, "invalid_request_error", f"Request body is larger than {limit} bytes.", code="request_too_large")


def error_text(error: ValidationError) -> str:
    """One line for a ValidationError, with field names where the error has them."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    parts = []
    for field, messages in error.message_dict.items():
        text = " ".join(messages)
        parts.append(text if field == NON_FIELD_ERRORS else f"{field}: {text}")
    return "; ".join(parts)
