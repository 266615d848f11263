"""The one application error type that services raise and the API turns into ``{"code", "message", "field"}``."""

from typing import Any


class ApplicationError(Exception):
    """A refusal the caller can act on: a stable lower-case ``code``, a message that says how to fix it."""

    status_code = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


def invalid_input(errors: list[dict[str, Any]]) -> ApplicationError:
    """A validation refusal listing every problem (``{"field", "code", "message"}``), led by the first: the same body
    the API gives for a serializer's errors."""
    first = errors[0]
    return ApplicationError("invalid", first["message"], field=first["field"], extra={"errors": errors})
