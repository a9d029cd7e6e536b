"""Deployment checks of the infrastructure's settings and environment (`manage.py check --deploy`); completions/apps.py registers them."""
import os

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def metrics_token(app_configs=None, **kwargs):
    """/metrics stays open for `make run`; a deployment should close it."""
    if settings.METRICS_TOKEN:
        return []
    return [
        Warning(
            "METRICS_TOKEN is not set: GET /metrics is open to anyone who reaches it, and shows every tenant's spend.",
            hint="Set METRICS_TOKEN and give Prometheus the same value as its bearer token (README, \"Security\").",
            id="gateway.W001",
        )
    ]


@register("gateway", deploy=True)
def allocator(app_configs=None, **kwargs):
    """Python's small-object allocator keeps its arenas after a burst; glibc's hands pages back (bench/README.md)."""
    if os.environ.get("PYTHONMALLOC") == "malloc":
        return []
    return [
        Warning(
            "PYTHONMALLOC is not 'malloc': after a burst of thousands of open streams a worker keeps about twice "
            "its idle memory (1.24x with it, for no CPU cost measured).",
            hint="Serve with PYTHONMALLOC=malloc in the environment, as the README's production command and the "
                 "Dockerfile do (README, \"Serving in production\").",
            id="gateway.W002",
        )
    ]
