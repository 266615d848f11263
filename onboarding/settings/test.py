"""Tests: base.py against the real PostgreSQL and Redis that bin/test starts; speed tweaks only."""

from django.core.exceptions import ImproperlyConfigured

from onboarding.settings.base import *  # noqa: F403
from onboarding.settings.base import REDIS_TRANSPORT_OPTIONS, VAR_DIR
from onboarding.settings.env import database_from_env, env

_HINT = "run the suite with bin/test, which starts throwaway PostgreSQL and Redis and sets it"
try:
    DATABASES = {"default": database_from_env(default_sqlite_path=VAR_DIR / "unused.sqlite3", required=True)}
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
except ImproperlyConfigured as exc:
    raise ImproperlyConfigured(f"{exc} ({_HINT})") from exc
# The fault tests shorten this so that a killed worker's unacknowledged tasks come back within the test.
CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_TRANSPORT_OPTIONS
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
