"""GET /v1/usage (a tenant's key) and GET /v1/admin/usage (an admin token, any tenant): one report, JSON or CSV."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api import tenant_named
from tenants.authentication import ApiKeyAuthentication
from tenants.models import Tenant

from . import exports, reports
from .serializers import AdminUsageQuerySerializer, UsageQuerySerializer, UsageReport, UsageReportSerializer

_ANSWERS = {
    (200, "application/json"): UsageReportSerializer,
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The same rows as CSV, with format=csv."),
}


def report(request, tenant: Tenant | None, query: dict):
    """The report of `tenant` (None: every tenant) in the format the query asks for."""
    period, group_by = query["period"], query["group_by"]
    selection = reports.Selection(period.start, period.end, tenant.pk if tenant else None)
    groups = reports.grouped(selection, group_by)
    if query["format"] == "csv":
        name = f"usage-{tenant.slug if tenant else 'all'}-{period.start}-{period.end}-{group_by}.csv"
        return exports.csv_response(request._request, exports.report_csv(group_by, groups), name)
    body = UsageReport(tenant.slug if tenant else None, period, group_by, groups, reports.summed(groups))
    return Response(UsageReportSerializer(body).data)


class UsageView(APIView):
    """This key's tenant's usage; authentication and its errors as on the completion endpoints."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = []

    @extend_schema(operation_id="getUsage", parameters=[UsageQuerySerializer], responses=_ANSWERS,
                   summary="This tenant's usage between two UTC dates (both inclusive), as JSON or CSV.")
    def get(self, request):
        query = UsageQuerySerializer(data=request.query_params.dict())  # not a QueryDict: "" is a value, not "left out"
        query.is_valid(raise_exception=True)
        principal = request.auth
        return report(request, Tenant(pk=principal.tenant_id, slug=principal.tenant_slug), query.validated_data)


class AdminUsageView(APIView):
    """Any tenant's usage (`tenant=`), or every tenant's; needs usage.view_usagerecord (the finance group has it)."""

    required_permissions = {"get": ("usage.view_usagerecord",)}

    @extend_schema(operation_id="getAdminUsage", parameters=[AdminUsageQuerySerializer], responses=_ANSWERS,
                   summary="/v1/usage for any tenant (`tenant=`), or for all of them.")
    def get(self, request):
        query = AdminUsageQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        slug = query.validated_data.get("tenant")
        return report(request, tenant_named(slug) if slug is not None else None, query.validated_data)
