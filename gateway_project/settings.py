"""Settings, read from the environment (see README, "Configuration")."""
import os
import sys
import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from infra import redisconfig
from infra.env import envbool, envfloat, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent

# The "django-insecure-" prefix makes `manage.py check --deploy` refuse it.
_DEV_SECRET = "django-insecure-dev-secret-key-change-me-in-production-0123456789abcdef"
SECRET_KEY = envstr("DJANGO_SECRET_KEY") or _DEV_SECRET
if SECRET_KEY == _DEV_SECRET and "pytest" not in sys.modules:
    warnings.warn("DJANGO_SECRET_KEY is not set: using the development key", stacklevel=1)

DEBUG = envbool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1")

# Production behind a TLS-terminating proxy (BEHIND_TLS_PROXY=1): the proxy says the scheme in
# X-Forwarded-Proto, cookies are HTTPS-only and browsers are told to stay on HTTPS (HSTS).
if envbool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe these over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading into browsers cannot be undone quickly: an operator's explicit choice, not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "django_prometheus",
    "axes",  # admin login lockout (README, "Security")
    # The audit trail (README, "Security"); `infra.audit` after `auditlog`, whose admin it replaces.
    "auditlog",
    "infra.audit",
    "tenants",
    "providers",
    "usage",
    "completions",
]

MIDDLEWARE = [
    # First and last, so the Django request metrics time the whole stack.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "completions.middleware.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Admin changes are audited as the logged-in user's (after AuthenticationMiddleware, which sets the user); it
    # does not run on the API: api_asgi.api_middleware() keeps only the API's own.
    "infra.audit.actors.ActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a login refused by the lockout into its 429 page; not on the API either.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# First, so a locked-out user and address is refused before the password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

ROOT_URLCONF = "gateway_project.urls"
ASGI_APPLICATION = "gateway_project.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if "pytest" in sys.modules:
    # One test database per test run, so runs side by side don't clobber each other; on
    # SQLite a file, not memory, so gateway processes started by the tests share it.
    _run = os.getpid()
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-db-{_run}.sqlite3")}
    else:
        DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_run}"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = envint("DB_CONNECT_TIMEOUT", 3)
# The same backends, counting queries and errors for /metrics.
_PROMETHEUS_DATABASES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_DATABASES.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])

# Redis: one node (REDIS_URL), Sentinel's master (REDIS_SENTINELS + REDIS_SENTINEL_MASTER) or a Cluster
# (REDIS_CLUSTER=1, REDIS_URL naming any node); every Redis user follows it (infra/redisconfig.py).
_redis = redisconfig.from_environment()  # lower case: not a setting; tests override the ones below
REDIS_URL = _redis.url
REDIS_SENTINELS = _redis.sentinels
REDIS_SENTINEL_MASTER = _redis.master
REDIS_SENTINEL_PASSWORD = _redis.sentinel_password
REDIS_CLUSTER = _redis.mode == redisconfig.CLUSTER
if REDIS_URL:
    CACHES = {"default": redisconfig.django_cache(_redis, envstr("CACHE_KEY_PREFIX", "gw"))}
    CHANNEL_LAYERS = {"default": redisconfig.channel_layer(_redis)}
else:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache",
            "LOCATION": "gateway",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Budget alert e-mail.
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "gateway@localhost")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Request bodies: ../shared/INTERFACE.md's default limit is 10 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("MAX_REQUEST_BYTES", 10 * 1024 * 1024)

# Admin login lockout (django-axes): AXES_FAILURE_LIMIT failed logins for one username from one address lock
# that pair (not the user everywhere, which anyone could do to the admin; not the address, which a whole office
# or an untrusted proxy shares) for AXES_COOLOFF_MINUTES (0: until a superuser deletes the access attempt).
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15)) or None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "infra.audit.actors.client_ip"  # the client as the gateway sees it, TRUSTED_PROXY honoured
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"

# Audit trail (django-auditlog): the models it covers and the fields it never holds are in infra/audit/apps.py.
AUDITLOG_STORE_JSON_CHANGES = True  # before/after as JSON values, not their text
AUDITLOG_USE_FK_STRING_REPRESENTATION = True  # "replaced_by: gw-AbCdEfGh…", not a row id

# Django REST framework (the management API and the non-hot JSON endpoints). Secure by default: a view
# needs an admin token and the Django permissions it names (infra/api.py); the tenant endpoints
# (/v1/models, /v1/usage) name API-key authentication themselves. No sessions, so no CSRF.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.AdminTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["infra.api.ModelPermissions"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "infra.api.FirstRenderer",
    # `format` is /v1/usage's own parameter (json or csv), not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
    "EXCEPTION_HANDLER": "infra.errors.drf_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AI gateway",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}

