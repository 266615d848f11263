"""Form fields the admin pages share."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from common.hostile import json_problem

MAX_JSON_DEPTH = 8


class StorableJSONField(forms.JSONField):
    """JSON typed in the admin, refused with a message on the field (not a server error) when it is nested too deep
    to parse or store, or holds what PostgreSQL refuses (NaN, a NUL character, a lone surrogate)."""

    def to_python(self, value: Any) -> Any:
        try:
            converted = super().to_python(value)
        except RecursionError:
            raise ValidationError(f"Nested too deeply: at most {MAX_JSON_DEPTH} levels.", code="too_deep") from None
        problem = json_problem(converted, max_depth=MAX_JSON_DEPTH)
        if problem is not None:
            path, message = problem
            raise ValidationError(f"{path}: {message}" if path else message, code="not_storable")
        return converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # shown again as typed, with to_python's error
            return InvalidJSONInput(data)
