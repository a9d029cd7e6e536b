"""Management API for tenants and their keys (/v1/admin/tenants, /v1/admin/keys); see the README, "Management API".

Admin token and model permissions come from REST_FRAMEWORK's defaults (settings); each view names its permissions.
Changes are audited as the token's user, via "api" (infra/audit/actors.py)."""
from __future__ import annotations

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.response import Response

from infra.audit.actors import AuditActorMixin
from infra.errors import error_text

from . import keys, services
from .models import ApiKey, Tenant
from .serializers import IssuedKeySerializer, KeySerializer, NewKeySerializer, RotatedSerializer, RotateSerializer, TenantSerializer


# What a slug or a key prefix can be; anything else (a NUL byte, which PostgreSQL refuses) is no such row.
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,64}")
_PREFIX = re.compile(rf"[-a-zA-Z0-9_]{{{keys.PREFIX_LENGTH}}}")


def tenant_named(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first() if _SLUG.fullmatch(slug) else None
    if tenant is None:
        raise exceptions.NotFound(f"No tenant with slug {slug!r}.")
    return tenant


def refused(error: DjangoValidationError, field: str | None = None) -> exceptions.ValidationError:
    """A service's ValidationError as the API's 400, naming `field` when the view knows which one it was about."""
    return exceptions.ValidationError({field: [error_text(error)]} if field else [error_text(error)])


@extend_schema_view(
    list=extend_schema(summary="Tenants with their limits, budgets and allowed models."),
    create=extend_schema(summary="Create a tenant (as `create_tenant`)."),
    retrieve=extend_schema(summary="One tenant."),
    partial_update=extend_schema(summary="Change a tenant's name, state, limits, budget or allowed models."),
)
class TenantViewSet(AuditActorMixin, mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                    mixins.UpdateModelMixin, viewsets.GenericViewSet):
    queryset = Tenant.objects.all()
    serializer_class = TenantSerializer
    lookup_field = "slug"
    required_permissions = {
        "list": ("tenants.change_tenant",),
        "retrieve": ("tenants.change_tenant",),
        "create": ("tenants.add_tenant",),
        "partial_update": ("tenants.change_tenant",),
    }

    def get_object(self) -> Tenant:
        return tenant_named(self.kwargs["slug"])

    def perform_create(self, serializer):
        try:
            serializer.save()
        except DjangoValidationError as error:
            raise refused(error) from None

    perform_update = perform_create


class KeyViewSet(AuditActorMixin, viewsets.GenericViewSet):
    serializer_class = KeySerializer
    lookup_field = "prefix"
    required_permissions = {
        "list": ("tenants.change_apikey",),
        "create": ("tenants.add_apikey",),
        "rotate": ("tenants.add_apikey", "tenants.change_apikey"),
        "revoke": ("tenants.change_apikey",),
    }

    def tenant(self) -> Tenant:
        return tenant_named(self.kwargs["slug"])

    def key(self) -> ApiKey:
        prefix = self.kwargs["prefix"]
        key = keys.find_by_prefix(prefix) if _PREFIX.fullmatch(prefix) else None
        if key is None:
            raise exceptions.NotFound(f"No API key with prefix {prefix!r}.")
        return key

    def get_queryset(self):
        return self.tenant().keys.select_related("tenant", "replaced_by", "last_used")

    @extend_schema(summary="A tenant's keys (prefix, name, created, expires, last used); never a secret.")
    def list(self, request, slug: str):
        return Response(KeySerializer(self.get_queryset(), many=True).data)

    @extend_schema(summary="Make a key for the tenant; the answer holds the raw key, shown only this once.",
                   request=NewKeySerializer, responses={201: IssuedKeySerializer})
    def create(self, request, slug: str):
        tenant = self.tenant()
        body = NewKeySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            issued = services.issue_key(tenant.slug, **body.validated_data)
        except DjangoValidationError as error:
            raise refused(error, "expires_days") from None
        return Response({**KeySerializer(issued.key).data, "key": issued.raw}, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Replace a key (as `rotate_api_key`): the old one works `grace_minutes` more minutes.",
                   request=RotateSerializer, responses={201: RotatedSerializer})
    def rotate(self, request, prefix: str):
        old = self.key()
        body = RotateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            issued = services.rotate_key(old, body.validated_data["grace_minutes"])
        except DjangoValidationError as error:
            raise refused(error, "prefix") from None
        old.refresh_from_db()
        new = {**KeySerializer(issued.key).data, "key": issued.raw}
        return Response({"old": KeySerializer(old).data, "new": new}, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke a key at once (as `revoke_api_key`); revoking a revoked key changes nothing.",
                   request=None, responses={200: KeySerializer})
    def revoke(self, request, prefix: str):
        key = self.key()
        services.revoke_key(key)
        key.refresh_from_db()
        return Response(KeySerializer(key).data)
