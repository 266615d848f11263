"""Events that could never be stored or evaluated are refused at the door, per item, with nothing written."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from signals_app.models import Event
from tests.factories import api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


@pytest.fixture
def writer(client, learner):
    key, _row = api_key("events:write")
    client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    return client


def _event(**overrides) -> dict:
    moment = (timezone.now() - timedelta(minutes=1)).isoformat()
    base = {"id": "evt-1", "learner": "alice", "type": "module_completed", "module": "welcome", "occurred_at": moment}
    return base | overrides


def _errors(response) -> list[tuple]:
    return [(e["index"], e["field"], e["code"]) for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("overrides", "field", "code", "message"),
    [
        ({"properties": {"duration_seconds": 3e9}}, "properties", "out_of_range", "properties.duration_seconds"),
        ({"properties": {"seconds": 3_000_000_000}}, "properties", "out_of_range", "at most a year"),
        ({"properties": {"completion_pct": 150}}, "properties", "out_of_range", "a percentage between 0 and 100"),
        ({"properties": {"duration_seconds": -5}}, "properties", "out_of_range", "between 0 and"),
        ({"properties": {"score": 1e300}}, "properties", "out_of_range", "properties.score"),
        ({"properties": {"note": "a\x00b"}}, "properties", "invalid", "properties.note: contains a NUL character"),
        ({"properties": {"a\x00": 1}}, "properties", "invalid", "the key 'a\\x00' contains a NUL character"),
        ({"properties": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}}, "properties", "invalid",
         "nested more than 8 levels deep"),
        ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at", "out_of_range", "check the client's clock"),
        ({"occurred_at": "1999-12-31T23:59:59Z"}, "occurred_at", "out_of_range", "before 2000-01-01"),
        ({"id": "evt\x00"}, "id", "invalid", "contains a NUL character"),
        ({"learner": "ali\x00ce"}, "learner", "invalid", "contains a NUL character"),
    ],
)  # fmt: skip
def test_values_that_cannot_be_stored_or_evaluated_are_refused_per_item(writer, overrides, field, code, message):
    response = writer.post(URL, {"events": [_event(id="ok"), _event(**overrides)]}, content_type="application/json")

    assert response.status_code == 400
    assert _errors(response) == [(1, field, code)]
    assert message in response.json()["errors"][0]["message"]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"id": "evt-1", "learner": "alice", "type": "click", "occurred_at": "%s", "properties": {"x": 1e400}}',
         "too large a number"),
        ('{"id": "evt-1", "learner": "alice", "type": "click", "occurred_at": "%s", "properties": {"x": NaN}}',
         "NaN is not a JSON number"),
        ("[" * 5000 + "]" * 5000, "nested"),
    ],
)  # fmt: skip
def test_json_that_could_not_be_stored_is_a_clear_400(writer, raw, message):
    body = raw % timezone.now().isoformat() if "%s" in raw else raw

    response = writer.post(URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert message in response.json()["message"]
    assert not Event.objects.exists()


@pytest.mark.parametrize("surrogate", ["\\ud800", "\\udbff", "\\udc00", "\\udfff"])  # either half, either end
def test_a_lone_surrogate_is_refused_on_its_field(writer, surrogate):
    body = '{"events": [{"id": "evt-%s", "learner": "alice", "type": "click", "occurred_at": "%s"}]}'

    response = writer.post(URL, body % (surrogate, timezone.now().isoformat()), content_type="application/json")

    assert _errors(response) == [(0, "id", "invalid")]
    assert "lone UTF-16 surrogate" in response.json()["errors"][0]["message"]
    assert not Event.objects.exists()


def test_a_valid_event_next_to_hostile_looking_but_harmless_values_is_accepted(writer):
    properties = {"note": "émoji 🎉 and \\u0000 as text", "nested": {"deep": [1, 2.5, None, True]}, "big": 1e15}

    response = writer.post(URL, _event(properties=properties), content_type="application/json")

    assert response.status_code == 202
    assert Event.objects.get().properties == json.loads(json.dumps(properties))
