"""An analyst reads a playbook's insights dashboard in Chromium: the charts draw with data, a filter narrows the
numbers, and each CSV export downloads the figures the page shows, all under the Content-Security-Policy."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse

from insights.selectors import FIGURES
from insights.services import rollups_fold
from signals_app.models import Event
from tests.browser.conftest import browser  # noqa: F401  (Debian's Chromium, as the browser tests use it)
from tests.conftest import PASSWORD
from tests.insights.conftest import T0
from tests.onboarding.test_csp_pages import Violations

# live_server serves from another thread, so the rows must be committed for it to see them.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cohort(world):
    """test_admin_dashboard's cohort, plus an event behind a decision (latency) and a survey answer, so that every
    figure has data: three agents on v2 (two completed), a lead on v1 (completed) on the next day."""
    agents = [world.learner("agent") for _ in range(3)]
    lead = world.learner("lead")
    done = [
        world.enrol(agents[0], at=T0, done_after=timedelta(hours=2)),
        world.enrol(agents[1], at=T0, done_after=timedelta(hours=6)),
        world.enrol(lead, at=T0 + timedelta(days=1), done_after=timedelta(hours=4), version=world.v1),
    ]
    world.enrol(agents[2], at=T0)
    for enrollment in done:
        world.progress(enrollment, "welcome", "completed", 240)
    world.progress(done[1], "tools", "skipped")
    event = world.event(agents[0], at=T0, latency_ms=120)
    world.decision(done[0], "trigger", "trigger 'nudge': idle_hours >= 24", at=T0, event=event)
    world.reminder(done[1], at=T0, channel="email", outcome="sent", via="email")
    Event.objects.create(
        source="key:1",
        client_id="survey-1",
        learner=lead,
        type="survey_answered",
        module="welcome",
        occurred_at=T0 + timedelta(days=1, hours=5),
        received_at=T0 + timedelta(days=1, hours=5),
        properties={"score": 4, "comment": "Useful"},
    )
    rollups_fold()


def _chart(page, slug: str) -> list[tuple[str, str, float]]:
    """A figure's bars as drawn: (label, value text, rendered width in pixels)."""
    section = page.locator(f"section#{slug}")
    # SVG text has no innerText, hence textContent.
    labels = section.locator("svg.insights-chart text.label").all_text_contents()
    values = section.locator("svg.insights-chart text.value").all_text_contents()
    widths = [bar.bounding_box()["width"] for bar in section.locator("svg.insights-chart rect.bar").all()]
    return list(zip(labels, values, widths, strict=True))


def _table(page, slug: str) -> list[list[str]]:
    rows = page.locator(f"section#{slug} table tbody tr").all()
    return [row.locator("td").all_inner_texts() for row in rows]


def _shown(value: str, column: str) -> str:
    """A CSV value as the page's table writes it: rates as percentages, everything else as is."""
    return f"{float(value):.1%}" if value and "rate" in column else value


def _sign_in(page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill("analyst")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def test_an_analyst_reads_the_charts_filters_and_exports_in_the_browser(live_server, browser, analyst, world, cohort):  # noqa: F811
    page = browser.new_page(accept_downloads=True)
    violations = Violations(page)
    dashboard = f"{live_server.url}{reverse('admin:insights_dashboard', args=[world.playbook.pk])}"

    _sign_in(page, dashboard)

    page.get_by_role("heading", name="Completion rate").wait_for()
    assert page.locator("svg.insights-chart").count() == len(FIGURES)
    assert page.get_by_text("No data for these filters yet.").count() == 0
    # v1: the lead, 1 of 1; v2: two of the three agents; all: 3 of 4. Bars drawn to scale by the stylesheet's page.
    bars = _chart(page, "completion")
    assert [(label, value) for label, value, _w in bars] == [("v1", "100%"), ("v2", "67%"), ("all", "75%")]
    assert bars[0][2] > bars[2][2] > bars[1][2] > 0
    assert _table(page, "completion")[-1][:3] == ["all", "4", "3"]
    assert [label for label, _v, _w in _chart(page, "skip-rate")] == ["tools", "welcome"]
    assert _chart(page, "skip-rate")[0][1] == "100%"
    assert page.locator("section#skip-rate .callout").inner_text().startswith("tools: 100%")
    label, value, _width = _chart(page, "latency")[-2]
    assert label == "all p50" and abs(float(value) - 120) <= 120 * 0.01  # 120 ms, read from a histogram, within 1 %

    page.get_by_label("Role").select_option("lead")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**role=lead**")

    # The lead alone: one enrolment on v1, completed.
    assert _table(page, "completion") == [["v1", "1", "1", "0", "100.0%"], ["all", "1", "1", "0", "100.0%"]]
    assert [(label, value) for label, value, _w in _chart(page, "completion")] == [("v1", "100%"), ("all", "100%")]

    with page.expect_download() as download:
        page.locator("section#completion").get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == f"{world.playbook.slug}-completion.csv"
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows == [
        ["version", "enrolled", "completed", "ended", "completion rate"],
        ["v1", "1", "1", "0", "1.0"],
        ["all", "1", "1", "0", "1.0"],
    ]

    # Every other figure's export, fetched in the analyst's session under the same filters, holds what its table shows.
    for slug in FIGURES:
        section = page.locator(f"section#{slug}")
        href = section.get_by_role("link", name="Export CSV").get_attribute("href")
        assert "role=lead" in href, slug
        response = page.request.get(f"{live_server.url}{href}")
        assert response.ok, slug
        header, *body = csv.reader(io.StringIO(response.text()))
        if not body:  # nothing for the lead (no trigger fired for them, say): no chart and no table either
            assert section.get_by_text("No data for these filters yet.").is_visible(), slug
            continue
        assert header == section.locator("thead th").all_text_contents(), slug
        assert [[_shown(v, header[i]) for i, v in enumerate(row)] for row in body] == _table(page, slug), slug

    assert violations.found == []
