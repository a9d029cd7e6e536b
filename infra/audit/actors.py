"""Who makes a change, for the audit trail: an admin user, an API caller, or `manage.py` (README, "Security").

django-auditlog fills an entry's actor from a context (`auditlog.context.set_extra_data`); these helpers open
one per way in, so every entry also says how the change came ("via": "admin", "api" or "manage.py").
A change saved outside any of them (a test's call_command, a Django shell started without manage.py) has
no actor and shows as "system".
"""
from __future__ import annotations

import contextlib
import getpass
import ipaddress
from collections.abc import Iterator

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from auditlog.context import set_extra_data
from django.utils.functional import SimpleLazyObject

from infra.clients import client_address

COMMAND = "manage.py"


def client_ip(request) -> str | None:
    """The client's address as the gateway sees it (TRUSTED_PROXY honoured); None when it is no IP (a UNIX socket).

    The admin login lockout (AXES_CLIENT_IP_CALLABLE) and the audit trail both use it.
    """
    try:
        return str(ipaddress.ip_address(client_address(request)))
    except ValueError:
        return None


@contextlib.contextmanager
def acting_as(user, remote_addr: str | None = None, via: str = "api") -> Iterator[None]:
    """Changes saved inside are recorded as made by `user` (a User, or a lazy object that becomes one or None)."""

    def additional_data() -> dict[str, str]:
        # Called as each entry is saved (so a lazy user is read then); the name outlives a deleted user.
        if getattr(user, "is_authenticated", False):
            return {"via": via, "username": user.get_username()}
        return {"via": via}

    with set_extra_data({"actor": user, "remote_addr": remote_addr, "additional_data": additional_data}):
        yield


@contextlib.contextmanager
def as_command(name: str) -> Iterator[None]:
    """Changes saved inside are recorded as made by `manage.py NAME`, with the operating-system user who ran it."""
    data = {"via": COMMAND, "command": name}
    with contextlib.suppress(Exception):  # no passwd entry for the uid in some containers
        data["os_user"] = getpass.getuser()
    with set_extra_data({"actor": None, "remote_addr": None, "additional_data": data}):
        yield


class AuditActorMixin:
    """For Django REST framework views: the changes a request makes are its authenticated user's, via "api".

    Put it before APIView (or a viewset) in the bases. The user is read when a change is saved, after the view
    has authenticated the request. DRF's dispatch is synchronous; an async view opens acting_as() itself.
    """

    def dispatch(self, request, *args, **kwargs):
        actor = SimpleLazyObject(lambda: getattr(self.request, "user", None))
        with acting_as(actor, client_ip(request), via="api"):
            return super().dispatch(request, *args, **kwargs)


class ActorMiddleware:
    """Admin requests: changes are the logged-in user's, from the client's address; works sync and async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        with self._acting(request):
            return self.get_response(request)

    async def __acall__(self, request):
        with self._acting(request):
            return await self.get_response(request)

    @staticmethod
    def _acting(request):
        # request.user is AuthenticationMiddleware's lazy object: read (in the view's thread) only if a change is saved.
        return acting_as(getattr(request, "user", None), client_ip(request), via="admin")
