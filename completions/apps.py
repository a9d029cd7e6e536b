from django.apps import AppConfig


class CompletionsConfig(AppConfig):
    name = "completions"

    def ready(self):
        from infra import checks  # noqa: F401  (deployment checks: METRICS_TOKEN)
