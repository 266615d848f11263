"""The insights dashboard pages in the admin pass axe-core at 1,280 × 800 with no serious or critical violation:
the dashboard with every figure drawn, filtered, and the learner drill-down."""

import pytest
from django.urls import reverse

from tests.browser.axe import VIEWPORT, serious_violations
from tests.browser.conftest import browser  # noqa: F401  (Debian's Chromium, as the browser tests use it)
from tests.insights.test_browser_dashboard import _sign_in, cohort  # noqa: F401  (a fixture used by name)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_dashboard_pages_have_no_serious_accessibility_violations(live_server, browser, analyst, world, cohort):  # noqa: F811
    page = browser.new_page(viewport=VIEWPORT)
    dashboard = f"{live_server.url}{reverse('admin:insights_dashboard', args=[world.playbook.pk])}"
    learners = f"{live_server.url}{reverse('admin:insights_learners', args=[world.playbook.pk])}"

    _sign_in(page, dashboard)
    page.get_by_role("heading", name="Completion rate").wait_for()
    found = serious_violations(page)
    page.goto(f"{dashboard}?role=lead")
    found += serious_violations(page)
    page.goto(learners)
    page.wait_for_load_state()
    found += serious_violations(page)

    assert found == []
    page.close()
