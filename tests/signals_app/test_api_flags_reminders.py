"""A service with learners:read reads a learner's flags and reminders as it reads their decisions; a learner reads
their own reminders; an unknown learner's 404 says who was not found."""

from datetime import UTC, datetime, timedelta

import pytest

from delivery.services import messages_deliver_due
from identity.services import learner_create, learner_token_create, role_upsert
from playbooks.services import learners_reroute, playbook_import
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.factories import LearnerFactory, api_key

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # 10:00 in Berlin: no quiet hours
PLAYBOOK = """
slug: nudges
name: Nudges
audience: {roles: [newcomer]}
modules: [{slug: intro, title: Intro}, {slug: next, title: Next}, {slug: last, title: Last}]
steps: [{module: intro}, {module: next}, {module: last}]
triggers:
  - {name: skipped, when: skips >= 1, then: [{remind: {channel: email, template: drop_off, delay: 2h}}]}
  - {name: skipper, when: skips >= 1, then: [{flag: skipped_one}]}
"""


@pytest.fixture
def ada():
    """Ada skipped the intro: a flag, and an e-mail reminder about the next module, sent two hours later."""
    playbook_import(text=PLAYBOOK, publish=True)
    newcomer = role_upsert(slug="newcomer", name="Newcomer")
    ada = learner_create(external_id="ada", email="ada@example.com", timezone="Europe/Berlin", roles=[newcomer])
    learners_reroute(learner_ids=[ada.pk], now=T0 - timedelta(hours=1))
    for number, module in enumerate(["intro"], start=1):
        at = T0 + timedelta(minutes=number)
        body = {"id": f"s{number}", "learner": "ada", "type": "module_skipped", "module": module}
        events_ingest(body={**body, "occurred_at": at.isoformat()}, source="key:1", now=at)
        learner_evaluate_pending(learner_id=ada.pk, now=at)
    messages_deliver_due(now=T0 + timedelta(hours=3))
    return ada


def _service(client, path: str):
    key, _ = api_key("learners:read")
    return client.get(f"/api/v1/learners/{path}", HTTP_AUTHORIZATION=f"Api-Key {key}")


def test_a_service_reads_a_learners_flags(client, ada):
    body = _service(client, "ada/flags").json()

    [flag] = body["results"]
    assert (flag["name"], flag["playbook"], flag["acknowledged_at"]) == ("skipped_one", "nudges", None)
    assert flag["rule"] == "trigger 'skipper': skips >= 1" and "skips" in flag["explanation"]


def test_a_service_and_the_learner_read_the_reminders_with_their_delivery(client, ada):
    [reminder] = _service(client, "ada/reminders").json()["results"]
    assert (reminder["playbook"], reminder["channel"], reminder["module"]) == (
        "nudges",
        "email",
        "next",
    )  # the module she was on then
    assert reminder["due_at"].startswith("2026-03-02T11:01")
    assert (reminder["planned"], reminder["delivery"], reminder["delivered_by"]) == ("scheduled", "sent", "email")

    token = learner_token_create(learner=ada, name="t").key
    mine = client.get("/api/v1/me/reminders", HTTP_AUTHORIZATION=f"Token {token}").json()["results"]
    assert mine == [reminder]


def test_another_learner_sees_none_of_them(client, ada):
    token = learner_token_create(learner=LearnerFactory(), name="t").key
    assert client.get("/api/v1/me/reminders", HTTP_AUTHORIZATION=f"Token {token}").json()["results"] == []
    assert client.get("/api/v1/learners/ada/flags", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401


@pytest.mark.parametrize("what", ["flags", "reminders", "next-module"])
def test_an_unknown_learner_is_named_in_the_404(client, what):
    response = _service(client, f"nobody/{what}")

    assert response.status_code == 404
    assert response.json()["message"] == "No learner 'nobody'."
