"""The learner page in Chromium at 1,280 × 800: the reason in plain words, the module's Markdown rendered, every
enrolment's next step, and no serious or critical accessibility violation (axe-core) on the learner's page, their
manager's team page or the sign-in page."""

import pytest

from identity.services import learner_create, role_upsert
from onboarding.demo import DEMO_PLAYBOOK
from playbooks.services import learner_enroll, playbook_import
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.browser.axe import VIEWPORT, serious_violations
from tests.conftest import PASSWORD
from tests.factories import UserFactory
from tests.onboarding.test_csp_pages import Violations

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alex():
    """Alex, who manages Sam, finished the demo's welcome module in 9 seconds: the guided demo comes first."""
    playbook_import(text=DEMO_PLAYBOOK.read_text(), publish=True)
    role = role_upsert(slug="support_specialist", name="Support specialist")
    alex = learner_create(
        external_id="demo-alex", display_name="Alex Rivera", user=UserFactory(username="alex"), roles=[role]
    )
    sam = learner_create(
        external_id="demo-sam", display_name="Sam Lee", roles=[role], attributes={"manager": "demo-alex"}
    )
    for learner in (alex, sam):
        learner_enroll(learner=learner)
    event = {
        "id": "quick-welcome",
        "learner": "demo-alex",
        "type": "module_completed",
        "module": "welcome",
        "occurred_at": "2026-03-02T09:01:00Z",
        "properties": {"duration_seconds": 9},
    }
    events_ingest(body=event, source="key:1")
    learner_evaluate_pending(learner_id=alex.pk)
    return alex


def _sign_in(page, url: str) -> None:
    page.goto(url)
    assert serious_violations(page) == []  # the sign-in page
    page.get_by_label("Username").fill("alex")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_the_learner_page_reads_as_a_product_and_passes_axe(live_server, browser, alex):
    page = browser.new_page(viewport=VIEWPORT)
    csp = Violations(page)

    _sign_in(page, f"{live_server.url}/learn/")

    page.get_by_role("heading", name="Next: Guided demo").wait_for()
    reason = page.inner_text(".reason")
    assert "You finished that module in 9 seconds, so here is a guided demo of it." in reason
    assert "duration_seconds" not in page.inner_text("main") and "==" not in page.inner_text("main")
    content = page.locator("section[aria-labelledby=next-heading] .content")
    assert "A slower, step-by-step walk through the module you just finished" in content.inner_text()
    page.get_by_role("heading", name="Your reminders").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    assert serious_violations(page) == []

    page.get_by_label("From").fill("19:00")
    page.get_by_label("until", exact=True).fill("08:00")
    page.get_by_label("Slack").check()
    page.get_by_role("button", name="Save my reminder settings").click()
    page.get_by_text("Your reminder settings are saved.").wait_for()
    assert page.get_by_label("Slack").is_checked() and page.get_by_label("From").input_value() == "19:00"

    page.get_by_role("link", name="Your team (1)").click()
    page.get_by_role("heading", name="Your team").wait_for()
    assert "Sam Lee" in page.inner_text("table.team")
    assert serious_violations(page) == []
    assert csp.found == []
    page.close()


def test_markdown_headings_lists_and_links_render_in_the_browser(live_server, browser, alex):
    from playbooks.models import ContentModule

    ContentModule.objects.filter(slug="remedial-demo").update(
        body="# Before you start\n\n- **Pause** often\n- Read [the guide](https://docs.example.com/guide)\n\n"
        "<script>document.title = 'owned'</script>"
    )
    page = browser.new_page(viewport=VIEWPORT)

    _sign_in(page, f"{live_server.url}/learn/")

    content = page.locator("section[aria-labelledby=next-heading] .content")
    assert content.get_by_role("heading", name="Before you start", level=2).is_visible()
    assert content.locator("li strong").first.inner_text() == "Pause"
    assert content.get_by_role("link", name="the guide").get_attribute("href") == "https://docs.example.com/guide"
    assert page.title() != "owned" and "<script>" in content.inner_text()  # shown as text, never run
    page.close()


def test_the_accessibility_check_finds_a_serious_violation_when_there_is_one(browser):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_content('<html lang="en"><body><main><img src="/x.png"><button></button></main></body></html>')

    found = serious_violations(page)

    assert any(v.startswith("image-alt (critical)") for v in found) and any("button-name" in v for v in found)
    page.close()
