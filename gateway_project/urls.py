from django.contrib import admin
from django.urls import path

from completions import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", views.health),
    path("v1/models", views.models),
    path("v1/chat/completions", views.chat_completions),
]

handler400 = "completions.views.bad_request_handler"
handler403 = "completions.views.forbidden_handler"
handler404 = "completions.views.not_found_handler"
handler500 = "completions.views.server_error_handler"
