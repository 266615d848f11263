"""Every admin page of the onboarding apps fits a 1,280 px wide window, in Chromium: each change list, add and change
page (with realistic data: a grown draft, branch options, triggers that wait) and our own pages (import, simulate,
cohort, compliance, diff, dashboards, experiment results, identity previews) scroll vertically only."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from tests.browser.admin_site_data import site_load
from tests.browser.conftest import browser  # noqa: F401  (Debian's Chromium, as the browser tests use it)
from tests.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH = 1280
APPS = ("playbooks", "signals_app", "delivery", "identity", "scim", "insights")
# The page's width, and what sticks out past the window's right edge (the innermost such elements), to name the
# culprit in the failure.
MEASURE = """width => {
  const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > width + 1);
  const innermost = wide.filter(e => !wide.some(other => other !== e && e.contains(other)));
  const classes = e => typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '';
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + classes(e);
  return [document.documentElement.scrollWidth,
          innermost.slice(0, 4).map(e => name(e) + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')];
}"""


def _model_pages(user) -> list[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    pages = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in APPS:
            continue
        info = model._meta.app_label, model._meta.model_name
        pages.append(reverse("admin:{}_{}_changelist".format(*info)))
        if model_admin.has_add_permission(request):
            pages.append(reverse("admin:{}_{}_add".format(*info)))
        first = model_admin.get_queryset(request).order_by("pk").first()
        if first is not None:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    return pages


def _own_pages(data: dict) -> list[str]:
    published, draft = data["published"], data["draft"]
    playbook = published.playbook
    return [
        "/admin/",
        reverse("admin:playbooks_playbookversion_change", args=[draft.pk]),
        reverse("admin:playbooks_playbookversion_change", args=[published.pk]),
        reverse("admin:playbooks_playbook_import"),
        reverse("admin:playbooks_playbook_compliance", args=[playbook.pk]),
        reverse("admin:playbooks_playbookversion_diff", args=[published.pk, draft.pk]),
        reverse("admin:playbooks_playbookversion_simulate", args=[draft.pk]),
        reverse("admin:playbooks_playbookversion_cohort", args=[draft.pk]),
        reverse("admin:signals_app_cohortrun_change", args=[data["run"].pk]),
        reverse("admin:insights_dashboard", args=[playbook.pk]),
        reverse("admin:insights_learners", args=[playbook.pk]) + "?figure=completed",
        reverse("admin:insights_experiment_results", args=[data["experiment"].pk]),
        reverse("admin:identity_identitysource_upload", args=[data["source"].pk]),
        reverse("admin:identity_identitysource_preview", args=[data["source"].pk]),
        reverse("admin:playbooks_playbookversion_history", args=[draft.pk]),
    ]


def test_every_admin_page_fits_a_1280_pixel_window(live_server, browser):  # noqa: F811
    data = site_load()
    user = UserFactory(username="ada", is_staff=True, is_superuser=True)
    page = browser.new_page(viewport={"width": WIDTH, "height": 800})
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()

    paths = list(dict.fromkeys(_own_pages(data) + _model_pages(user)))
    too_wide, failed = [], []
    for path in paths:
        response = page.goto(f"{live_server.url}{path}")
        if response.status != 200:
            failed.append(f"{path}: {response.status}")
            continue
        width, culprits = page.evaluate(MEASURE, WIDTH)
        if width > WIDTH:
            too_wide.append(f"{path}: {width} px ({', '.join(culprits)})")

    # The draft's page again with errors in it: a condition's caret and a branch option's message fit too.
    page.goto(f"{live_server.url}{paths[1]}")
    page.locator("#triggers-0").get_by_label("When:").fill(
        'event.type == "module_completed" and avg_module_seconds < 30 and skips >= 3 and ' * 3 + "skip_streek >= 3"
    )
    page.locator("#steps-4").get_by_label("When").first.fill("avg_module_secnds < 90 and skips >= 3")
    page.get_by_role("button", name="Save and continue editing").click()
    page.wait_for_load_state()
    assert page.locator("#triggers-0 .errorlist pre").count() == 1
    assert "branch[0].when: unknown name" in page.inner_text("#steps-4 .errorlist")
    width, culprits = page.evaluate(MEASURE, WIDTH)
    if width > WIDTH:
        too_wide.append(f"the draft with errors: {width} px ({', '.join(culprits)})")

    assert len(paths) > 60
    assert failed == [], "\n".join(failed)
    assert too_wide == [], "\n".join(too_wide)
