"""An event whose type nothing reads or whose module is not in the library is stored, and the answer warns about
it with a likely correction: a connector's typo must not vanish silently."""

from datetime import timedelta

import pytest
from django.utils import timezone

from playbooks.services import playbook_import
from signals_app.models import Event
from tests.factories import api_key

pytestmark = pytest.mark.django_db

PLAYBOOK = """
slug: escalations
name: Escalations
audience: {roles: [support_specialist]}
modules: [{slug: triage-basics, title: Triage basics}]
steps: [{module: triage-basics}]
signals:
  escalations_7d: {event: ticket_escalated, aggregate: count, window: 7d}
triggers:
  - name: escalated
    when: escalations_7d >= 1
    then: [{wait: {event: escalation_resolved, within: 1d, then: [], else: [{flag: escalation_open}]}}]
"""


@pytest.fixture
def post(client, learner):
    playbook_import(text=PLAYBOOK, publish=True)
    key, _ = api_key("events:write")

    def send(*events: dict) -> dict:
        at = (timezone.now() - timedelta(minutes=5)).isoformat()
        body = {"events": [{"learner": "alice", "occurred_at": at, **event} for event in events]}
        response = client.post(
            "/api/v1/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}"
        )
        assert response.status_code == 202
        return response.json()

    return send


def test_a_misspelt_type_and_an_unknown_module_are_stored_with_a_warning(post):
    answer = post(
        {"id": "a", "type": "module_complete", "module": "triage-basics"},
        {"id": "b", "type": "module_completed", "module": "triage-basic"},
    )

    assert answer["accepted"] == 2
    assert answer["warnings"] == [
        {
            "index": 0,
            "field": "type",
            "code": "unknown_type",
            "message": "No standard type and no published playbook reads events of type 'module_complete'; "
            "did you mean 'module_completed'? It was stored.",
        },
        {
            "index": 1,
            "field": "module",
            "code": "unknown_module",
            "message": "No module 'triage-basic' in the content library; did you mean 'triage-basics'? It was stored.",
        },
    ]
    assert Event.objects.count() == 2


def test_standard_types_and_types_a_published_playbook_reads_pass_quietly(post):
    answer = post(
        {"id": "a", "type": "ticket_submitted"},
        {"id": "b", "type": "ticket_escalated"},
        {"id": "c", "type": "module_started", "module": "triage-basics"},
        {"id": "d", "type": "escalation_resolved"},  # what a wait waits for
    )

    assert (answer["accepted"], answer["warnings"]) == (4, [])


def test_a_batch_of_unknown_modules_costs_the_same_queries_as_one(client, learner, django_assert_max_num_queries):
    key, _ = api_key("events:write")
    at = (timezone.now() - timedelta(minutes=5)).isoformat()

    def send(count: int, prefix: str):
        events = [
            {"id": f"{prefix}{n}", "learner": "alice", "occurred_at": at, "type": "module_started", "module": f"m{n}"}
            for n in range(count)
        ]
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
        return client.post("/api/v1/events", {"events": events}, content_type="application/json", **headers)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        assert len(send(1, "a").json()["warnings"]) == 1
    with django_assert_max_num_queries(len(one)):
        assert len(send(50, "b").json()["warnings"]) == 50
