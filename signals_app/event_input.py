"""Validation of incoming events, by hand rather than with DRF serializers: a 1,000-event batch is checked in a few
milliseconds, and every problem is reported as ``{"index", "field", "code", "message"}``."""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.hostile import describe, json_problem, string_problem

MAX_BATCH = 1000
MAX_ID_LENGTH = 200
MAX_PROPERTIES_BYTES = 8192
FUTURE_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # older is a client's bug (an unset clock), not onboarding history
MAX_PROPERTIES_DEPTH = 8
MAX_NUMBER = 1e15  # any number in properties: what a JSON column, a float and the signals all hold exactly
# Properties the platform stores in integer columns (module progress), with the ranges that make sense for them.
BOUNDED_PROPERTIES = {
    "duration_seconds": (0, 31_536_000, "seconds, at most a year"),
    "seconds": (0, 31_536_000, "seconds, at most a year"),
    "completion_pct": (0, 100, "a percentage"),
}
# A micro-survey's answer (insights): checked here so that a bad one is refused naming the field, like any event.
SURVEY_ANSWERED = "survey_answered"
SURVEY_SCORES = (1, 5)
MAX_SURVEY_COMMENT = 1000
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MODULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_FIELDS = frozenset({"id", "learner", "type", "module", "occurred_at", "properties"})


@dataclass(frozen=True)
class EventInput:
    index: int
    client_id: str
    learner: str
    type: str
    module: str
    occurred_at: datetime
    properties: dict[str, Any]
    properties_json: str  # serialised once, for the size check and the insert


