"""API error handling: every error body is ``{"code", "message", "field"}``, plus ``errors`` for validation.

DRF views answer through ``exception_handler``; what happens before or outside a view under /api/ (no such path, a
refusal in onboarding/middleware.py, a crash) through ``api_error`` and the ``handler*`` views of onboarding/urls.py,
which keep Django's HTML pages for the rest of the site.
"""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import ApplicationError

API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX) or request.path_info == API_PREFIX.rstrip("/")


def api_error(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "field": field}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_error(400, "bad_request", "The request is malformed.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_error(403, "permission_denied", "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_error(404, "not_found", "No API endpoint has this path; the API is described at /api/docs/.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return api_error(500, "server_error", "Something went wrong on our side; it has been logged.")
    return defaults.server_error(request)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = _error_response(exc, context)
    if response is not None:
        _render_as_json(context.get("request"))
    return response


def _render_as_json(request: Any) -> None:
    """An error is rendered by the API's own (JSON) renderer, even from a view that renders something else (the
    schema's YAML, the docs' HTML)."""
    if request is not None:
        renderer = api_settings.DEFAULT_RENDERER_CLASSES[0]()
        request.accepted_renderer, request.accepted_media_type = renderer, renderer.media_type


def _error_response(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        body = {"code": exc.code, "message": exc.message, "field": exc.field, **exc.extra}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: let Django answer 500 and log it
    if isinstance(exc, exceptions.ValidationError):
        errors = list(_flatten(exc.detail))
        first = errors[0] if errors else {"field": None, "code": "invalid", "message": "Invalid input."}
        response.data = {"code": "invalid", "message": first["message"], "field": first["field"], "errors": errors}
    else:
        response.data = {"code": _code_of(exc), "message": str(exc.detail), "field": None}
    return response


# What onboarding/middleware.py may answer for any operation, before or around its view.
_GUARD_RESPONSES = {
    "400": "A NUL character in the path or query, or a malformed Content-Length.",
    "503": "The database is unreachable; try again after Retry-After seconds.",
}
_GUARD_BODY_RESPONSES = {
    "411": "The body came without a Content-Length (chunked).",
    "413": "The body is larger than the API accepts.",
}


def document_guard_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation's schema lists the refusals the request guard makes."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOutput"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            refusals = {**_GUARD_RESPONSES, **(_GUARD_BODY_RESPONSES if "requestBody" in operation else {})}
            for status, description in refusals.items():
                operation["responses"].setdefault(status, {"description": description, "content": error})
    return result


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def _flatten(detail: Any, path: str | None = None):
    """Nested DRF error details as a flat list of ``{"field": "events.3.occurred_at", "code", "message"}``."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = None if key == "non_field_errors" else (f"{path}.{key}" if path else str(key))
            yield from _flatten(value, field if field is not None else path)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            nested = isinstance(item, dict | list)
            yield from _flatten(item, (f"{path}.{index}" if path else str(index)) if nested else path)
    else:
        yield {"field": path, "code": getattr(detail, "code", "invalid"), "message": str(detail)}
