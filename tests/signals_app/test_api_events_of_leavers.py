"""Events of learners who have left never make a batch fail: they are stored (nothing is lost, they can be looked
up), counted as ``not_evaluated`` and never evaluated, while the batch's other events are evaluated as usual."""

from datetime import UTC, datetime, timedelta

import pytest

from identity.services import learner_deactivate
from playbooks.models import Enrollment
from playbooks.services import learner_enroll, playbook_import
from signals_app.models import Decision, Event
from signals_app.selectors import learners_with_stale_events
from signals_app.services import learners_evaluate_pending
from tests.factories import api_key
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def alice_and_leaver_bob(learner, other_learner):
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    learner_enroll(learner=learner, now=T0)
    learner_enroll(learner=other_learner, now=T0)
    learner_deactivate(learner=other_learner)
    return learner, other_learner


@pytest.fixture
def key():
    return api_key("events:write")[0]


def _event(n: int, learner: str, kind: str = "module_completed", module: str = "welcome") -> dict:
    moment = T0 + timedelta(minutes=n)
    return {"id": f"evt-{n}", "learner": learner, "type": kind, "module": module, "occurred_at": moment.isoformat()}


def _post(client, key, events):
    return client.post(URL, {"events": events}, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}")


def test_a_leavers_events_are_stored_counted_and_not_evaluated_the_others_are(client, key, alice_and_leaver_bob):
    alice, bob = alice_and_leaver_bob
    batch = [_event(1, "alice"), _event(2, "bob"), _event(3, "bob", "module_skipped", "product-tour")]

    response = _post(client, key, batch)

    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0, "conflicts": [], "not_evaluated": 2, "warnings": []}
    stored = dict(Event.objects.values_list("client_id", "learner__external_id"))
    assert stored == {"evt-1": "alice", "evt-2": "bob", "evt-3": "bob"}
    assert learners_with_stale_events(older_than=T0.replace(year=2100), limit=10) == [alice.pk]  # bob's wait for none

    evaluated = learners_evaluate_pending(learner_ids=[alice.pk, bob.pk])  # what the worker runs

    assert (evaluated.processed, evaluated.busy) == (1, [])
    assert Decision.objects.filter(learner=alice).exists()
    assert not Decision.objects.filter(learner=bob).exists()
    assert Enrollment.objects.get(learner=bob).steps_done == 0
    assert Enrollment.objects.get(learner=alice).steps_done == 1


def test_a_leavers_event_can_be_looked_up_and_caused_nothing(client, key, alice_and_leaver_bob):
    _post(client, key, [_event(2, "bob")])

    detail = client.get(f"{URL}/evt-2", HTTP_AUTHORIZATION=f"Api-Key {key}").json()

    assert (detail["learner"], detail["decisions"]) == ("bob", [])
    assert detail["evaluated_at"] is not None  # set aside at once: it never waits for a worker


def test_a_retried_leavers_event_is_a_duplicate_not_counted_again(client, key, alice_and_leaver_bob):
    _post(client, key, [_event(2, "bob")])

    response = _post(client, key, [_event(2, "bob"), _event(4, "bob")])

    assert response.json() == {"accepted": 1, "duplicates": 1, "conflicts": [], "not_evaluated": 1, "warnings": []}


def test_an_unknown_learner_still_refuses_the_batch_whole(client, key, alice_and_leaver_bob):
    response = _post(client, key, [_event(1, "alice"), _event(2, "bob"), _event(3, "nobody")])

    assert response.status_code == 400
    assert [(e["index"], e["code"]) for e in response.json()["errors"]] == [(2, "unknown_learner")]
    assert not Event.objects.exists()