# Gateway behaviour.
GATEWAY = {
    # Brute force on keys: failed key checks per client address per minute before wrong keys get 429,
    # and how many proxies of ours append to X-Forwarded-For (the Nth hop from the right names the
    # client; TRUSTED_PROXY=1 is the older spelling of one hop).
    "AUTH_FAILURES_PER_MINUTE": envint("AUTH_FAILURES_PER_MINUTE", 20),
    "TRUSTED_PROXY": envbool("TRUSTED_PROXY", False),
    "TRUSTED_PROXY_HOPS": envint("TRUSTED_PROXY_HOPS", 0),
    # Seconds a process trusts its own copy of a key before asking the shared cache again;
    # this bounds how long a revoked key keeps working on another replica.
    "KEY_CACHE_LOCAL_TTL": envfloat("KEY_CACHE_LOCAL_TTL", 5.0),
    # Seconds the shared cache (Redis) keeps a key; entries are deleted on change.
    "KEY_CACHE_SHARED_TTL": envint("KEY_CACHE_SHARED_TTL", 300),
    # Seconds a process keeps the route table before reloading it.
    "ROUTE_CACHE_TTL": envfloat("ROUTE_CACHE_TTL", 5.0),
    "MAX_MESSAGES": envint("MAX_MESSAGES", 2048),
    # Seconds a failing provider is skipped, and failures in a row that open its breaker.
    "BREAKER_COOLDOWN": envfloat("BREAKER_COOLDOWN", 30.0),
    "BREAKER_THRESHOLD": envint("BREAKER_THRESHOLD", 5),
    # The ledger's background writer; tests turn it off and flush by hand.
    "LEDGER_WRITER": envbool("LEDGER_WRITER", True),
    "LEDGER_FLUSH_INTERVAL": envfloat("LEDGER_FLUSH_INTERVAL", 0.25),
    # How often last-used times of keys are written (seconds).
    "LAST_USED_FLUSH_INTERVAL": envfloat("LAST_USED_FLUSH_INTERVAL", 60.0),
    # Budgets: completion tokens reserved when a request names no max_tokens, and how often
    # a budget counter is rebuilt from the ledger (heals reservations of crashed processes).
    "BUDGET_DEFAULT_MAX_TOKENS": envint("BUDGET_DEFAULT_MAX_TOKENS", 4096),
    "BUDGET_RESYNC_SECONDS": envint("BUDGET_RESYNC_SECONDS", 300),
    # Budget alert webhooks: attempts, per-attempt timeout and first backoff (seconds, doubling).
    "ALERT_WEBHOOK_ATTEMPTS": envint("ALERT_WEBHOOK_ATTEMPTS", 3),
    "ALERT_WEBHOOK_TIMEOUT": envfloat("ALERT_WEBHOOK_TIMEOUT", 5.0),
    "ALERT_WEBHOOK_BACKOFF": envfloat("ALERT_WEBHOOK_BACKOFF", 1.0),
    # Rate limits: tokens counted toward TPM for the answer when a request sets no max_tokens.
    "TPM_DEFAULT_MAX_TOKENS": envint("TPM_DEFAULT_MAX_TOKENS", 256),
    # Redis on the hot path (limits, response cache): short timeouts, then serve without it
    # and try it again after REDIS_RETRY_SECONDS. Connecting (TCP + handshake, only for new
    # pooled connections) gets longer, so a burst on a loaded host does not look like an outage.
    "REDIS_SOCKET_TIMEOUT": envfloat("REDIS_SOCKET_TIMEOUT", 0.25),
    "REDIS_CONNECT_TIMEOUT": envfloat("REDIS_CONNECT_TIMEOUT", 1.0),
    "REDIS_RETRY_SECONDS": envfloat("REDIS_RETRY_SECONDS", 3.0),
    # Response cache: default TTL in seconds (a tenant's own TTL wins; 0 = off).
    "CACHE_TTL": envint("CACHE_TTL", 300),
    # Treat a request with a `seed` as deterministic (cacheable) even when temperature > 0.
    "CACHE_SEED_DETERMINISTIC": envbool("CACHE_SEED_DETERMINISTIC", False),
    # Seconds identical concurrent misses wait for the first one's answer before calling upstream.
    "CACHE_WAIT_SECONDS": envfloat("CACHE_WAIT_SECONDS", 5.0),
}

if GATEWAY["TRUSTED_PROXY_HOPS"] < 0:
    raise ImproperlyConfigured(f"TRUSTED_PROXY_HOPS must be 0 or more, got {GATEWAY['TRUSTED_PROXY_HOPS']}")

# Observability: a bearer token for GET /metrics (unset: open), and whether spans may carry
# prompts and completions (off: they never leave the gateway in telemetry).
METRICS_TOKEN = envstr("METRICS_TOKEN")
TRACE_CONTENT = envbool("GATEWAY_TRACE_CONTENT", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "message": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "stdout_json": {"class": "infra.logs.StdoutHandler", "formatter": "message"},
    },
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # httpx logs every upstream call at INFO; the request log already says what matters.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # axes tells every start and step at INFO; failed logins and lockouts still show, as warnings.
        "axes": {"level": "WARNING"},
        # One JSON line per request (infra/logs.py); REQUEST_LOG=0 silences it.
        "gateway.requests": {
            "handlers": ["stdout_json"],
            "level": "INFO" if envbool("REQUEST_LOG", True) else "WARNING",
            "propagate": False,
        },
    },
}
