"""Settings read on every request, copied out of Django's lazy settings object on first read.

`django.conf.settings` is a LazyObject: every attribute read runs a Python-level __getattribute__,
about 2% of a request's CPU under load (py-spy, bench/README.md). `hot.NAME` is a plain attribute
after its first read. The copies are dropped whenever a setting changes (override_settings and
pytest-django's `settings` fixture send setting_changed); a dict such as GATEWAY is the same object,
so changing one of its keys in place is seen at once.
"""
from __future__ import annotations

from django.conf import settings
from django.core.signals import setting_changed


class _Hot:
    def __getattr__(self, name: str):
        # Only on a miss: afterwards the value is in this object's __dict__.
        value = getattr(settings, name)
        self.__dict__[name] = value
        return value

    def forget(self, **_) -> None:
        self.__dict__.clear()


hot = _Hot()
setting_changed.connect(hot.forget, weak=False)
