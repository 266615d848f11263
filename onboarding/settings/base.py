"""Settings for every environment, driven by environment variables.

The defaults run with no servers at all (the "embedded" mode of the README's first command): SQLite in
``var/``, Celery over kombu's ``filesystem://`` transport, console e-mail. Production overrides come from the
environment; ``production.py`` only makes some of them required and turns on the secure flags.
"""

from datetime import timedelta
from pathlib import Path

from csp.constants import NONCE, NONE, SELF

from onboarding.settings.env import (
    choice,
    database_from_env,
    ensure_folders,
    env,
    parse_networks,
    positive_number,
    read_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Runtime state of the embedded mode (SQLite file, broker folders, static files). Override to run several
# independent instances side by side, as the test of the README's first command does.
VAR_DIR = Path(env.str("ONBOARDING_VAR_DIR", default=str(BASE_DIR / "var")))

# ---------------------------------------------------------------------------------------------------------------
# Core (https://docs.djangoproject.com/en/5.2/ref/settings/#core-settings)
# ---------------------------------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# Only for the embedded default; production.py requires SECRET_KEY (or SECRET_KEY_FILE) instead.
SECRET_KEY = read_secret("SECRET_KEY", default="django-insecure-embedded-mode-only-never-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# loaddemo refuses to create its well-known admin login where this is off (production.py turns it off).
DEMO_DATA_ALLOWED = env.bool("DEMO_DATA_ALLOWED", default=True)

INSTALLED_APPS = [
    "onboarding.apps.OnboardingAdminConfig",  # django.contrib.admin, with our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "simple_history",
    "axes",
    "csp",
    # Ours, bottom layer first: identity <- playbooks <- delivery <- signals_app <- insights <- onboarding.
    "identity",
    "identity.scim",
    "playbooks",
    "delivery",
    "signals_app",
    "insights",
    "onboarding",
]

MIDDLEWARE = [
    "onboarding.metrics.RequestMetricsMiddleware",  # first: it times everything below it, refusals included
    "onboarding.middleware.LogContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    # Refusals no view should see (NUL in the path; under /api/ a body of unknown or excessive length) and a
    # database outage as 503 with Retry-After: see onboarding/middleware.py.
    "onboarding.middleware.RequestGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it turns a locked-out login into its page
]

ROOT_URLCONF = "onboarding.urls"
WSGI_APPLICATION = "onboarding.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# An event batch (1,000 events) may take a few megabytes. Under /api/ a body announced larger than API_MAX_BODY_BYTES
# is refused with 413 before it is read, and one of unknown length (Transfer-Encoding: chunked, which Django would read
# as empty) with 411; Django's own limit stays above it for the other pages.
API_MAX_BODY_BYTES = positive_number("API_MAX_BODY_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(6 * 1024 * 1024, API_MAX_BODY_BYTES)

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

# ---------------------------------------------------------------------------------------------------------------
# Database (https://docs.djangoproject.com/en/5.2/ref/databases/)
# DATABASE_URL: postgres://user:password@host:5432/name, or sqlite:////absolute/path.sqlite3 (the default).
# DATABASE_POOL (PostgreSQL; docs/operations.md, "Database connections"): "persistent" (the default: one connection per
# process kept CONN_MAX_AGE seconds, 600), "psycopg" (psycopg's pool per process: DATABASE_POOL_MIN_SIZE 1,
# DATABASE_POOL_MAX_SIZE 4, DATABASE_POOL_TIMEOUT 10 s to wait for a free connection) or "pgbouncer" (a PgBouncer in
# transaction pooling mode: no server-side cursors, nothing kept in a session). DATABASE_CONNECT_TIMEOUT: 5 s.
# ---------------------------------------------------------------------------------------------------------------
DATABASES = {"default": database_from_env(default_sqlite_path=VAR_DIR / "db.sqlite3")}

# ---------------------------------------------------------------------------------------------------------------
# Auth, i18n, static files
# ---------------------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed sign-ins (admin and learner page) are counted per username and client address by django-axes: after
# LOGIN_FAILURE_LIMIT of them that pair is refused, even with the right password, for LOGIN_LOCKOUT_MINUTES (admins
# can lift a lockout in the admin, under Axes). Behind a proxy the address is the proxy's, so the lock is per username.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = positive_number("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=positive_number("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/learn/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
LANGUAGE_CODE = "en"
# The languages the learner page and sign-in page are translated into (locale/<code>/LC_MESSAGES/django.mo, committed
# compiled so no gettext is needed at run time). A learner's ``locale`` picks one (de-CH → de); else English.
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
ensure_folders(STATIC_ROOT)  # whitenoise warns on every request until collectstatic has made it
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "onboarding.storage.StaticFilesStorage"},
}

# ---------------------------------------------------------------------------------------------------------------
# E-mail (https://docs.djangoproject.com/en/5.2/topics/email/); EMAIL_URL such as smtp+tls://user:pw@host:587
# ---------------------------------------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="onboarding@localhost")

EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # seconds: a hung mail server must not hold a delivery batch

# ---------------------------------------------------------------------------------------------------------------
# Content-Security-Policy (django-csp, https://django-csp.readthedocs.io/): nothing inline runs or styles a page,
# except a script carrying the per-response nonce; pages are never framed.
# ---------------------------------------------------------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # the admin's and Swagger UI's icons are data: URLs in their stylesheets
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# ---------------------------------------------------------------------------------------------------------------
# Delivery: the outbox (docs/delivery.md). Links in messages point at PUBLIC_BASE_URL. Webhook and Slack endpoints
# are configured in the admin; one that resolves to a loopback, link-local or private address is refused unless
# one of WEBHOOK_ALLOWED_NETWORKS (CIDRs, e.g. 10.0.0.0/8,127.0.0.1/32) holds it.
# ---------------------------------------------------------------------------------------------------------------
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000")
# Identity file sources read their files from here only (an admin cannot point one at any file the server can
# read); files uploaded in the admin are kept here too.
IDENTITY_FILES_DIR = Path(env.str("IDENTITY_FILES_DIR", default=str(VAR_DIR / "identity-files")))
WEBHOOK_ALLOWED_NETWORKS = parse_networks("WEBHOOK_ALLOWED_NETWORKS", env.list("WEBHOOK_ALLOWED_NETWORKS", default=[]))
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
DELIVERY_MAX_ATTEMPTS = env.int("DELIVERY_MAX_ATTEMPTS", default=8)  # per channel, then the next one or dead-letter
DELIVERY_RETRY_BASE_SECONDS = env.float("DELIVERY_RETRY_BASE_SECONDS", default=30.0)  # doubles at each attempt
DELIVERY_RETRY_MAX_SECONDS = env.float("DELIVERY_RETRY_MAX_SECONDS", default=3600.0)
# How long a claimed message is a worker's alone; a worker that died mid-batch gives its messages back after this.
DELIVERY_LEASE_SECONDS = env.float("DELIVERY_LEASE_SECONDS", default=300.0)

# ---------------------------------------------------------------------------------------------------------------
# Django REST framework (https://www.django-rest-framework.org/api-guide/settings/)
# ---------------------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["common.renderers.SafeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["common.parsers.SafeJSONParser"],  # what cannot be stored is a 400 at the door
    "EXCEPTION_HANDLER": "onboarding.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # A courtesy against runaway clients, not a security boundary (see common/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": ["common.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"caller": env.str("API_RATE_LIMIT", default="6000/minute")},
}
# OpenAPI 3 at /api/schema/, docs at /api/docs/ served from this site (drf-spectacular-sidecar: no CDN). The schema
# describes the API and holds no data, so it is readable without credentials.
SPECTACULAR_SETTINGS = {
    "TITLE": "Onboarding platform API",
    "DESCRIPTION": "Behaviour events in, each learner's next module out. Errors are {code, message, field}.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The refusals of onboarding/middleware.py (400, 411, 413, 503) documented on every operation.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "onboarding.api.document_guard_responses",
    ],
}

