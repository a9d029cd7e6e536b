"""System checks for providers: rows saved before the *_API_KEY rule, listed until renamed."""
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError


@register(Tags.database)
def refused_key_variables(app_configs=None, databases=None, **kwargs):
    """Run by `manage.py migrate` and `manage.py check --database default`: it reads the database."""
    if not databases:
        return []
    from .models import Provider, api_key_env_problem

    try:
        rows = list(Provider.objects.using(databases[0]).exclude(api_key_env="").values_list("name", "api_key_env"))
    except DatabaseError:  # not migrated yet: nothing saved to check
        return []
    return [
        Warning(
            f"Provider {name!r}: {api_key_env_problem(variable)}",  # names the variable, never a secret pasted there
            hint=f"It is skipped until renamed: python manage.py add_provider {name} --kind KIND --api-key-env NAME_API_KEY "
                 "(or edit it in the admin).",
            obj=f"provider {name}",
            id="providers.W001",
        )
        for name, variable in rows
        if api_key_env_problem(variable)
    ]
