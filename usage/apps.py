from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"

    def ready(self):
        from infra.metrics import on_sample

        from . import ledger, metrics

        on_sample(lambda: metrics.LEDGER_QUEUE.set(ledger.pending()))
