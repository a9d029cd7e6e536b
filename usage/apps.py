from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"

    def ready(self):
        from . import metrics  # noqa: F401  (its gauges join the sampler)
