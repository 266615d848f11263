"""POST /api/v1/events: acknowledged means stored, retries are duplicates, bad batches are refused whole."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from identity.models import Learner
from identity.services import api_key_revoke, learner_deactivate
from signals_app.event_input import MAX_BATCH
from signals_app.models import Event
from tests.factories import ContentModuleFactory, api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


@pytest.fixture(autouse=True)
def library(db):
    """The modules these events name, so that the answers carry no unknown-module warning."""
    return [ContentModuleFactory(slug=slug) for slug in ("welcome", "crm-basics")]


def _event(n: int = 0, learner: str = "alice", **overrides) -> dict:
    moment = (timezone.now() - timedelta(minutes=10) + timedelta(seconds=n)).isoformat()
    return {
        "id": f"evt-{n}",
        "learner": learner,
        "type": "module_completed",
        "module": "welcome",
        "occurred_at": moment,
        "properties": {"duration_seconds": 45},
    } | overrides


@pytest.fixture
def writer(client, learner):
    key, _row = api_key("events:write")
    client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    return client


def _post(client, body):
    return client.post(URL, body, content_type="application/json")


def test_a_batch_is_stored_and_acknowledged_with_counts(writer):
    response = _post(writer, {"events": [_event(0), _event(1, type="module_skipped", module="crm-basics")]})

    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "duplicates": 0, "conflicts": [], "not_evaluated": 0, "warnings": []}
    stored = list(Event.objects.order_by("occurred_at").values_list("client_id", "type", "learner__external_id"))
    assert stored == [("evt-0", "module_completed", "alice"), ("evt-1", "module_skipped", "alice")]
    assert Event.objects.filter(processed_at__isnull=True).count() == 2


def test_a_single_event_is_accepted_too(writer):
    assert _post(writer, _event()).json() == {
        "accepted": 1,
        "duplicates": 0,
        "conflicts": [],
        "not_evaluated": 0,
        "warnings": [],
    }


def test_a_retried_batch_is_all_duplicates(writer):
    batch = {"events": [_event(0), _event(1)]}
    _post(writer, batch)

    response = _post(writer, {"events": [*batch["events"], _event(2)]})

    assert response.json() == {"accepted": 1, "duplicates": 2, "conflicts": [], "not_evaluated": 0, "warnings": []}
    assert Event.objects.count() == 3


def test_the_same_id_twice_in_one_batch_is_stored_once(writer):
    event = _event(0)

    assert _post(writer, {"events": [event, event]}).json() == {
        "accepted": 1,
        "duplicates": 1,
        "conflicts": [],
        "not_evaluated": 0,
        "warnings": [],
    }


def test_a_retried_id_with_a_different_body_is_reported_as_a_conflict_and_stored_once(writer):
    first = _event(0)
    _post(writer, first)

    response = _post(writer, {"events": [_event(1), {**first, "type": "module_skipped", "properties": {}}]})

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 1,
        "duplicates": 1,
        "conflicts": [
            {
                "index": 1,
                "id": "evt-0",
                "fields": ["type", "properties"],
                "message": "Event 'evt-0' was already received with a different type, properties; the first one is "
                "kept. Send a new id for a new event.",
            }
        ],
        "not_evaluated": 0,
        "warnings": [],
    }
    stored = Event.objects.get(client_id="evt-0")
    assert (stored.type, stored.properties, stored.conflicting_retries) == (
        "module_completed",
        {"duration_seconds": 45},
        1,
    )


def test_a_retry_with_the_same_body_in_another_time_zone_is_no_conflict(writer):
    first = _event(0)
    _post(writer, first)
    moment = timezone.localtime(datetime.fromisoformat(first["occurred_at"]), ZoneInfo("Asia/Kolkata"))

    response = _post(writer, {**first, "occurred_at": moment.isoformat()})

    assert response.json() == {"accepted": 0, "duplicates": 1, "conflicts": [], "not_evaluated": 0, "warnings": []}
    assert Event.objects.get().conflicting_retries == 0


def test_two_bodies_under_one_id_in_one_batch_keep_the_first(writer):
    event = _event(0)

    response = _post(writer, {"events": [event, {**event, "module": "crm-basics"}]})

    assert response.json()["conflicts"][0]["index"] == 1
    assert Event.objects.get().module == "welcome"


def test_ids_are_unique_per_key_not_globally(writer, client):
    _post(writer, _event(0))
    other_key, _ = api_key("events:write")

    response = client.post(URL, _event(0), content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {other_key}")

    assert response.json() == {"accepted": 1, "duplicates": 0, "conflicts": [], "not_evaluated": 0, "warnings": []}


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"occurred_at": (timezone.now() + timedelta(hours=1)).isoformat()}, "occurred_at", "in_future"),
        ({"occurred_at": "yesterday"}, "occurred_at", "invalid"),
        ({"occurred_at": "2026-03-02T09:00:00"}, "occurred_at", "invalid"),
        ({"occurred_at": None}, "occurred_at", "required"),
        ({"id": 42}, "id", "invalid"),
        ({"id": "x" * 201}, "id", "too_long"),
        ({"type": "Module Completed"}, "type", "invalid"),
        ({"module": "Not A Slug"}, "module", "invalid"),
        ({"properties": ["a"]}, "properties", "invalid"),
        ({"properties": {"blob": "x" * 9000}}, "properties", "too_large"),
        ({"learner": "nobody"}, "learner", "unknown_learner"),
        ({"colour": "blue"}, "colour", "unknown_field"),
    ],
)
def test_a_bad_event_refuses_the_whole_batch_naming_index_and_field(writer, overrides, field, code):
    response = _post(writer, {"events": [_event(0), _event(1, **overrides)]})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert [(e["index"], e["field"], e["code"]) for e in body["errors"]] == [(1, field, code)]
    assert body["errors"][0]["message"]
    assert not Event.objects.exists()


def test_every_problem_is_listed_at_once(writer):
    response = _post(writer, {"events": [_event(0, learner="nobody"), _event(1, type="", occurred_at="nope")]})

    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (0, "learner"),
        (1, "type"),
        (1, "occurred_at"),
    ]


def test_an_event_for_a_deactivated_learner_is_stored_but_not_evaluated(writer, learner):
    learner_deactivate(learner=learner)

    response = _post(writer, _event())

    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "conflicts": [], "not_evaluated": 1, "warnings": []}
    stored = Event.objects.get()
    assert (stored.client_id, stored.learner, stored.processed_at is not None) == ("evt-0", learner, True)


def test_batches_are_capped(writer):
    response = _post(writer, {"events": [_event(n) for n in range(MAX_BATCH + 1)]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "batch_too_large"


def test_an_oversize_body_is_refused_before_it_is_read(writer):
    response = writer.post(URL, b"{" + b" " * (5 * 1024 * 1024 + 1) + b"}", content_type="application/json")

    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


def test_malformed_json_is_a_clear_400(writer):
    response = writer.post(URL, b'{"events": [', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_a_key_allowed_to_create_learners_creates_them(client):
    key, _ = api_key("events:write", can_create_learners=True)

    response = client.post(
        URL, _event(learner="new-hire-7"), content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )

    assert response.status_code == 202
    assert Learner.objects.filter(external_id="new-hire-7").exists()


def test_no_credentials_is_401(client, learner):
    response = _post(client, _event())

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"


def test_a_wrong_or_revoked_key_is_401(client, learner):
    key, row = api_key("events:write")
    api_key_revoke(api_key=row)

    for header in (f"Api-Key {key}", "Api-Key onb_deadbeef_wrong", "Bearer something"):
        assert client.post(URL, _event(), content_type="application/json", HTTP_AUTHORIZATION=header).status_code == 401
    assert not Event.objects.exists()


def test_a_key_without_the_scope_is_403(client, learner):
    key, _ = api_key("learners:read")

    response = client.post(URL, _event(), content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert response.status_code == 403
    assert response.json()["message"] == "This API key lacks the 'events:write' scope."


def test_a_logged_in_learner_cannot_post_service_events(client, learner):
    client.force_login(learner.user)

    assert _post(client, _event()).status_code == 401
