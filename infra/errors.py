"""The one error type every layer raises, rendered in ../shared/INTERFACE.md's JSON shape."""
from __future__ import annotations

import math

import orjson
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from rest_framework import exceptions


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


def _first_error(detail, path: str = "") -> tuple[str, str]:
    """(field path, message) of the first error in a DRF ValidationError's detail."""
    if isinstance(detail, dict) and detail:
        field, value = next(iter(detail.items()))
        name = "" if field in (NON_FIELD_ERRORS, "non_field_errors") else str(field)
        return _first_error(value, f"{path}.{name}" if path and name else path or name)
    if isinstance(detail, list):
        for index, item in enumerate(detail):
            if item:
                nested = isinstance(item, (dict, list))
                return _first_error(item, f"{path}.{index}" if nested and path else path)
    return path, str(detail)


def _from_drf(exc, method: str) -> GatewayError:
    """INTERFACE.md's error for a Django REST framework exception."""
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_error(exc.detail)
        if field and f"'{field}'" not in message:
            message = f"{field}: {message}"
        return bad_request(message, param=field or None)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return method_not_allowed(method)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return GatewayError(401, "authentication_error", str(exc.detail), code="invalid_token")
    if isinstance(exc, exceptions.PermissionDenied):
        return forbidden(str(exc.detail), code="permission_denied")
    if isinstance(exc, exceptions.NotFound):
        return not_found(str(exc.detail), code="not_found")
    if isinstance(exc, exceptions.Throttled):
        return GatewayError(429, "rate_limit_error", str(exc.detail), code="rate_limit_exceeded")
    return GatewayError(exc.status_code, "invalid_request_error", str(exc.detail), code=exc.default_code)


def drf_exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error of a DRF view in INTERFACE.md's shape; None lets a 500 through."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, GatewayError):
        err = exc
    elif isinstance(exc, exceptions.APIException):
        request = context.get("request")
        err = _from_drf(exc, request.method if request is not None else "")
    else:
        return None
    response = error_response(err)
    if getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        response["Retry-After"] = str(math.ceil(exc.wait))
    return response
