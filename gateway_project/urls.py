from django.contrib import admin
from django.urls import path

from completions import api as completions_api
from completions import views
from infra import exposition
from providers import api as providers_api
from tenants import api as tenants_api
from usage import admin_views as usage_admin_views
from usage import api as usage_api
from usage import dashboard

from . import openapi

urlpatterns = [
    # Before admin.site.urls, whose admin/<app_label>/ pattern would claim these.
    path("admin/usage/report/", admin.site.admin_view(usage_admin_views.report), name="usage_report"),
    path("admin/usage/report/csv/", admin.site.admin_view(usage_admin_views.report_csv), name="usage_report_csv"),
    # The admin index with the gateway dashboard; admin:index still reverses to /admin/.
    path("admin/", admin.site.admin_view(dashboard.admin_index)),
    path("admin/", admin.site.urls),
    path("health", views.health),
    path("metrics", exposition.view),
    path("v1/models", completions_api.ModelsView.as_view()),
    # The pipeline's endpoints (chat completions, embeddings, messages, responses) are served before URL
    # routing, in raw ASGI (completions/asgi.py).
    path("v1/usage", usage_api.UsageView.as_view()),
    path("v1/openapi.json", openapi.view),
    # The management API (README, "Management API"): admin tokens, Django model permissions.
    path("v1/admin/tenants", tenants_api.TenantViewSet.as_view({"get": "list", "post": "create"})),
    path("v1/admin/tenants/<str:slug>", tenants_api.TenantViewSet.as_view({"get": "retrieve", "patch": "partial_update"})),
    path("v1/admin/tenants/<str:slug>/keys", tenants_api.KeyViewSet.as_view({"get": "list", "post": "create"})),
    path("v1/admin/keys/<str:prefix>/rotate", tenants_api.KeyViewSet.as_view({"post": "rotate"})),
    path("v1/admin/keys/<str:prefix>/revoke", tenants_api.KeyViewSet.as_view({"post": "revoke"})),
    path("v1/admin/providers", providers_api.ProviderViewSet.as_view({"get": "list", "post": "create"})),
    path("v1/admin/routes", providers_api.RouteViewSet.as_view({"get": "list", "post": "create"})),
    path("v1/admin/usage", usage_api.AdminUsageView.as_view()),
]

handler400 = "completions.views.bad_request_handler"
handler403 = "completions.views.forbidden_handler"
handler404 = "completions.views.not_found_handler"
handler500 = "completions.views.server_error_handler"
