"""GET /metrics: Prometheus text, summed over worker processes in multiprocess mode, behind an optional token."""
from __future__ import annotations

import asyncio
import hmac

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from . import metrics
from .errors import GatewayError, error_response, method_not_allowed


def render() -> bytes:
    """The exposition text: this process's registry, or every process's files in multiprocess mode."""
    metrics.sample()
    if not metrics.multiprocess():
        return generate_latest(REGISTRY)
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def _authorized(header: str) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@csrf_exempt
async def view(request):
    if request.method not in ("GET", "HEAD"):
        return error_response(method_not_allowed(request.method))
    if not _authorized(request.headers.get("Authorization", "")):
        err = GatewayError(401, "authentication_error", "A valid metrics token is required.", code="invalid_metrics_token",
                           headers={"WWW-Authenticate": "Bearer"})
        return error_response(err)
    metrics.watch_loop(asyncio.get_running_loop())
    body = await sync_to_async(render, thread_sensitive=False)()
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
