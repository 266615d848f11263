"""The pages work under the Content-Security-Policy, in Chromium: no inline script or style is refused on the learner
page, the sign-in and lockout pages, the admin (our Simulate, cohort and diff pages, django-celery-beat's and
simple-history's pages among Django's own) and the Swagger UI, which still renders the API."""

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from playbooks.services import draft_create, playbook_import
from signals_app.models import CohortRun
from tests.browser.conftest import browser  # noqa: F401  (Debian's Chromium, as the browser tests use it)
from tests.conftest import PASSWORD
from tests.factories import LearnerFactory, UserFactory
from tests.playbooks.engine.replay import SCENARIOS
from tests.signals_app.cohort_runs import cohort_run_here

pytestmark = pytest.mark.django_db(transaction=True)

JOURNEY = (SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml").read_text()
COHORT = """
seed: 2
learner: {external_id: c, roles: [support_specialist], attributes: {api_access: true}}
start: '2026-03-02T09:00:00Z'
events:
  - {at: 0m, type: module_completed, module: welcome, properties: {duration_seconds: {between: [20, 200]}}}
until: 1d
"""


class Violations:
    """Every CSP refusal Chromium reports on a page: the console message and the DOM event, with where it was."""

    def __init__(self, page) -> None:
        self.found: list[str] = []
        page.on("console", self._console)
        page.expose_function("reportViolation", lambda text: self.found.append(text))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => window.reportViolation("
            "e.violatedDirective + ' ' + e.blockedURI + ' at ' + document.location.pathname))"
        )
        self.page = page

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.found.append(f"{message.text} at {self.page.url}")


def _sign_in(page, url: str, username: str, button: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


@pytest.fixture
def site_data():
    published = playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    version = published.version
    draft = draft_create(playbook=version.playbook)
    done = CohortRun.objects.create(version=draft, against=version, template=COHORT, learners=20, total=40)
    cohort_run_here(run_id=done.pk)
    queued = CohortRun.objects.create(version=draft, template=COHORT, learners=20, total=20)
    every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    task = PeriodicTask.objects.create(name="csp check", task="onboarding.noop", interval=every_minute)
    return {"version": version, "draft": draft, "done": done, "queued": queued, "task": task}


def test_the_admin_pages_run_without_a_csp_refusal(live_server, browser, site_data):  # noqa: F811
    UserFactory(username="ada", is_staff=True, is_superuser=True)
    page = browser.new_page()
    violations = Violations(page)
    _sign_in(page, f"{live_server.url}/admin/login/", "ada", "Log in")
    version, draft = site_data["version"], site_data["draft"]
    paths = [
        "/admin/",
        "/admin/playbooks/playbook/",
        "/admin/playbooks/playbookversion/",
        f"/admin/playbooks/playbookversion/{draft.pk}/change/",
        f"/admin/playbooks/playbookversion/{version.pk}/diff/{draft.pk}/",
        f"/admin/playbooks/playbookversion/{draft.pk}/cohort/",
        f"/admin/playbooks/playbook/{version.playbook.pk}/history/",
        f"/admin/signals_app/cohortrun/{site_data['done'].pk}/change/",
        f"/admin/signals_app/cohortrun/{site_data['queued'].pk}/change/",
        "/admin/signals_app/event/",
        "/admin/django_celery_beat/periodictask/",
        f"/admin/django_celery_beat/periodictask/{site_data['task'].pk}/change/",
        "/admin/axes/accessattempt/",
        "/admin/identity/learner/add/",
    ]
    for path in paths:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
    assert page.is_hidden(".field-crontab_translation")  # django-celery-beat's script ran, under its nonce

    page.goto(f"{live_server.url}/admin/playbooks/playbookversion/{draft.pk}/simulate/")
    page.get_by_label("Journey").fill(JOURNEY)
    page.get_by_role("button", name="Simulate").click()
    page.get_by_role("heading", name="All 4 expectation(s) passed").wait_for(timeout=20_000)
    assert page.locator("strong.outcome-pass").count() == 4

    assert violations.found == []


def test_the_learner_pages_and_the_api_docs_run_without_a_csp_refusal(live_server, browser, site_data):  # noqa: F811
    LearnerFactory(
        external_id="alice", display_name="Alice", user=UserFactory(username="alice"), roles=["support_specialist"]
    )
    page = browser.new_page()
    violations = Violations(page)

    _sign_in(page, f"{live_server.url}/accounts/login/", "alice", "Sign in")
    page.get_by_role("heading", name="Hello, Alice").wait_for(timeout=10_000)
    assert page.eval_on_selector("body", "body => getComputedStyle(body).maxWidth") != "none"  # the stylesheet
    page.get_by_label("Name for a new token").fill("my app")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_load_state()

    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".swagger-ui .info .title").wait_for(timeout=20_000)
    assert "Onboarding platform API" in page.inner_text(".swagger-ui .info .title")
    page.locator(".opblock").first.wait_for()

    for _ in range(5):  # the lockout page
        _sign_in(page, f"{live_server.url}/accounts/login/", "nobody", "Sign in")
    assert "Too many failed sign-ins" in page.inner_text("h1")

    assert violations.found == []
