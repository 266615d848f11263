"""The learner page of a learner in two playbooks: the highest priority's module first, the other playbook under
it with its own next module, progress and buttons; server-rendered, no inline style or script."""

from datetime import timedelta

import pytest
from django.urls import reverse

from playbooks.models import Enrollment
from playbooks.services import learners_reroute
from signals_app.models import Event
from signals_app.services import learner_evaluate_pending
from tests.playbooks.test_services_reroute import T0, publish

pytestmark = pytest.mark.django_db

HOME = "/learn/"


@pytest.fixture
def alice(client, learner):
    """Alice (a support specialist) in two playbooks: basics, then compliance (priority 10) a day later."""
    publish("basics", "support_specialist")
    learners_reroute(learner_ids=[learner.pk], now=T0)
    publish("compliance", "support_specialist", extra="priority: 10\n")
    learners_reroute(learner_ids=[learner.pk], now=T0 + timedelta(days=1))
    client.force_login(learner.user)
    return learner


def test_the_page_shows_both_playbooks_the_highest_priority_first(client, alice):
    page = client.get(HOME).content.decode()

    assert "Next: Compliance one" in page and "In Compliance playbook" in page
    assert "Your other playbooks" in page
    other = page[page.index("Your other playbooks") :]
    assert "Basics playbook" in other and "Next: <strong>Basics one</strong>" in other
    assert "0 of 2 steps done" in other
    assert page.index("Next: Compliance one") < page.index("Basics playbook")
    assert "style=" not in page and "<script" not in page  # the CSP allows neither inline


def test_each_playbooks_buttons_post_their_own_event(client, alice):
    page = client.get(HOME).content.decode()
    first_id, other_id = [chunk.split('"')[0] for chunk in page.split('name="event_id" value="')[1:]]
    assert first_id != other_id

    client.post(reverse("learner-module-action"), {"action": "complete", "module": "basics-1", "event_id": other_id})
    client.post(reverse("learner-module-action"), {"action": "skip", "module": "compliance-1", "event_id": first_id})
    learner_evaluate_pending(learner_id=alice.pk)

    assert sorted(Event.objects.values_list("client_id", "module")) == sorted(
        [(other_id, "basics-1"), (first_id, "compliance-1")]
    )
    assert Enrollment.objects.get(learner=alice, playbook__slug="basics").current_module.slug == "basics-2"
    page = client.get(HOME).content.decode()
    assert "Next: Compliance two" in page and "Next: <strong>Basics two</strong>" in page


def test_a_learner_in_one_playbook_sees_no_other_playbooks_section(client, learner):
    publish("basics", "support_specialist")
    learners_reroute(learner_ids=[learner.pk], now=T0)
    client.force_login(learner.user)

    page = client.get(HOME).content.decode()

    assert "Next: Basics one" in page and "Your other playbooks" not in page and "In Basics playbook" not in page
