"""The "finance" group: sees tenants, usage, budget alerts and reports, exports CSV; cannot touch keys or providers."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

FINANCE = "finance"
PERMISSIONS = [
    ("tenants", "view_tenant"),
    ("usage", "view_usagerecord"),
    ("usage", "view_budgetalert"),
]


def create_finance_group(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); a fresh database needs them now.
    for label in ("tenants", "usage"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=FINANCE)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def delete_finance_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=FINANCE).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("tenants", "0001_initial"),
        ("usage", "0002_budget_alerts"),
    ]

    operations = [
        migrations.RunPython(create_finance_group, delete_finance_group),
    ]
