"""Every error leaves the gateway as JSON, whatever raised it (admin pages excepted)."""
import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from infra.errors import GatewayError, error_response

log = logging.getLogger("gateway.errors")


def _is_api(path: str) -> bool:
    return not path.startswith(("/admin", "/static"))


def _to_error(request, exc: Exception) -> GatewayError | None:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return GatewayError(413, "invalid_request_error", f"Request body is larger than {limit} bytes.", "request_too_large")
    if not _is_api(request.path):
        return None
    log.exception("unhandled error on %s %s", request.method, request.path)
    return GatewayError(500, "server_error", "The gateway failed to handle this request.", "internal_error")


class JsonErrorsMiddleware:
    """Turns raised errors on API paths into ../shared/INTERFACE.md JSON; works sync and async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request):
        return await self.get_response(request)

    def process_exception(self, request, exception):
        err = _to_error(request, exception)
        return error_response(err) if err is not None else None
