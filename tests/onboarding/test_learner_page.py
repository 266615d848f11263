"""The learner page through Django's test client (the browser test drives it in Chromium)."""

import pytest
from django.urls import reverse

from identity.models import LearnerToken
from identity.services import learner_token_create
from playbooks.services import learner_enroll, playbook_import
from signals_app.models import Event
from signals_app.services import learner_evaluate_pending
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

HOME = "/learn/"


@pytest.fixture
def alice(client, learner):
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    learner_enroll(learner=learner)
    client.force_login(learner.user)
    return learner


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(HOME)

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_page_shows_the_next_module_and_why(client, alice):
    page = client.get(HOME).content.decode()

    assert "Next: Welcome to Support" in page
    assert "Step 1 of 6 of the playbook." in page
    assert "0 of 6 steps done" in page


def test_completing_posts_one_event_even_if_submitted_twice(client, alice):
    client.get(HOME)  # the page shows the module: time on task runs from here
    form = {"action": "complete", "module": "welcome", "event_id": "page-1"}

    client.post(reverse("learner-module-action"), form)
    client.post(reverse("learner-module-action"), form)

    event = Event.objects.get()
    assert (event.type, event.module, event.source) == ("module_completed", "welcome", f"web:{alice.pk}")
    assert event.properties["duration_seconds"] >= 0
    learner_evaluate_pending(learner_id=alice.pk)
    # Completed within seconds of the page showing it: the playbook's remedial demo comes first.
    assert "Next: Guided demo" in client.get(HOME).content.decode()


def test_the_page_waits_for_evaluation_without_javascript(client, alice):
    client.post(reverse("learner-module-action"), {"action": "skip", "module": "welcome", "event_id": "page-2"})

    page = client.get(HOME).content.decode()

    assert '<meta http-equiv="refresh" content="1">' in page and "Updating your next step" in page


def test_a_learner_issues_and_revokes_their_own_tokens(client, alice, other_learner):
    response = client.post(reverse("learner-token-issue"), {"name": "phone"}, follow=True)
    token = LearnerToken.objects.get(learner=alice)
    assert "Your new token is onl_" in response.content.decode()
    others = learner_token_create(learner=other_learner, name="bob's").token

    assert client.post(reverse("learner-token-revoke", args=[others.pk])).status_code == 404
    client.post(reverse("learner-token-revoke", args=[token.pk]))

    token.refresh_from_db(), others.refresh_from_db()
    assert token.revoked_at is not None and others.revoked_at is None


def test_a_login_without_a_learner_gets_404(client, staff_without_permission):
    client.force_login(staff_without_permission)

    assert client.get(HOME).status_code == 404


@pytest.mark.parametrize("started_at", ["0", "-1e308", "nan", "1e400", "9999999999"])
def test_the_time_on_task_is_measured_by_the_server_whatever_the_client_says(client, alice, started_at):
    client.get(HOME)
    form = {"action": "complete", "module": "welcome", "event_id": "page-2", "started_at": started_at}

    response = client.post(reverse("learner-module-action"), form)

    assert response.status_code == 302
    assert 0 <= Event.objects.get().properties["duration_seconds"] < 60


def test_completing_a_module_the_page_never_showed_carries_no_time_on_task(client, alice):
    form = {"action": "complete", "module": "welcome", "event_id": "page-3"}

    client.post(reverse("learner-module-action"), form)

    assert Event.objects.get().properties == {}
