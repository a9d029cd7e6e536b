"""Deployment checks of the infrastructure's settings (`manage.py check --deploy`); completions/apps.py registers them."""
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
