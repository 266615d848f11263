"""The playbooks' vocabulary of the condition language (docs/conditions.md): the names a branch, a trigger or a signal's
``where`` may use. The language itself (checking, compiling, evaluating) is the shared pure package ``conditions``,
re-exported here so that existing imports keep working.
"""

from functools import lru_cache
from typing import Any

from rule_engine import DataType

from conditions.compiler import (
    MAX_LENGTH,
    MAX_NESTING,
    MAX_OPERATORS,
    NUMBER,
    Condition,
    ConditionError,
    Vocabulary,
    check_text,
    compile_condition,
    known_names,
    referenced_keys,
    root_names,
)

__all__ = [
    "BASE_VOCABULARY",
    "BUILTIN_SIGNALS",
    "EVENT_FILTER",
    "EVENT_FILTER_VOCABULARY",
    "MAX_LENGTH",
    "MAX_NESTING",
    "MAX_OPERATORS",
    "NUMBER",
    "Condition",
    "ConditionError",
    "Vocabulary",
    "check_text",
    "compile_condition",
    "known_names",
    "referenced_keys",
    "root_names",
    "signal_type",
    "vocabulary_for",
]

_EVENT = DataType.OBJECT(
    "event",
    {"type": DataType.STRING, "module": DataType.STRING, "properties": DataType.MAPPING(DataType.STRING)},
    accessor=lambda value, name: value.get(name),
)

BUILTIN_SIGNALS = (
    "skips",
    "skip_streak",
    "completed_modules",
    "avg_module_seconds",
    "idle_hours",
    "sessions",
    # sessions and engagement velocity (engine/sessions.py)
    "session_seconds",
    "avg_session_seconds",
    "interactions_per_active_day",
)

BASE_VOCABULARY: dict[str, Any] = {
    "roles": DataType.ARRAY(DataType.STRING),
    "role": DataType.STRING,
    "attributes": DataType.MAPPING(DataType.STRING),
    "days_enrolled": NUMBER,
    # schedule (steps with ``due``): the current step is past its due time; every due step so far was done in time
    "overdue": DataType.BOOLEAN,
    "on_schedule": DataType.BOOLEAN,
    "now": DataType.OBJECT("now", {"hour": NUMBER, "weekday": NUMBER}, accessor=lambda value, name: value.get(name)),
    **dict.fromkeys(BUILTIN_SIGNALS, NUMBER),
    "module": DataType.OBJECT(
        "module",
        {
            "slug": DataType.STRING,
            "seconds": NUMBER,
            "completion_pct": NUMBER,
            "views": NUMBER,
            "tags": DataType.ARRAY(DataType.STRING),
        },
        accessor=lambda value, name: value.get(name),
    ),
    "event": _EVENT,
}
# A signal's ``where`` sees only the event it filters.
EVENT_FILTER_VOCABULARY: dict[str, Any] = {"event": _EVENT}


def signal_type(aggregate: str) -> Any:
    """``last`` yields whatever the property held; every other aggregate is a number."""
    return DataType.UNDEFINED if aggregate == "last" else NUMBER


PARAMETER_DATA_TYPES = {"number": NUMBER, "string": DataType.STRING, "bool": DataType.BOOLEAN}


@lru_cache(maxsize=256)
def vocabulary_for(
    signals: tuple[tuple[str, str], ...] = (), parameters: tuple[tuple[str, str], ...] = ()
) -> Vocabulary:
    """The vocabulary of a playbook whose signals are ``((name, aggregate), ...)`` and parameters ``((name, type),
    ...)``: a playbook with parameters reads them as ``params.<name>``."""
    types = {**BASE_VOCABULARY, **{name: signal_type(aggregate) for name, aggregate in signals}}
    if parameters:
        fields = {name: PARAMETER_DATA_TYPES[kind] for name, kind in parameters}
        types["params"] = DataType.OBJECT("params", fields, accessor=lambda value, name: value.get(name))
    return Vocabulary(types)


EVENT_FILTER = Vocabulary(EVENT_FILTER_VOCABULARY)
