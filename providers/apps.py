from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"

    def ready(self):
        # Breaker gauges join the sampler; system checks; route table invalidation on change.
        from . import checks, metrics, signals  # noqa: F401
