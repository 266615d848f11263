"""An admin edits a draft's trigger actions and branch options through the structured editors, in Chromium at
1,280 × 800: choose the action, then its fields; the server still checks what is saved and names the field."""

import pytest
from django.urls import reverse

from playbooks.models import Playbook, Step, Trigger
from playbooks.services import draft_create, playbook_import
from tests.browser.conftest import browser  # noqa: F401  (Debian's Chromium, as the browser tests use it)
from tests.conftest import PASSWORD
from tests.factories import UserFactory
from tests.onboarding.test_csp_pages import Violations
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def draft_page(live_server, browser):  # noqa: F811
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    draft = draft_create(playbook=Playbook.objects.get())
    UserFactory(username="ada", is_staff=True, is_superuser=True)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    violations = Violations(page)
    url = f"{live_server.url}{reverse('admin:playbooks_playbookversion_change', args=[draft.pk])}"
    page.goto(url)
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    yield page, draft
    assert violations.found == []


def _save(page) -> None:
    page.get_by_role("button", name="Save and continue editing").click()
    page.wait_for_load_state()


def test_an_admin_edits_a_triggers_actions_field_by_field(draft_page):
    page, draft = draft_page
    trigger = page.locator("#triggers-0")
    assert trigger.locator("textarea[name='triggers-0-actions']").is_hidden()  # the editor stands in for the JSON
    assert trigger.get_by_label("Module").input_value() == "remedial-demo"

    trigger.get_by_role("button", name="Add an action").click()
    trigger.get_by_label("Action", exact=True).nth(1).select_option("remind")
    trigger.get_by_label("Channel", exact=True).select_option("email")
    trigger.get_by_label("Template").fill("drop_off")
    trigger.get_by_label("Delay (e.g. 2h)").fill("2h")
    trigger.get_by_role("button", name="Add an action").click()
    trigger.get_by_label("Action", exact=True).nth(2).select_option("flag")
    trigger.get_by_label("Flag name").fill("needs_help")
    _save(page)

    assert "was changed successfully" in page.inner_text(".messagelist")
    assert Trigger.objects.get(version=draft, position=0).actions == [
        {"insert_module": "remedial-demo"},
        {"remind": {"channel": "email", "template": "drop_off", "delay": "2h"}},
        {"flag": "needs_help"},
    ]

    # The server still judges: a flag that is not snake_case is refused, with the action's path, and the rows stay.
    page.locator("#triggers-0").get_by_label("Flag name").fill("Needs help")
    _save(page)

    errors = page.inner_text("#triggers-0 .errorlist")
    assert "actions[2].flag: a flag is a snake_case name" in errors
    assert page.locator("#triggers-0").get_by_label("Flag name").input_value() == "Needs help"
    assert Trigger.objects.get(version=draft, position=0).actions[2] == {"flag": "needs_help"}


def test_an_admin_edits_a_wait_and_its_nested_actions(draft_page):
    page, draft = draft_page
    trigger = page.locator("#triggers-1")
    trigger.get_by_label("Action", exact=True).first.select_option("wait")
    trigger.get_by_label("Event type").fill("module_started")
    trigger.get_by_label("Within (e.g. 5m)").fill("10m")
    trigger.locator("fieldset.editor-nested").nth(1).get_by_role("button", name="Add").click()
    trigger.locator("fieldset.editor-nested").nth(1).get_by_label("Action", exact=True).select_option("flag")
    trigger.get_by_label("Flag name").fill("supervisor_review")
    _save(page)

    assert Trigger.objects.get(version=draft, position=1).actions == [
        {"wait": {"event": "module_started", "within": "10m", "else": [{"flag": "supervisor_review"}]}}
    ]


def test_an_admin_edits_branch_options_in_the_step_row(draft_page):
    page, draft = draft_page
    row = page.locator("#steps-4")  # specialist-track
    assert row.get_by_label("When").first.input_value() == "avg_module_seconds < 90 and skips >= 3"

    row.get_by_label("When").first.fill("avg_module_seconds < 60 and skips >= 3")
    row.get_by_role("button", name="Remove").nth(2).click()  # the third option
    _save(page)

    options = Step.objects.get(version=draft, step_id="specialist-track").options.all()
    assert [(o.when, o.module.slug) for o in options] == [
        ("avg_module_seconds < 60 and skips >= 3", "advanced-debugging"),
        ("avg_module_seconds >= 90 and avg_module_seconds < 120 and skips <= 1", "standard-api-troubleshooting"),
        ("", "standard-api-troubleshooting"),
    ]


def test_a_trigger_added_on_the_page_gets_the_editor_too(draft_page):
    page, draft = draft_page
    page.get_by_role("button", name="Add another Trigger").click()
    trigger = page.locator("#triggers-2")
    trigger.get_by_label("Name:").fill("first skip")
    trigger.get_by_label("When:").fill('event.type == "module_skipped"')
    trigger.get_by_role("button", name="Add an action").click()
    trigger.get_by_label("Action", exact=True).select_option("unlock_module")
    trigger.get_by_label("Module").fill("remedial-demo")
    trigger.get_by_label("Position:").fill("2")
    _save(page)

    assert Trigger.objects.get(version=draft, name="first skip").actions == [{"unlock_module": "remedial-demo"}]
