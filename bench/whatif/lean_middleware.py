"""What-if settings: the API path without Django's sync middleware (admin pages do not work with these).

    python -m bench.run --settings bench.whatif.lean_middleware

Measures proposal 1 of bench/README.md (a middleware-free API handler) without changing the app.
"""
from gateway_project.settings import *  # noqa: F401,F403

MIDDLEWARE = ["completions.middleware.JsonErrorsMiddleware"]
