"""API error handling: every error body is ``{"code", "message", "field"}``, plus ``errors`` for validation."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import ApplicationError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
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
