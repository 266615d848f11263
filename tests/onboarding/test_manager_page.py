"""A manager, named by their reports' ``manager`` attribute (by external id or e-mail, as directories give it), sees
on /learn/team where each report stands in each playbook and their open flags; nobody else's."""

from datetime import timedelta

import pytest

from identity.managers import Manager, manager_of
from playbooks.services import learners_reroute, playbook_import
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.factories import LearnerFactory, UserFactory
from tests.playbooks.test_services_reroute import T0

pytestmark = pytest.mark.django_db

TEAM = "/learn/team"
PLAYBOOK = """
slug: basics
name: Support basics
audience: {roles: [support_specialist]}
modules: [{slug: intro, title: Intro}, {slug: tools, title: Tools}]
steps: [{module: intro}, {module: tools}]
triggers:
  - {name: skipper, when: skips >= 1, then: [{flag: repeated_skips}]}
"""


@pytest.fixture
def team():
    """Mia manages Ada (by external id) and Bo (by e-mail, in another case); Cy has another manager; Dee left."""
    mia = LearnerFactory(external_id="mia", email="mia@example.com", user=UserFactory(username="mia"))
    ada = LearnerFactory(
        external_id="ada", display_name="Ada", attributes={"manager": "mia"}, roles=["support_specialist"]
    )
    bo = LearnerFactory(external_id="bo", display_name="Bo", attributes={"manager": "MIA@example.com"})
    LearnerFactory(external_id="cy", display_name="Cy", attributes={"manager": "someone-else"})
    LearnerFactory(external_id="dee", display_name="Dee", attributes={"manager": "mia"}, is_active=False)
    playbook_import(text=PLAYBOOK, publish=True)
    learners_reroute(learner_ids=[ada.pk], now=T0)
    skipped = T0 + timedelta(minutes=5)
    body = {
        "id": "s1",
        "learner": "ada",
        "type": "module_skipped",
        "module": "intro",
        "occurred_at": skipped.isoformat(),
    }
    events_ingest(body=body, source="key:1", now=skipped)
    learner_evaluate_pending(learner_id=ada.pk, now=skipped)
    return mia, ada, bo


def test_the_team_page_shows_each_report_their_progress_and_open_flags(client, team, django_assert_max_num_queries):
    mia, _ada, _bo = team
    client.force_login(mia.user)

    with django_assert_max_num_queries(12):  # session, user, learner, reports, enrolments, flags: not per report
        page = client.get(TEAM).content.decode()

    assert "2 people" in page
    ada_row = page[page.index(">Ada<") : page.index(">Bo<")]
    assert "Support basics" in ada_row and "1 of 2 steps" in ada_row and "Tools" in ada_row
    assert "repeated_skips" in ada_row
    assert "Not in any playbook" in page[page.index(">Bo<") :]
    assert ">Cy<" not in page and ">Dee<" not in page
    assert "style=" not in page and "<script" not in page


def test_the_home_page_links_a_manager_to_their_team_and_no_one_else(client, team, learner):
    mia, _ada, _bo = team
    client.force_login(mia.user)
    assert "Your team (2)" in client.get("/learn/").content.decode()

    client.force_login(learner.user)
    assert "Your team" not in client.get("/learn/").content.decode()
    assert "Nobody in the directory names you as their manager." in client.get(TEAM).content.decode()


def test_a_managers_name_resolves_to_a_learner_or_an_address():
    mia = LearnerFactory(external_id="mia", email="mia@example.com")

    assert manager_of(learner=LearnerFactory(attributes={"manager": "mia"})) == Manager("mia@example.com", mia)
    assert manager_of(learner=LearnerFactory(attributes={"manager": "Mia@Example.com"})) == Manager(
        "mia@example.com", mia
    )
    outside = LearnerFactory(attributes={"manager": "boss@partner.example"})
    assert manager_of(learner=outside) == Manager("boss@partner.example")
    assert manager_of(learner=LearnerFactory(attributes={"manager": "not an address"})) is None
    assert manager_of(learner=LearnerFactory(attributes={})) is None


def test_the_team_page_needs_a_login(client):
    response = client.get(TEAM)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
