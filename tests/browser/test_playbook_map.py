"""The playbook map in Chromium at 1,280 × 800: drawn with live counts and no horizontal overflow, reached from the
playbook list; the Simulate page drawing a journey's route on the same map."""

import pytest

from playbooks.services import playbook_import
from tests.conftest import PASSWORD
from tests.factories import UserFactory
from tests.playbooks.engine.replay import SCENARIOS
from tests.signals_app.map_data import learners_along_the_map

pytestmark = pytest.mark.django_db(transaction=True)

FAST_SKIPPER = (SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml").read_text()
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture
def page(live_server, browser):
    UserFactory(username="ada", is_staff=True, is_superuser=True)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)  # a waiting limit, not a measure: the machine may be busy with other work
    page.refused = []  # what the Content-Security-Policy refused: the map must need no inline style or script
    page.on("console", lambda message: "Content Security Policy" in message.text and page.refused.append(message.text))
    page.goto(f"{live_server.url}/admin/login/?next=/admin/playbooks/playbook/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    yield page
    page.close()


def _badge(page, key: str, kind: str) -> str | None:
    return page.locator(f'svg.playbook-map g[data-key="{key}"] g.map-badge.{kind}').first.get_attribute("data-count")


def _fits(page) -> None:
    """Nothing wider than the window, and the map drawn at a readable scale (not shrunk to a thumbnail)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    box = page.locator("svg.playbook-map").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"]
    assert box["width"] >= 0.8 * float(page.locator("svg.playbook-map").get_attribute("width"))
    assert page.refused == []


def test_the_map_shows_where_learners_are_and_which_way_they_went(page, live_server):
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    learners_along_the_map()

    page.goto(f"{live_server.url}/admin/playbooks/playbook/")
    page.get_by_role("link", name="Map of v1").click()

    page.locator("svg.playbook-map").wait_for()
    assert page.locator("svg.playbook-map g.map-step").count() == 6
    assert page.locator("svg.playbook-map g.map-option").count() == 6
    assert page.locator("svg.playbook-map g.map-trigger").count() == 2
    assert page.locator("svg.playbook-map path.map-edge").count() >= 6
    assert (_badge(page, "step:welcome", "now"), _badge(page, "step:specialist-track", "now")) == ("2", "3")
    assert _badge(page, "option:specialist-track:2", "took") == "2"
    assert _badge(page, "trigger:remedial demo", "fired") == "1"
    assert "7 active (1 of them on a module a trigger inserted)" in page.inner_text("#map-summary")
    # The whole condition is in the box's tooltip.
    tooltip = page.locator('svg.playbook-map g[data-key="option:specialist-track:1"] > title').text_content()
    assert "avg_module_seconds >= 90 and avg_module_seconds < 120 and skips <= 1" in tooltip
    _fits(page)


def test_the_simulate_page_draws_the_journeys_route(page, live_server):
    version = playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)

    page.goto(f"{live_server.url}/admin/playbooks/playbookversion/{version.version.pk}/simulate/")
    page.get_by_label("Journey").fill(FAST_SKIPPER)
    page.get_by_role("button", name="Simulate").click()

    page.get_by_role("heading", name="The journey's route").wait_for()
    route = page.locator("svg.playbook-map g.map-box.route")
    assert set(route.evaluate_all("boxes => boxes.map(b => b.dataset.key)")) == {
        "step:welcome",
        "step:crm-basics",
        "step:ticketing-101",
        "step:product-tour",
        "step:specialist-track",
        "option:specialist-track:0",
    }
    assert page.locator('svg.playbook-map g.map-box.at[data-key="step:specialist-track"]').count() == 1
    fired = page.locator("svg.playbook-map g.map-trigger.fired")
    assert fired.evaluate_all("boxes => boxes.map(b => b.dataset.key)") == ["trigger:skip streak review"]
    # The route is drawn in its own colour, not only named in a class.
    colour = page.locator('svg.playbook-map g[data-key="option:specialist-track:0"] > rect').evaluate(
        "rect => getComputedStyle(rect).stroke"
    )
    assert colour == "rgb(42, 125, 42)"
    _fits(page)
