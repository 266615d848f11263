"""Refusals that no view should have to make, and a database outage answered as one.

- A NUL character in the path or query: no URL of ours holds one, and PostgreSQL cannot store one (psycopg refuses it
  with a ValueError, which used to be a 500).
- Under /api/: a body of unknown length (``Transfer-Encoding: chunked``; WSGI gives Django no length, so it would be
  read as empty) is 411, and a body announced larger than ``API_MAX_BODY_BYTES`` is 413, both before anything reads it.
- The database unreachable (connection refused, dropped, timed out) while a view runs: 503 with ``Retry-After``
  rather than a 500, since nothing is wrong with the request.

Under /api/ every refusal is the API's JSON error body; elsewhere Django's own HTML pages.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.signals import request_finished
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.views import defaults

from common.logging import bind_log_context, clear_log_context
from onboarding.api import api_error, is_api_request

logger = logging.getLogger(__name__)

# Seconds a client should wait before trying again while the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 5


class RequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = _nul_refusal(request) or (_body_refusal(request) if is_api_request(request) else None)
        return refusal or self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None  # a bug, or a refusal the view's own handling answers
        logger.warning("onboarding.database_unavailable", extra={"path": request.path, "error": repr(exception)[:500]})
        message = "The service cannot reach its database; try again shortly."
        if is_api_request(request):
            response = api_error(503, "service_unavailable", message)
        else:
            response = HttpResponse(f"<h1>Service unavailable</h1><p>{message}</p>", status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response


def _nul_refusal(request: HttpRequest) -> HttpResponse | None:
    if "\x00" not in request.path and "%00" not in request.META.get("QUERY_STRING", ""):
        return None
    if is_api_request(request):
        return api_error(400, "invalid_path", "The path or query holds a NUL character, which no resource has.")
    return defaults.bad_request(request, SuspiciousOperation("NUL character in the path or query"))


def _body_refusal(request: HttpRequest) -> HttpResponse | None:
    if request.META.get("HTTP_TRANSFER_ENCODING"):
        return api_error(
            411,
            "length_required",
            "Send the body with a Content-Length header; bodies of unknown length (chunked) are not accepted.",
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0:
        return api_error(400, "bad_request", "The Content-Length header is not a length.")
    cap = settings.API_MAX_BODY_BYTES
    if length > cap:
        return api_error(413, "body_too_large", f"The body is {length} bytes; send at most {cap} per request.")
    return None


# URL keywords that name what a request is about, as the log context calls them (common/logging.py).
_LOGGED_URL_KWARGS = {"external_id": "learner", "slug": "playbook", "event_id": "event_id"}


class LogContextMiddleware:
    """Every record logged while a request runs names its learner or playbook when the URL does, including Django's
    own "Not Found" line, written after the middleware has returned: the context is cleared when the request ends
    (``request_finished``), not when this returns."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        clear_log_context()  # whatever an earlier request of this thread left, should its end have been missed
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        bind_log_context(**{_LOGGED_URL_KWARGS[k]: v for k, v in view_kwargs.items() if k in _LOGGED_URL_KWARGS})


@receiver(request_finished)
def _forget_request_log_context(**_) -> None:
    clear_log_context()
