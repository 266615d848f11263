"""A demo learner signs in, sees their next module and why, completes it, and sees the next one (Chromium)."""

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from identity.services import learner_create, role_upsert
from playbooks.services import playbook_import
from tests.factories import UserFactory
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_learner_completes_a_module_in_the_browser(live_server, browser, celery_worker_process):
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    user = UserFactory(username="alex")
    learner_create(
        external_id="demo-alex",
        display_name="Alex Rivera",
        user=user,
        roles=[role_upsert(slug="support_specialist", name="Support specialist")],
    )
    page = browser.new_page()

    page.goto(f"{live_server.url}/learn/")
    page.get_by_label("Username").fill("alex")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("heading", name="Next: Welcome to Support").wait_for(timeout=10_000)
    assert "Step 1 of 6 of the playbook." in page.inner_text(".reason")
    page.get_by_role("button", name="Mark as complete").click()

    # The click became an event; the worker evaluates it, and the page refreshes itself until it has. Done in a
    # few seconds, the module counts as rushed: the playbook's "remedial demo" trigger puts the guided demo first.
    _wait_for_heading(page, "Next: Guided demo", worker=celery_worker_process)
    # In plain words: the learner never reads the trigger's condition.
    assert "Suggested for you because you completed a module" in page.inner_text(".reason")
    assert "event.type" not in page.inner_text(".reason")
    assert "1 of 6 steps done" in page.inner_text("main")
    page.get_by_role("button", name="Mark as complete").click()

    _wait_for_heading(page, "Next: CRM basics", worker=celery_worker_process)
    page.close()


def _wait_for_heading(page, name: str, *, worker, seconds: int = 30) -> None:
    """Wait for the heading the worker's evaluation leads to; if it never comes, say what the page showed instead
    and what the worker was doing (a failure under load is otherwise a bare timeout)."""
    try:
        page.get_by_role("heading", name=name).wait_for(timeout=seconds * 1000)
    except PlaywrightTimeout as exc:
        shown = page.locator("h1, h2").all_inner_texts()
        log = "".join(worker.output[-40:])
        raise AssertionError(f"no heading {name!r} in {seconds} s; the page showed {shown}; worker:\n{log}") from exc