# ---------------------------------------------------------------------------------------------------------------
# Celery (https://docs.celeryq.dev/en/stable/userguide/configuration.html), read by onboarding/celery.py.
# The embedded broker is a folder shared by the web process, the worker and beat.
# ---------------------------------------------------------------------------------------------------------------
# The host in the embedded default means nothing to the filesystem transport; without one kombu warns in every
# process ("No hostname was supplied").
CELERY_BROKER_URL = read_secret("CELERY_BROKER_URL", default="filesystem://localhost//")
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
# Every call to Redis gives up after this many seconds. Without it, a Redis that accepts connections but does not
# answer (stopped, swapping, a failover, a NAT that dropped the flow) holds a publish, and the web request that made
# it after its commit, forever; kombu ignores CELERY_BROKER_CONNECTION_TIMEOUT for Redis.
BROKER_SOCKET_TIMEOUT = positive_number("CELERY_BROKER_SOCKET_TIMEOUT", default=1.0)
REDIS_TRANSPORT_OPTIONS = {
    "socket_timeout": BROKER_SOCKET_TIMEOUT,
    "socket_connect_timeout": BROKER_SOCKET_TIMEOUT,
    "socket_keepalive": True,
    # The tasks a worker took but never acknowledged (it was killed) go back to the queue after this many seconds.
    # A task is unacknowledged while it waits for its retry (exponential backoff: at most about 2 minutes over 8
    # retries) and, with acks_late, while it runs (at most CELERY_TASK_TIME_LIMIT): longer than both, so that no
    # task is handed to a second worker while the first still has it. The cohort task may run an hour and is
    # acknowledged on receipt instead (onboarding/celery.py).
    "visibility_timeout": positive_number("CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 180),
}
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
        "polling_interval": 0.2,  # kombu polls the folder; its 1 s default makes every task wait ~0.5 s
    }
    if CELERY_BROKER_URL.startswith("filesystem://")
    else REDIS_TRANSPORT_OPTIONS
)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{VAR_DIR / 'celery-results'}")
# The embedded broker and result store are plain folders, which kombu and Celery expect to exist.
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "onboarding.broker:Transport"  # messages written whole (onboarding/broker.py)
    ensure_folders(CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"], CELERY_BROKER_TRANSPORT_OPTIONS["control_folder"])
if CELERY_RESULT_BACKEND.startswith("file://"):
    ensure_folders(CELERY_RESULT_BACKEND.removeprefix("file://"))
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_IGNORE_RESULT = True  # our tasks write their effects to the database; results only where asked
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # workers and beat wait out a broker outage of any length
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A publish is one attempt, bounded by CELERY_BROKER_SOCKET_TIMEOUT: a web request that enqueues after its commit
# while Redis is down or frozen answers within about a second, and the sweeper enqueues its events later. (Each
# retry would cost another timeout per reconnection step: measured, 2 retries made it 4 s.)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# django-celery-beat's DatabaseScheduler, made to ride out a database outage (onboarding/beat.py); it reads its whole
# schedule again every BEAT_SCHEDULE_RELOAD_SECONDS (at most the library's 300).
CELERY_BEAT_SCHEDULER = "onboarding.beat:OutageTolerantDatabaseScheduler"
BEAT_SCHEDULE_RELOAD_SECONDS = positive_number("BEAT_SCHEDULE_RELOAD_SECONDS", default=300.0)
CELERY_TIMEZONE = TIME_ZONE
# How many tasks a worker process runs before Django's database connection is recycled. Without it Celery's
# Django fixup closes the connection around every task (measured: 3,000 tasks opened 3,001 connections).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# Learners per task of a cohort simulation started from the admin: a run is spread over the workers a chunk at a
# time (a chunk of 100 learners on two versions takes a second or two).
COHORT_CHUNK_LEARNERS = positive_number("COHORT_CHUNK_LEARNERS", default=100)
# At most this many of a request's learners per evaluation task, the fewest tasks evenly sized: a task costs about as
# much as 17 more learners (docs/evaluation.md), and a request cut into more tasks than there are free worker
# processes waits a whole task for its last one. Lower it when worker processes far outnumber a request's learners.
EVALUATION_TASK_LEARNERS = positive_number("EVALUATION_TASK_LEARNERS", default=100)

# ---------------------------------------------------------------------------------------------------------------
# Metrics: Prometheus at /metrics (onboarding/metrics.py, docs/operations.md). Refused (403) unless one of these is
# set: METRICS_TOKEN, a secret the scraper sends as "Authorization: Bearer <token>" (a wrong or missing one is 401;
# METRICS_TOKEN_FILE works too), or METRICS_ALLOWED_NETWORKS, CIDRs whose clients need no token (behind a proxy the
# client is the proxy: use the token there). Gunicorn's and Celery's worker processes each count for themselves:
# set PROMETHEUS_MULTIPROC_DIR (prometheus-client's own variable) to an empty folder shared by the processes of a
# machine, so that /metrics sums them. METRICS_WORKER_PORT makes a Celery worker serve the same figures itself
# (on METRICS_WORKER_ADDRESS, loopback by default), for machines that run no web process.
# ---------------------------------------------------------------------------------------------------------------
METRICS_TOKEN = read_secret("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = parse_networks("METRICS_ALLOWED_NETWORKS", env.list("METRICS_ALLOWED_NETWORKS", default=[]))
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
METRICS_WORKER_ADDRESS = env.str("METRICS_WORKER_ADDRESS", default="127.0.0.1")

# /readyz answers within this many seconds, whatever the database and the broker do (onboarding/health.py).
READYZ_TIMEOUT_SECONDS = positive_number("READYZ_TIMEOUT_SECONDS", default=2.0)

# ---------------------------------------------------------------------------------------------------------------
# Logging: one line per record on stderr, dotted event keys (identity.sync.leaver_deactivated) as messages.
# LOG_FORMAT: "plain" (the default here: readable, fields as key=value after the message) or "json" (production.py's
# default: one JSON object per line for a log pipeline, python-json-logger). Either way each record carries its extra
# fields and what its request or task is about: task_id and task, learner (external id) or learner_id(s), playbook,
# event_id, run_id (common/logging.py binds them).
# ---------------------------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = choice("LOG_FORMAT", ("plain", "json"), default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "common.log_format.KeyValueFormatter", "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "common.log_format.JsonFormatter", "fmt": "%(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "not_simulated": {"()": "common.logging.DropWhileSimulating"},
        "context": {"()": "common.logging.AddLogContext"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["not_simulated", "context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
