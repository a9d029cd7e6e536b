"""WebSocket routes: the admin dashboard's live feed, for logged-in staff from an allowed host."""
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from usage import dashboard, live

websocket_urlpatterns = [
    path(dashboard.LIVE_PATH, live.LiveFeedConsumer.as_asgi()),
]

# The admin session cookie authenticates; the Origin check stops other sites riding on it.
websocket_application = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
