from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"

    def ready(self):
        from . import metrics, signals  # noqa: F401  (breaker gauges join the sampler; route table invalidation on change)
