"""The simulator in the admin: the Simulate page, saving a journey as a draft's test, the saved journeys' results on
the version page, and a cohort run with its table and charts."""

import pytest
import yaml
from django.urls import reverse

from playbooks.services import draft_create, playbook_import
from signals_app.models import CohortRun, Decision, Event
from tests.playbooks.engine.replay import SCENARIOS
from tests.signals_app.cohort_runs import cohort_run_here

pytestmark = pytest.mark.django_db

FAST_SKIPPER = (SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml").read_text()


@pytest.fixture
def published():
    return playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True).version


def _simulate_url(version) -> str:
    return reverse("admin:playbooks_playbookversion_simulate", args=[version.pk])


def test_the_version_page_links_to_the_simulator(admin_client, published):
    page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[published.pk])).content.decode()

    assert _simulate_url(published) in page
    assert reverse("admin:playbooks_playbookversion_cohort", args=[published.pk]) in page


def test_an_admin_pastes_a_journey_and_sees_the_timeline_and_results(admin_client, published):
    response = admin_client.post(_simulate_url(published), {"journey": FAST_SKIPPER})

    page = response.content.decode()
    assert response.status_code == 200
    assert "All 4 expectation(s) passed" in page
    assert "flag raised: <strong>supervisor_review</strong>" in page
    assert "branch specialist-track chose <strong>advanced-debugging</strong>" in page
    assert not Event.objects.exists() and not Decision.objects.exists()


def test_a_journey_that_cannot_run_is_shown_with_its_paths(admin_client, published):
    broken = FAST_SKIPPER.replace("module: crm-basics", "module: crm-basic")

    page = admin_client.post(_simulate_url(published), {"journey": broken}).content.decode()

    assert "The journey cannot run" in page
    assert "<code>events[2].module</code>: unknown module &#x27;crm-basic&#x27;" in page


def test_a_paste_that_is_not_a_journey_says_so(admin_client, published):
    page = admin_client.post(_simulate_url(published), {"journey": "- just\n- a list\n"}).content.decode()

    assert "<code>journey</code>: expected a journey (a YAML mapping)" in page


def test_a_journey_is_saved_as_a_drafts_test_and_its_result_shows_on_the_version(admin_client, published):
    draft = draft_create(playbook=published.playbook)

    admin_client.post(_simulate_url(draft), {"journey": FAST_SKIPPER, "save_as": "fast skipper"})

    draft.refresh_from_db()
    assert [test["name"] for test in draft.tests] == ["fast skipper"]
    assert "playbook" not in draft.tests[0]["journey"]
    page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[draft.pk])).content.decode()
    assert "<strong>PASS</strong> fast skipper" in page


def test_a_published_version_gets_no_new_tests(admin_client, published):
    page = admin_client.post(_simulate_url(published), {"journey": FAST_SKIPPER, "save_as": "x"}).content.decode()

    assert "only a draft&#x27;s tests can change" in page
    published.refresh_from_db()
    assert published.tests == []


def test_staff_without_permission_cannot_simulate(client, staff_without_permission, published):
    client.force_login(staff_without_permission)

    assert client.get(_simulate_url(published)).status_code == 403


COHORT = """
seed: 5
learner: {external_id: c, roles: [support_specialist], attributes: {api_access: true}}
start: '2026-03-02T09:00:00Z'
events:
  - {at: 0m, type: module_completed, module: welcome, properties: {duration_seconds: {between: [20, 200]}}}
  - {at: 10m, type: module_completed, module: crm-basics, properties: {duration_seconds: {between: [40, 200]}}}
  - {at: 20m, type: module_skipped, module: ticketing-101}
  - {at: 30m, type: module_completed, module: product-tour, properties: {duration_seconds: {between: [40, 200]}}}
until: 1d
"""


def test_a_cohort_run_compares_the_draft_with_the_published_version_in_a_table_and_charts(
    admin_client, published, django_capture_on_commit_callbacks
):
    draft = draft_create(playbook=published.playbook)
    url = reverse("admin:playbooks_playbookversion_cohort", args=[draft.pk])
    assert "module_completed" in admin_client.get(url).content.decode()  # a template to start from

    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.post(url, {"template": COHORT, "learners": 12, "against": published.pk})

    run = CohortRun.objects.get()
    assert response.status_code == 302 and len(queued) == 1  # handed to a worker once committed
    assert (run.status, run.total, run.against) == ("queued", 24, published)
    waiting = admin_client.get(reverse("admin:signals_app_cohortrun_change", args=[run.pk])).content.decode()
    assert 'http-equiv="refresh"' in waiting and "0 of 24 learner runs" in waiting

    cohort_run_here(run_id=run.pk)

    page = admin_client.get(reverse("admin:signals_app_cohortrun_change", args=[run.pk])).content.decode()
    assert "Cohort of 12 synthetic learners: v2 (draft) against v1 (published)" in page
    assert "branch &#x27;specialist-track&#x27;" in page
    assert page.count("<svg") >= 2 and "<rect" in page
    assert not Event.objects.exists()


def test_a_bad_cohort_template_is_refused_before_anything_is_queued(admin_client, published):
    url = reverse("admin:playbooks_playbookversion_cohort", args=[published.pk])

    page = admin_client.post(url, {"template": yaml.safe_dump({"events": "x"}), "learners": 3}).content.decode()

    assert "The cohort cannot run" in page
    assert not CohortRun.objects.exists()


def test_a_cohort_runs_template_keeps_its_indentation_on_the_run_page(admin_client, published):
    template = "seed: 2\nevents:\n  - at: 0m\n    type: module_completed\n    properties:\n      duration_seconds: 20\n"
    run = CohortRun.objects.create(version=published, template=template, learners=1, total=1)

    page = admin_client.get(reverse("admin:signals_app_cohortrun_change", args=[run.pk])).content.decode()

    assert "<pre>seed: 2\nevents:\n  - at: 0m\n    type: module_completed\n    properties:\n" in page
