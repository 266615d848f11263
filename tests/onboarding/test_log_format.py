"""Log lines keep a record's ``extra`` fields: the configured formatter is the one a process writes its lines with."""

import logging
import sys

import pytest
from django.conf import settings
from django.utils.module_loading import import_string


@pytest.fixture
def formatter() -> logging.Formatter:
    """The console handler's formatter, built from settings.LOGGING the way logging.config builds it."""
    config = dict(settings.LOGGING["formatters"][settings.LOGGING["handlers"]["console"]["formatter"]])
    return import_string(config.pop("()"))(**config)


def _record(message: str, extra: dict | None = None, exc_info=None) -> logging.LogRecord:
    logger = logging.getLogger("signals_app.services.ingestion")
    return logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, (), exc_info, extra=extra)


def test_extra_fields_follow_the_message_as_key_value_pairs(formatter):
    record = _record("signals.ingest.enqueue_failed", {"learners": 3, "error": "TimeoutError('Timeout reading')"})

    line = formatter.format(record)

    assert line.endswith(
        "WARNING signals_app.services.ingestion signals.ingest.enqueue_failed learners=3 "
        "error=\"TimeoutError('Timeout reading')\""
    )


def test_values_that_could_break_the_line_are_quoted(formatter):
    record = _record("x.y", {"ids": [1, 2], "who": "demo-alex", "note": "two\nlines", "ok": True})

    line = formatter.format(record)

    assert line.endswith('x.y ids=[1,2] who=demo-alex note="two\\nlines" ok=True')
    assert "\n" not in line


def test_a_record_without_extra_and_the_traceback_keep_their_place(formatter):
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("x.failed", {"path": "/api/v1/events"}, exc_info=sys.exc_info())

    first, *rest = formatter.format(record).splitlines()

    assert first.endswith("x.failed path=/api/v1/events")
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: boom"
    assert formatter.format(_record("plain.message")).endswith("plain.message")


def test_a_field_that_repeats_the_message_arguments_is_left_out(formatter):
    context = {"id": "abc", "runtime": 0.5}
    logger = logging.getLogger("celery.app.trace")
    record = logger.makeRecord(
        logger.name,
        logging.INFO,
        __file__,
        1,
        "Task %(id)s succeeded in %(runtime)ss",
        (context,),
        None,
        extra={"data": context},
    )

    assert formatter.format(record).endswith("Task abc succeeded in 0.5s")
