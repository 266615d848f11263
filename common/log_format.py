"""Log formatters that keep a record's ``extra`` fields (and the bound context: common/logging.py). ``plain``, for
people: ``logger.warning("x.y", extra={"learners": 3})`` prints ``... x.y learners=3``; the standard formatter drops
them, and with them what the dotted event key is about. ``json``, for log pipelines: one JSON object per line
(python-json-logger), the same fields as keys. ``LOG_FORMAT`` chooses (settings)."""

import json
import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

# Every attribute a bare LogRecord has, plus those that formatting adds: anything else came in through ``extra``.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_BARE = re.compile(r"[\w.:/@+-]+")


class KeyValueFormatter(logging.Formatter):
    """The configured format, followed by `` key=value`` for each extra field, in the order they were given."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        pairs = [f"{key}={_value(value)}" for key, value in _extra_fields(record)]
        return " ".join([line, *pairs]) if pairs else line


def _extra_fields(record: logging.LogRecord) -> list[tuple[str, Any]]:
    # A field that is the message's own arguments (Celery logs each task's outcome so) is in the message already.
    return [
        (key, value)
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRIBUTES and value is not record.args
    ]


def _value(value: Any) -> str:
    """Bare when unambiguous (3, demo-alex, 2026-11-25T09:00:00Z), else JSON, so that one line stays one record."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and _BARE.fullmatch(value)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    try:
        return json.dumps(value, default=str, separators=(",", ":"))
    except (TypeError, ValueError):  # a circular structure: its repr is still better than losing the record
        return json.dumps(repr(value))


class JsonFormatter(_LibraryJsonFormatter):
    """``{"time", "level", "logger", "message", ...extra and context fields, "exc_info"}`` on one line: ``time`` in
    ISO 8601 UTC; datetimes, UUIDs and the like as strings (the library's encoder)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        super().__init__(*args, **kwargs)
