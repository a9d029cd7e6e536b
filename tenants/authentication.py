"""Django REST framework authentication: admin tokens for /v1/admin/, API keys for the tenant endpoints."""
from __future__ import annotations

from asgiref.sync import async_to_sync
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from infra.clients import client_address

from . import admintokens, auth


class AdminTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <admin token>`: the request acts as the token's user; no session, no CSRF."""

    def authenticate(self, request):
        scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if not raw.strip() or scheme.lower() != "bearer":
            return None  # ModelPermissions then answers 401
        user = admintokens.user_for(raw.strip())
        if user is None:
            raise exceptions.AuthenticationFailed("Unknown, revoked or expired admin token.")
        return user, None

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="gateway-admin"'


class ApiKeyAuthentication(BaseAuthentication):
    """A tenant's API key (X-API-Key or Bearer), as the completion endpoints take it: `request.auth` is the Principal.

    Errors (401, 403 for a disabled tenant, 429 for too many failures) are tenants.auth's own.
    """

    def authenticate(self, request):
        principal = async_to_sync(auth.authenticate)(request.headers, client_address(request._request))
        return None, principal

    def authenticate_header(self, request) -> str:
        return "Bearer"