def batch_items(body: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """One event or ``{"events": [...]}`` → the list of items, or a batch-level error."""
    if isinstance(body, dict) and "events" in body:
        items = body["events"]
        if not isinstance(items, list) or not items:
            return [], [_error(None, "events", "invalid", "'events' must be a non-empty list of events.")]
        if len(items) > MAX_BATCH:
            return [], [
                _error(
                    None,
                    "events",
                    "batch_too_large",
                    f"A batch holds at most {MAX_BATCH} events; this one has {len(items)}: split it.",
                )
            ]
        return items, []
    if isinstance(body, dict):
        return [body], []
    return [], [_error(None, None, "invalid", 'Send one event object, or {"events": [...]}.')]


def validate_item(index: int, item: Any, *, now: datetime) -> tuple[EventInput | None, list[dict[str, Any]]]:
    if not isinstance(item, dict):
        return None, [_error(index, None, "invalid", "An event is a JSON object.")]
    errors = [
        _error(index, key, "unknown_field", f"Unknown field '{key}'; events have: {', '.join(sorted(_FIELDS))}.")
        for key in item
        if key not in _FIELDS
    ]
    client_id = _text(item.get("id"), index, "id", MAX_ID_LENGTH, errors)
    learner = _text(item.get("learner"), index, "learner", 255, errors)
    kind = _text(item.get("type"), index, "type", 64, errors)
    if kind is not None and not _TYPE.match(kind):
        errors.append(
            _error(index, "type", "invalid", f"Event type '{kind}' must be snake_case, e.g. module_completed.")
        )
    module = item.get("module") or ""
    if not isinstance(module, str) or (module and not _MODULE.match(module)):
        errors.append(_error(index, "module", "invalid", "A module is named by its slug, e.g. crm-basics."))
    occurred_at = _moment(item.get("occurred_at"), index, now, errors)
    properties = item.get("properties") or {}
    problem = json_problem(properties, max_depth=MAX_PROPERTIES_DEPTH) if isinstance(properties, dict) else None
    properties_json = (
        json.dumps(properties, separators=(",", ":")) if isinstance(properties, dict) and not problem else ""
    )
    if not isinstance(properties, dict):
        errors.append(_error(index, "properties", "invalid", "Properties are a JSON object of name: value."))
    elif problem:
        errors.append(_error(index, "properties", "invalid", f"{describe(problem, 'properties')}."))
    elif len(properties_json) > MAX_PROPERTIES_BYTES:
        errors.append(
            _error(
                index,
                "properties",
                "too_large",
                f"Properties take at most {MAX_PROPERTIES_BYTES} bytes of JSON; send less.",
            )
        )
    elif problem := _number_problem(properties):
        errors.append(_error(index, "properties", "out_of_range", problem))
    elif kind == SURVEY_ANSWERED:
        errors.extend(_error(index, *problem) for problem in _survey_problems(module, properties))
    if errors:
        return None, errors
    return EventInput(index, client_id, learner, kind, module, occurred_at, properties, properties_json), []


def _text(value: Any, index: int, field: str, limit: int, errors: list) -> str | None:
    if value is None or value == "":
        errors.append(_error(index, field, "required", f"'{field}' is required."))
        return None
    if not isinstance(value, str):
        errors.append(_error(index, field, "invalid", f"'{field}' must be a string."))
        return None
    if len(value) > limit:
        errors.append(_error(index, field, "too_long", f"'{field}' is at most {limit} characters."))
        return None
    if problem := string_problem(value):
        errors.append(_error(index, field, "invalid", f"'{field}' {problem}."))
        return None
    return value


def _number_problem(properties: dict[str, Any]) -> str | None:
    """Numbers beyond what can be stored and computed with, at the top level of properties (deeper ones are only
    stored, and ``json_problem`` has already refused the non-finite)."""
    for name, value in properties.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        low, high, unit = BOUNDED_PROPERTIES.get(name, (-MAX_NUMBER, MAX_NUMBER, "a number"))
        if not low <= value <= high:
            return f"properties.{name}: {value!r} is out of range; {unit} between {low:g} and {high:g}."
    return None


def _survey_problems(module: Any, properties: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(field, code, message)`` for each thing wrong with a survey answer."""
    problems = []
    if not module:
        problems.append(("module", "required", "A survey answer names the module it is about, e.g. crm-basics."))
    low, high = SURVEY_SCORES
    score = properties.get("score")
    if score is None:
        problems.append(("properties.score", "required", f"properties.score is required: {low} to {high}."))
    elif isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        problems.append(
            ("properties.score", "invalid", f"properties.score: {score!r} is not a whole number {low}-{high}.")
        )
    comment = properties.get("comment", "")
    if not isinstance(comment, str):
        problems.append(("properties.comment", "invalid", "properties.comment is text."))
    elif len(comment) > MAX_SURVEY_COMMENT:
        problems.append(
            (
                "properties.comment",
                "too_long",
                f"properties.comment is at most {MAX_SURVEY_COMMENT} characters; this one has {len(comment)}.",
            )
        )
    unknown = sorted(set(properties) - {"score", "comment"})
    if unknown:
        problems.append(
            (
                "properties",
                "unknown_field",
                f"A survey answer's properties are score and comment, not {', '.join(unknown)}.",
            )
        )
    return problems


def _moment(value: Any, index: int, now: datetime, errors: list) -> datetime | None:
    if value is None:
        errors.append(_error(index, "occurred_at", "required", "'occurred_at' is required (ISO 8601 with a zone)."))
        return None
    parsed = _parse_moment(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        errors.append(
            _error(
                index,
                "occurred_at",
                "invalid",
                f"{value!r} is not an ISO 8601 time with a zone, e.g. 2026-03-02T09:00:00Z.",
            )
        )
        return None
    if not _within_years(parsed):
        errors.append(
            _error(
                index,
                "occurred_at",
                "out_of_range",
                f"{value} is before {EARLIEST:%Y-%m-%d}: check the client's clock.",
            )
        )
        return None
    if parsed > now + FUTURE_SKEW:
        errors.append(
            _error(
                index,
                "occurred_at",
                "in_future",
                f"{value} is in the future (beyond {FUTURE_SKEW.seconds // 60} minutes of clock skew).",
            )
        )
        return None
    return parsed


def _within_years(moment: datetime) -> bool:
    try:
        return moment.astimezone(UTC) >= EARLIEST  # year 1 at +14:00 has no UTC time at all: OverflowError
    except OverflowError:
        return False


def _parse_moment(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)  # C-fast; accepts Z and offsets since Python 3.11
    except ValueError:
        return None


def _error(index: int | None, field: str | None, code: str, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "code": code, "message": message}
