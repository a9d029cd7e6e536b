"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Every serving command loads this module, so this is where a production start without a secret
of its own is refused, before anything else is loaded: the development key in settings.py is
public, and anyone could sign sessions and password-reset tokens with it.
"""
import os
import sys

import django

from infra import fdlimit
from infra.env import envbool, envstr

if not envstr("DJANGO_SECRET_KEY") and not envbool("DJANGO_DEBUG", False):
    sys.stderr.write(
        "Refusing to serve: DJANGO_SECRET_KEY is not set (and DJANGO_DEBUG is off); set it to a long random value, "
        "the same on every replica (`make run` makes and keeps a demo one).\n"
    )
    sys.stderr.flush()
    os._exit(78)  # EX_CONFIG; os._exit, so no server catches it and tries again

fdlimit.raise_to_hard_limit()  # two sockets per open stream: 1,024 files would cap a worker near 500 streams
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
django.setup(set_prefix=False)

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up first)
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from completions import asgi as api_asgi  # noqa: E402
from infra import bodies, metrics, telemetry  # noqa: E402
from usage import live  # noqa: E402

from . import gctune, routing  # noqa: E402
from .shutdown import releasing_when_idle  # noqa: E402

# Before the handler builds its middleware chain, which the Django instrumentation joins.
telemetry.setup()
metrics.start_sampler()
# The admin's CSS and JavaScript come from the installed apps; nothing else serves /static/ under Daphne.
# The API goes the lean way (completions/asgi.py); the admin and the rest through the full stack. A body that
# breaks off gets a JSON 400 on every path (infra/bodies.py), where Granian would answer 500.
django_asgi_app = bodies.answering_broken_bodies(api_asgi.dispatch(ASGIStaticFilesHandler(ASGIHandler())))

live.install()
application = releasing_when_idle(
    live.serving(ProtocolTypeRouter({"http": django_asgi_app, "websocket": routing.websocket_application})))
gctune.tune()  # last: what exists now lives as long as the process
