from django.apps import AppConfig


class CompletionsConfig(AppConfig):
    name = "completions"

    def ready(self):
        from gateway_project import checks  # noqa: F401  (deployment checks of the serving settings)
