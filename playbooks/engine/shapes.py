"""Reading YAML-shaped input (playbooks, journeys) with errors that name the path and suggest the likely word."""

import difflib
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from common.hostile import json_problem
from playbooks.engine.spec import SpecError

# Free-form values (a journey's event properties and learner attributes, a trigger action typed as JSON) are
# name: value pairs, not trees; nesting is bounded so that nothing storing or walking them can exhaust the stack.
MAX_VALUE_DEPTH = 8
# A module's link: what a learner's browser may open.
WEB_SCHEMES = ("http", "https")
# Control characters (tab and line breaks aside), lone surrogates and U+FFFE/FFFF, as the YAML reader defines them:
# PostgreSQL refuses some of them in text, and none of them belong in a playbook or a journey.
UNPRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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

    def boolean(self, value: Any, path: str) -> bool:
        """An optional flag: absent is false."""
        if value is None or isinstance(value, bool):
            return bool(value)
        self.error(path, f"expected true or false, got {kind_of(value)}")
        return False

    def integer(self, value: Any, path: str, *, minimum: int = 0) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.error(path, f"expected a whole number of at least {minimum}, got {value!r}")
            return None
        return value


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    found = UNPRINTABLE.search(text)
    return f"contains the character U+{ord(found.group()):04X}, which is not allowed in text" if found else None


def value_problem(value: Any, *, max_depth: int = MAX_VALUE_DEPTH) -> tuple[str, str] | None:
    """The first reason a free-form value cannot be stored, as (path inside it, message); None when it can."""
    return json_problem(value, max_depth=max_depth, text_problem=text_problem)


def join_path(path: str, inner: str) -> str:
    """``events[3].properties`` and ``a[2]`` → ``events[3].properties.a[2]``."""
    if not inner:
        return path
    return f"{path}{inner}" if inner.startswith("[") else f"{path}.{inner}"


def web_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a module's link, or None. Web addresses only: the learner's page links to it, where a
    ``javascript:`` or ``data:`` URL would run in the platform's own origin."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced [ in the host
        return f"{url[:80]!r} is not a URL ({exc}); use an http:// or https:// address"
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.netloc:
        return f"{url[:80]!r} is not a web address; use an http:// or https:// URL, e.g. https://example.com/guide"
    return None
