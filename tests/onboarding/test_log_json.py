"""LOG_FORMAT=json: one JSON object per line (python-json-logger) with the record's fields and what its request is
about; production writes JSON unless told otherwise, development stays readable."""

import io
import json
import logging

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from common.logging import AddLogContext, log_context
from tests.factories import api_key
from tests.onboarding.test_settings import _manage, _production_env


def _json_handler() -> logging.Handler:
    config = dict(settings.LOGGING["formatters"]["json"])
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(import_string(config.pop("()"))(**config))
    handler.addFilter(AddLogContext())
    return handler


def _lines(handler: logging.StreamHandler) -> list[dict]:
    return [json.loads(line) for line in handler.stream.getvalue().splitlines()]


def test_a_record_is_one_json_object_with_its_fields_and_the_bound_context():
    handler = _json_handler()
    logger = logging.getLogger("signals_app.services.ingestion")
    logger.addHandler(handler)
    try:
        with log_context(task_id="abc-123", task="signals_app.evaluate_learners", learner_ids=[4, 7]):
            logger.warning("signals.ingest.enqueue_failed", extra={"learners": 2, "error": "Timeout\nreading"})
        logger.warning("after.the.task")
    finally:
        logger.removeHandler(handler)

    inside, after = _lines(handler)
    assert inside["message"] == "signals.ingest.enqueue_failed"
    assert inside["level"] == "WARNING" and inside["logger"] == "signals_app.services.ingestion"
    assert inside["learners"] == 2 and inside["error"] == "Timeout\nreading"
    assert inside["task_id"] == "abc-123" and inside["learner_ids"] == [4, 7]
    assert inside["time"].endswith("+00:00")
    assert "task_id" not in after  # the context ended with its block


def test_a_request_about_a_learner_names_them_in_its_log_lines(client, db):
    key, _ = api_key("learners:read")
    handler = _json_handler()
    logging.getLogger("django.request").addHandler(handler)
    try:
        response = client.get("/api/v1/learners/ghost-17/next-module", HTTP_AUTHORIZATION=f"Api-Key {key}")
    finally:
        logging.getLogger("django.request").removeHandler(handler)

    assert response.status_code == 404
    (line,) = _lines(handler)
    assert line["level"] == "WARNING" and line["learner"] == "ghost-17"


def test_production_writes_json_lines():
    result = _manage("check", "--deploy", env=_production_env())

    first = json.loads(result.stderr.splitlines()[0])  # django-axes announces itself at start
    assert first["logger"] == "axes.apps" and first["level"] == "INFO"


def test_production_can_still_write_plain_lines():
    result = _manage("check", env=_production_env(LOG_FORMAT="plain"))

    assert " INFO axes.apps AXES: BEGIN" in result.stderr.splitlines()[0]


@pytest.mark.parametrize("value", ["xml", "JSONL"])
def test_an_unknown_log_format_stops_the_process_naming_it(value):
    result = _manage("check", env=_production_env(LOG_FORMAT=value))

    assert result.returncode != 0
    assert "LOG_FORMAT: " in result.stderr.strip().splitlines()[-1] and "plain, json" in result.stderr
