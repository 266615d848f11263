"""What no stored string or number may be, whoever sends it: the checks shared by the API's JSON parser and the
validation of each input.

PostgreSQL refuses a NUL character in text and a lone UTF-16 surrogate in any string (a 500 if it reaches the
database), and JSON columns refuse non-finite numbers; structures nested without bound exhaust the stack.
"""

import math
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 32  # of any JSON a client sends; free-form values allow less (event properties, journeys: 8)
# Searched in C: the API's parser and each input's validation look at every string of every request (a Python loop
# over the characters cost about 1 µs a string, 7x this).
_SURROGATE = re.compile("[\ud800-\udfff]")


def string_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    if _SURROGATE.search(value):
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def json_problem(
    value: Any,
    *,
    max_depth: int = MAX_DEPTH,
    text_problem: Callable[[str], str | None] | None = string_problem,
) -> tuple[str, str] | None:
    """The first reason ``value`` (parsed JSON or YAML) cannot be stored, as (path inside it, message), such as
    ``("a.b[2]", "contains a NUL character")``; None when it can. ``text_problem`` judges strings and keys (None:
    they are not looked at).

    Walks with a stack of its own, so that no nesting, however deep, recurses in Python.
    """
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        item, path, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return path, f"nested more than {max_depth} levels deep; keep values flat (name: value)"
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if text_problem and isinstance(key, str) and (problem := text_problem(key)):
                    return path, f"the key {key[:40]!r} {problem}"
                child_path = f"{path}[{key}]" if isinstance(item, list) else f"{path}.{key}" if path else str(key)
                pending.append((child, child_path, depth + 1))
        elif isinstance(item, str) and text_problem and (problem := text_problem(item)):
            return path, problem
        elif isinstance(item, float) and not math.isfinite(item):
            return path, f"{item} is not a finite number"
    return None


def describe(problem: tuple[str, str], root: str) -> str:
    """``("a.b", "contains …")`` under ``properties`` → ``properties.a.b: contains …``."""
    path, message = problem
    if not path:
        return f"{root}: {message}"
    return f"{root}{path}: {message}" if path.startswith("[") else f"{root}.{path}: {message}"
