"""Production: everything in base.py, with the values that have no safe default made required.

Required: SECRET_KEY (or SECRET_KEY_FILE), ALLOWED_HOSTS, DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis).
Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER_ENABLED=true.
"""

from django.core.exceptions import ImproperlyConfigured

from onboarding.settings.base import *  # noqa: F403
from onboarding.settings.base import LOGGING, REDIS_TRANSPORT_OPTIONS, VAR_DIR
from onboarding.settings.env import choice, database_from_env, env, read_secret

DEBUG = False
DEMO_DATA_ALLOWED = False
SECRET_KEY = read_secret("SECRET_KEY")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak: use at least 50 random characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is empty: list the host names this site is served under")

DATABASES = {"default": database_from_env(default_sqlite_path=VAR_DIR / "db.sqlite3", required=True)}
CELERY_BROKER_URL = read_secret("CELERY_BROKER_URL")
if not CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured("CELERY_BROKER_URL must be a Redis URL (redis://HOST:6379/0) in production")
CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_TRANSPORT_OPTIONS
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
# One JSON object per log line for the log pipeline, unless LOG_FORMAT=plain says otherwise.
LOG_FORMAT = choice("LOG_FORMAT", ("plain", "json"), default="json")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT

# ---------------------------------------------------------------------------------------------------------------
# HTTPS and cookies (https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/)
# ---------------------------------------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Health probes come over plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env.bool("SECURE_PROXY_SSL_HEADER_ENABLED", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
