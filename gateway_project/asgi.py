"""ASGI entry point: HTTP through Django, WebSockets through Channels."""
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
django.setup(set_prefix=False)

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up first)
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from completions import asgi as api_asgi  # noqa: E402
from infra import bodies, metrics, telemetry  # noqa: E402
from usage import live  # noqa: E402

from . import gctune, routing  # noqa: E402

# Before the handler builds its middleware chain, which the Django instrumentation joins.
telemetry.setup()
metrics.start_sampler()
# The admin's CSS and JavaScript come from the installed apps; nothing else serves /static/ under Daphne.
# The API goes the lean way (completions/asgi.py); the admin and the rest through the full stack. A body that
# breaks off gets a JSON 400 on every path (infra/bodies.py), where Granian would answer 500.
django_asgi_app = bodies.answering_broken_bodies(api_asgi.dispatch(ASGIStaticFilesHandler(ASGIHandler())))

live.install()
application = live.serving(ProtocolTypeRouter({"http": django_asgi_app, "websocket": routing.websocket_application}))
gctune.tune()  # last: what exists now lives as long as the process
