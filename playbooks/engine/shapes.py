"""Reading YAML-shaped input (playbooks, journeys) with errors that name the path and suggest the likely word."""

import difflib
from collections.abc import Iterable
from typing import Any

from playbooks.engine.spec import SpecError


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or nothing when none is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def kind_of(value: Any) -> str:
    """What a YAML value is, in an admin's words."""
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


class ShapeReader:
    """Collects every shape error instead of stopping at the first."""

    # What an error at the top of the document is reported against.
    root = ""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(SpecError(path, message))

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.error(path or self.root, f"expected a mapping of {', '.join(allowed)}, got {kind_of(value)}")
            return {}
        for key in value:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed) or f"; allowed: {', '.join(allowed)}"
                self.error(f"{path}.{key}" if path else str(key), f"unknown key '{key}'{hint}")
        return value

    def sequence(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {kind_of(value)}")
            return []
        return value

    def text(self, value: Any, path: str, *, required: bool = True) -> str | None:
        if value is None:
            if required:
                self.error(path, "required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error(path, f"expected text, got {kind_of(value)}")
            return None
        return str(value)

    def integer(self, value: Any, path: str, *, minimum: int = 0) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.error(path, f"expected a whole number of at least {minimum}, got {value!r}")
            return None
        return value
