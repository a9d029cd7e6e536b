"""Management API for providers and routes (/v1/admin/providers, /v1/admin/routes); see the README, "Management API".

POST creates, or updates the row with the same name (provider) or public name and provider (route), as
`add_provider` and `add_model` do: 201 when made, 200 when updated. Admin token and model permissions come
from REST_FRAMEWORK's defaults (settings); changes are audited as the token's user, via "api".
"""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.response import Response

from infra.audit.actors import AuditActorMixin
from infra.errors import error_text

from .models import ModelRoute, Provider
from .serializers import ProviderSerializer, RouteSerializer


class _Upsert(AuditActorMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            serializer.save()
        except DjangoValidationError as error:
            raise exceptions.ValidationError([error_text(error)]) from None
        return Response(serializer.data, status=status.HTTP_201_CREATED if serializer.created else status.HTTP_200_OK)


@extend_schema_view(
    list=extend_schema(summary="Upstream providers (the secret stays in the environment variable they name)."),
    create=extend_schema(summary="Add a provider, or update the one with this name (as `add_provider`).",
                         responses={201: ProviderSerializer, 200: ProviderSerializer}),
)
class ProviderViewSet(_Upsert):
    queryset = Provider.objects.all()
    serializer_class = ProviderSerializer
    required_permissions = {
        "list": ("providers.change_provider",),
        "create": ("providers.add_provider", "providers.change_provider"),
    }


@extend_schema_view(
    list=extend_schema(summary="Routes from public model names to providers, with prices."),
    create=extend_schema(summary="Add a route, or update the one for this public name and provider (as `add_model`).",
                         responses={201: RouteSerializer, 200: RouteSerializer}),
)
class RouteViewSet(_Upsert):
    queryset = ModelRoute.objects.select_related("provider")
    serializer_class = RouteSerializer
    required_permissions = {
        "list": ("providers.change_modelroute",),
        "create": ("providers.add_modelroute", "providers.change_modelroute"),
    }
