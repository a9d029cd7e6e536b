"""What the request path tells operators: metrics, span attributes and the one log line per request."""
from __future__ import annotations

import functools
from decimal import Decimal

from opentelemetry import trace

from infra import logs, telemetry
from infra.metrics import child, status_class
from providers.types import Usage
from tenants.principal import Principal

from . import metrics
from .context import Context, Outcome


def begin(principal: Principal, ctx: Context) -> None:
    """Name the tenant and request id on the server span and on the provider attempts that follow."""
    telemetry.begin(telemetry.Scope(principal.tenant_slug, ctx.request_id))


def record(principal: Principal, ctx: Context, outcome: Outcome, cost: Decimal) -> None:
    """Count a finished request, tag its span, and write its log line."""
    usage = outcome.usage or Usage()
    _count(principal.tenant_slug, ctx, outcome, usage, cost)
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(_span_attributes(principal, outcome))
    trace_id = span.get_span_context().trace_id
    logs.write(logs.RequestLine(
        request_id=ctx.request_id,
        tenant=principal.tenant_slug,
        key_prefix=principal.key_prefix,
        model=outcome.model[:200],
        provider=outcome.target.provider if outcome.target else "",
        status=outcome.status,
        error_type=outcome.error_type,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        tokens_estimated=usage.estimated,
        cost_usd=cost,
        latency_ms=ctx.elapsed_ms(),
        ttft_ms=outcome.ttft_ms,
        cache="HIT" if outcome.cached else "MISS",
        streamed=outcome.streamed,
        client_disconnected=outcome.client_disconnected,
        trace_id=format(trace_id, "032x") if trace_id else "",
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    ))


# A route's labelled metric children, looked up once: labels() takes a lock and builds its key on
# every call. Each is made where the metric would have been touched anyway, so no series appears
# that would not have appeared without the cache.
@functools.lru_cache(maxsize=4096)
def _outcome(tenant: str, model: str, provider: str, status_class: str, cache: str) -> tuple:
    return (metrics.REQUESTS.labels(tenant, model, provider, status_class, cache),
            metrics.REQUEST_SECONDS.labels(model, provider, cache))


@functools.lru_cache(maxsize=4096)
def _cache_result(tenant: str, model: str, cache: str):
    return metrics.CACHE.labels(tenant, model, cache)


@functools.lru_cache(maxsize=4096)
def _spend(tenant: str, model: str, provider: str) -> tuple:
    classes = ("prompt", "completion", "cached", "cache_write", "reasoning")
    return (*(metrics.TOKENS.labels(tenant, model, provider, name) for name in classes),
            metrics.COST.labels(tenant, model, provider))


def _count(tenant: str, ctx: Context, outcome: Outcome, usage: Usage, cost: Decimal) -> None:
    # Labels come from the resolved route, never from what the client typed: a made-up
    # model name must not mint a new time series.
    target = outcome.target
    model, provider = (target.public_model, target.provider) if target else ("", "")
    cache = "hit" if outcome.cached else "miss"
    requests, seconds = _outcome(tenant, model, provider, status_class(outcome.status), cache)
    requests.inc()
    seconds.observe(ctx.elapsed_ms() / 1000)
    if outcome.status == 429 and outcome.error_type == "rate_limit_error":
        metrics.RATE_LIMITED.labels(tenant).inc()
    elif outcome.status == 429 and outcome.error_type == "budget_exceeded":
        metrics.BUDGET_BLOCKED.labels(tenant).inc()
    if target is not None or outcome.cached:
        _cache_result(tenant, model, cache).inc()
    if target is None:
        return
    if outcome.ttft_ms is not None:
        metrics.TTFT_SECONDS.labels(model, provider).observe(outcome.ttft_ms / 1000)
    if not outcome.cached:
        prompt, completion, cached, cache_write, reasoning, spent = _spend(tenant, model, provider)
        prompt.inc(usage.prompt_tokens)
        completion.inc(usage.completion_tokens)
        cached.inc(usage.cached_tokens)
        cache_write.inc(usage.cache_write_tokens)
        reasoning.inc(usage.reasoning_tokens)
        spent.inc(float(cost))
        if not target.priced:
            child(metrics.UNPRICED, model).inc()


def _span_attributes(principal: Principal, outcome: Outcome) -> dict:
    attributes = {
        "gateway.tenant": principal.tenant_slug,
        "gateway.cache": "hit" if outcome.cached else "miss",
        "gateway.status": outcome.status,
    }
    if outcome.target is not None:
        attributes["gateway.route"] = outcome.target.public_model
        attributes["gateway.provider"] = outcome.target.provider
    if outcome.error_type:
        attributes["error.type"] = outcome.error_type
    return attributes
