"""OpenTelemetry setup from the standard OTEL_* variables: traces are exported only when an endpoint is set.

Without OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) nothing is
installed: the gateway's spans come from the API's no-op tracer and cost next to nothing,
and the caller's own traceparent is forwarded upstream unchanged.
"""
from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_provider: TracerProvider | None = None
_tracer: trace.Tracer = trace.NoOpTracer()


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a request is for, stamped on the spans of its provider attempts."""

    tenant: str
    request_id: str


_scope: ContextVar[Scope | None] = ContextVar("gateway_trace_scope", default=None)


def setup() -> None:
    """Install OTLP/HTTP export with a batch processor when the environment asks for it; once."""
    if _provider is not None or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    if not any(os.environ.get(name) for name in _ENDPOINT_VARIABLES):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    trace.set_tracer_provider(enable(BatchSpanProcessor(OTLPSpanExporter())))


def enable(processor: SpanProcessor) -> TracerProvider:
    """Record spans into `processor` (tests pass an in-memory one).

    The API's server spans come from OpenTelemetry's ASGI middleware around the API's one application
    (completions/asgi.py); the admin's, from the Django instrumentation of Django's full stack."""
    global _provider, _tracer
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    default_name = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "ai-gateway"}
    _provider = TracerProvider(resource=Resource.create(default_name))
    _provider.add_span_processor(processor)
    _tracer = _provider.get_tracer("gateway")
    DjangoInstrumentor().instrument(tracer_provider=_provider)
    return _provider


def disable() -> None:
    """Stop recording and remove the Django instrumentation (tests)."""
    global _provider, _tracer
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().uninstrument()
    if _provider is not None:
        _provider.shutdown()
    _provider, _tracer = None, trace.NoOpTracer()


def tracer() -> trace.Tracer:
    return _tracer


def enabled() -> bool:
    return _provider is not None


def provider() -> TracerProvider | None:
    return _provider


def begin(scope: Scope) -> None:
    """Name the tenant and request on the server span and on every attempt span that follows."""
    _scope.set(scope)
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({"gateway.tenant": scope.tenant, "gateway.request_id": scope.request_id})


def scope() -> Scope | None:
    return _scope.get()


def traceparent_for(span: trace.Span, callers: str | None) -> str | None:
    """The W3C traceparent to send upstream: the attempt span's when tracing, else the caller's own."""
    if not span.get_span_context().is_valid:
        return callers
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent", callers)

