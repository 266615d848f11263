"""GET /api/v1/events/{id}: a sender reads back when its event was received and evaluated, and what it caused."""

import pytest
from django.utils import timezone

from identity.services import learner_create, role_upsert
from playbooks.services import playbook_import
from signals_app.services import learner_evaluate_pending
from tests.factories import api_key
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(client):
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    learner = learner_create(external_id="sam", roles=[role_upsert(slug="support_specialist", name="S")])
    key, _ = api_key("events:write")
    client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    return client, learner


def _send(client, event_id: str, **fields) -> None:
    body = {"id": event_id, "learner": "sam", "occurred_at": timezone.now().isoformat(), **fields}
    assert client.post("/api/v1/events", body, content_type="application/json").status_code == 202


def test_an_event_waiting_for_its_worker_says_so(sender):
    client, _learner = sender
    _send(client, "lms/evt 1", type="module_started", module="welcome")

    body = client.get("/api/v1/events/lms/evt 1").json()

    assert (body["id"], body["learner"], body["type"], body["evaluated_at"], body["decisions"]) == (
        "lms/evt 1",
        "sam",
        "module_started",
        None,
        [],
    )
    assert body["received_at"]


def test_an_evaluated_event_lists_the_decisions_it_caused_with_their_playbook(sender):
    client, learner = sender
    _send(client, "evt-1", type="module_completed", module="welcome", properties={"duration_seconds": 10})
    learner_evaluate_pending(learner_id=learner.pk)

    body = client.get("/api/v1/events/evt-1").json()

    assert body["evaluated_at"] is not None
    decisions = [(d["kind"], d["playbook"], d["event"], d["module"]) for d in body["decisions"]]
    assert decisions == [
        ("trigger", "support-specialist", "evt-1", ""),
        ("action", "support-specialist", "evt-1", "crm-basics"),
        ("next_module", "support-specialist", "evt-1", "remedial-demo"),
    ]
    assert body["decisions"][0]["rule"] == "trigger 'remedial demo': " + (
        'event.type == "module_completed" and event.properties.duration_seconds < 30'
    )


def test_another_keys_event_is_not_found(sender):
    client, _learner = sender
    _send(client, "evt-1", type="module_started", module="welcome")
    other, _ = api_key("events:write")

    response = client.get("/api/v1/events/evt-1", HTTP_AUTHORIZATION=f"Api-Key {other}")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "This key sent no event with id 'evt-1'.", "field": None}


def test_reading_events_needs_a_sender_key(client, sender):
    reader, _ = api_key("learners:read")

    assert client.get("/api/v1/events/evt-1", HTTP_AUTHORIZATION=f"Api-Key {reader}").status_code == 403
    assert client.get("/api/v1/events/evt-1", HTTP_AUTHORIZATION="").status_code == 401
