from django.contrib import admin
from django.urls import path

from completions import views
from infra import exposition
from usage import admin_views as usage_admin_views
from usage import dashboard
from usage import views as usage_views

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
    path("v1/models", views.models),
    # POST /v1/chat/completions and /v1/embeddings are served before URL routing, in raw ASGI (completions/asgi.py).
    path("v1/usage", usage_views.usage),
    path("v1/openapi.json", openapi.view),
]

handler400 = "completions.views.bad_request_handler"
handler403 = "completions.views.forbidden_handler"
handler404 = "completions.views.not_found_handler"
handler500 = "completions.views.server_error_handler"
