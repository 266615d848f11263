"""An admin tries a playbook before publishing it, in Chromium: a journey on the Simulate page, then a cohort that
a real worker runs while the page shows its progress, ending in the table and the charts."""

import pytest

from playbooks.services import draft_create, playbook_import
from signals_app.models import Event
from tests.factories import UserFactory
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db(transaction=True)

JOURNEY = (SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml").read_text()
COHORT = """
seed: 2
learner: {external_id: c, roles: [support_specialist], attributes: {api_access: true}}
start: '2026-03-02T09:00:00Z'
events:
  - {at: 0m, type: module_completed, module: welcome, properties: {duration_seconds: {between: [20, 200]}}}
  - {at: 10m, type: module_skipped, module: crm-basics, probability: 0.5}
until: 1d
"""


def test_an_admin_simulates_a_journey_and_a_cohort_in_the_browser(live_server, browser, celery_worker_process):
    published = playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    draft = draft_create(playbook=published.version.playbook)
    UserFactory(username="ada", is_staff=True, is_superuser=True)
    page = browser.new_page()
    page.goto(f"{live_server.url}/admin/playbooks/playbookversion/{draft.pk}/change/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="Simulate a journey").click()
    page.get_by_label("Journey").fill(JOURNEY)
    page.get_by_role("button", name="Simulate").click()

    page.get_by_role("heading", name="All 4 expectation(s) passed").wait_for(timeout=20_000)
    timeline = page.inner_text("#timeline")
    assert "flag raised: supervisor_review" in timeline
    assert "branch specialist-track chose advanced-debugging" in timeline

    page.goto(f"{live_server.url}/admin/playbooks/playbookversion/{draft.pk}/cohort/")
    page.get_by_label("Template").fill(COHORT)
    page.locator("#id_learners").fill("8")
    page.get_by_role("button", name="Run the cohort").click()

    # The worker runs it; the page refreshes itself until the report is there.
    page.get_by_role("heading", name="Cohort of 8 synthetic learners: v2 (draft) against v1 (published)").wait_for(
        timeout=60_000
    )
    assert "completed the path" in page.inner_text("#cohort-table")
    assert page.locator("figure.cohort-chart svg rect").count() >= 2
    assert not Event.objects.exists()
