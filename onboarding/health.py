"""Probes for load balancers and orchestrators: unauthenticated, and revealing nothing but up or down.

``/healthz`` touches nothing but this process. ``/readyz`` checks the database and the broker side by side, each in
its own thread on its own connection, and answers within ``READYZ_TIMEOUT_SECONDS`` whatever they do: a dependency
that accepts connections but never answers (a stopped Redis or PostgreSQL) is "unavailable", not a hung probe.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from onboarding.celery import app as celery_app

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """The process can do its work: the database and the broker answer. 503 names what is down."""
    checks = _run_checks({"database": _check_database, "broker": _check_broker}, settings.READYZ_TIMEOUT_SECONDS)
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


class _Check(threading.Thread):
    def __init__(self, name: str, check: Callable[[], None]) -> None:
        super().__init__(name=f"readyz-{name}", daemon=True)  # one stuck on a dead socket must not hold up exit
        self.check_name, self.check = name, check
        self.result = "unavailable"

    def run(self) -> None:
        try:
            self.check()
        except Exception as exc:  # any failure means "not ready"; the detail goes to the log, not to the caller
            logger.warning(f"onboarding.readyz.{self.check_name}_down", extra={"error": repr(exc)})
        else:
            self.result = "ok"


def _run_checks(checks: dict[str, Callable[[], None]], timeout: float) -> dict[str, str]:
    threads = [_Check(name, check) for name, check in checks.items()]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    results = {}
    for thread in threads:
        if thread.is_alive():
            logger.warning(f"onboarding.readyz.{thread.check_name}_down", extra={"error": f"no answer in {timeout}s"})
        results[thread.check_name] = "ok" if not thread.is_alive() and thread.result == "ok" else "unavailable"
    return results


def _check_database() -> None:
    # This thread's own connection (Django keeps one per thread), closed here: a probe holds no connection.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def _check_broker() -> None:
    # One attempt, bounded by the transport's socket timeouts (CELERY_BROKER_SOCKET_TIMEOUT): no retry, no sleep.
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=0)
