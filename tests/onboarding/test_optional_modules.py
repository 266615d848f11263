"""Optional modules: a module a playbook unlocks (``unlock_module``; the articles' "+ optional live Q&A") is listed
beside the next module by the API and the learner page until the learner completes or skips it, and the learner can
start it from the page."""

from datetime import timedelta

import pytest
from django.urls import reverse

from playbooks.services import learners_reroute, playbook_import
from signals_app.models import Event
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.factories import api_key
from tests.playbooks.test_services_reroute import T0

pytestmark = pytest.mark.django_db

HOME = "/learn/"
PLAYBOOK = """
slug: basics
name: Basics
audience: {roles: [support_specialist]}
modules:
  - {slug: intro, title: Intro}
  - {slug: tools, title: Tools}
  - {slug: live-qa, title: Live Q&A with a senior agent, kind: link, minutes: 30}
steps: [{module: intro}, {module: tools}]
triggers:
  - name: offer the Q&A
    when: completed_modules >= 1
    then: [{unlock_module: live-qa}]
"""


@pytest.fixture
def alice(client, learner):
    """Alice has completed the intro: the Q&A is unlocked for her."""
    playbook_import(text=PLAYBOOK, publish=True)
    learners_reroute(learner_ids=[learner.pk], now=T0)
    _event(learner, "e1", "module_completed", "intro", T0 + timedelta(minutes=5))
    client.force_login(learner.user)
    return learner


def _event(learner, event_id: str, kind: str, module: str, when) -> None:
    body = {"id": event_id, "learner": learner.external_id, "type": kind, "module": module, "occurred_at": when}
    events_ingest(body={**body, "occurred_at": when.isoformat()}, source="key:1", now=when)
    learner_evaluate_pending(learner_id=learner.pk, now=when)


def _api(client, key: str, what: str) -> dict:
    response = client.get(f"/api/v1/learners/alice/{what}", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 200
    return response.json()


def test_the_api_lists_an_unlocked_module_until_it_is_done(client, alice):
    key, _ = api_key("learners:read")

    answer = _api(client, key, "next-module")
    assert answer["module"]["slug"] == "tools"
    assert answer["optional"] == [
        {
            "playbook": "basics",
            "module": {"slug": "live-qa", "title": "Live Q&A with a senior agent", "kind": "link", "url": "",
                       "minutes": 30},
        }
    ]  # fmt: skip
    assert _api(client, key, "progress")["optional"] == ["live-qa"]

    _event(alice, "e2", "module_completed", "live-qa", T0 + timedelta(minutes=50))

    answer = _api(client, key, "next-module")
    assert (answer["module"]["slug"], answer["optional"]) == ("tools", [])
    progress = _api(client, key, "progress")
    assert progress["optional"] == [] and "live-qa" in progress["completed"]


def test_nothing_is_optional_before_the_trigger_unlocks_it(client, learner):
    playbook_import(text=PLAYBOOK, publish=True)
    learners_reroute(learner_ids=[learner.pk], now=T0)
    key, _ = api_key("learners:read")

    assert _api(client, key, "next-module")["optional"] == []


def test_the_learner_page_offers_it_and_starts_it(client, alice):
    page = client.get(HOME).content.decode()
    assert "Next: Tools" in page
    optional = page[page.index("Also open to you") :]
    assert "Live Q&amp;A with a senior agent" in optional and "about 30 minutes" in optional
    event_id = optional.split('name="event_id" value="')[1].split('"')[0]

    client.post(reverse("learner-module-action"), {"action": "start", "module": "live-qa", "event_id": event_id})

    event = Event.objects.get(client_id=event_id)
    assert (event.type, event.module) == ("module_started", "live-qa")

    client.post(reverse("learner-module-action"), {"action": "skip", "module": "live-qa", "event_id": "skip-qa"})
    learner_evaluate_pending(learner_id=alice.pk)
    assert "Also open to you" not in client.get(HOME).content.decode()
