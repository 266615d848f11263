"""What no stored string or number may be, whoever sends it: the checks shared by the API's JSON parser and the
validation of each input.

PostgreSQL refuses a NUL character in text and a lone UTF-16 surrogate in any string (a 500 if it reaches the
database), and JSON columns refuse non-finite numbers; structures nested without bound exhaust the stack.
"""

import math
from typing import Any

MAX_DEPTH = 32  # of any JSON a client sends; properties allow less (signals_app.event_input)


def string_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    if any("\ud800" <= char <= "\udfff" for char in value):
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def json_problem(value: Any, *, max_depth: int = MAX_DEPTH, strings: bool = True) -> str | None:
    """The first reason ``value`` (parsed JSON) cannot be stored, with where: ``"a.b[2]: contains a NUL character"``;
    with ``strings=False``, only non-finite numbers and depth are checked.

    Walks iteratively, so no depth of nesting can exhaust the stack.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > max_depth:
            return f"{path or 'the value'}: nested more than {max_depth} levels deep"
        if isinstance(item, str):
            problem = string_problem(item) if strings else None
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else "is not a finite number"
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = string_problem(key) if strings and isinstance(key, str) else None
                if problem:
                    return f"{path or 'the value'}: a key {problem}"
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
            continue
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
            continue
        else:
            problem = None
        if problem:
            return f"{path or 'the value'}: {problem}"
    return None
