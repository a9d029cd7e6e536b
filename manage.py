#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    import django
    from django.core.management import execute_from_command_line

    django.setup()
    from infra.audit.actors import as_command

    # What a command changes is audited as made by `manage.py COMMAND` (README, "Security").
    with as_command(sys.argv[1] if len(sys.argv) > 1 else "help"):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
