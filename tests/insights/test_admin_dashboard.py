"""The dashboard page in the admin: who may see it, its filters, its CSV exports, its drill-down, its query bound."""

import csv
import io
import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from insights.selectors import FIGURES, Filters
from insights.services import rollups_fold
from tests.insights.conftest import T0

RAW_TABLES = ("signals_app_event", "signals_app_decision", "playbooks_enrollment", "playbooks_moduleprogress")


@pytest.fixture
def cohort(world):
    """Three agents (two completed, in 2 and 6 hours), a lead who completed on the next day, and a few decisions."""
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
    world.decision(done[0], "trigger", "trigger 'nudge': idle_hours >= 24", at=T0)
    world.reminder(done[1], at=T0, channel="email", outcome="sent", via="email")
    rollups_fold()
    return {"agents": agents, "lead": lead}


def _url(world, name="insights_dashboard", *args, **query):
    base = reverse(f"admin:{name}", args=[world.playbook.pk, *args])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_the_playbook_page_links_to_its_dashboard(client, analyst, world):
    client.force_login(analyst)

    page = client.get(reverse("admin:playbooks_playbook_change", args=[world.playbook.pk]))

    assert _url(world) in page.content.decode()


def test_staff_without_the_permission_is_refused(client, staff_without_permission, admin_user, world):
    for user in (staff_without_permission, admin_user):  # the playbook admins hold no insights permission either
        client.force_login(user)
        assert client.get(_url(world)).status_code == 403
        assert client.get(_url(world, "insights_csv", "completion")).status_code == 403
        assert client.get(_url(world, "insights_learners", figure="completed")).status_code == 403


def test_the_dashboard_shows_each_figure_with_a_chart_and_no_inline_style(client, analyst, world, cohort):
    client.force_login(analyst)

    html = client.get(_url(world)).content.decode()

    # Every figure but the latency (no decision here came from an event) and the surveys (none answered) has data,
    # and a chart.
    assert html.count('<svg class="insights-chart"') == len(FIGURES) - 2
    assert html.count("No data for these filters yet.") == 2
    assert "style=" not in html and "<script>" not in html
    assert "insights/dashboard.css" in html
    # Completion of all enrolments: 3 of 4.
    assert re.search(r"<td>all</td><td><a [^>]*>4</a></td><td><a [^>]*>3</a></td>", html)


def test_the_csv_export_matches_the_figure_under_the_same_filters(client, analyst, world, cohort):
    client.force_login(analyst)
    filters = Filters(playbook=world.playbook, role="agent", start=date(2026, 3, 2), end=date(2026, 3, 2))

    for slug, figure in FIGURES.items():
        response = client.get(_url(world, "insights_csv", slug, role="agent", start="2026-03-02", end="2026-03-02"))
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        expected = figure(filters)
        assert rows[0] == expected.columns
        assert rows[1:] == [["" if c.value is None else str(c.value) for c in row] for row in expected.rows]

    completion = client.get(_url(world, "insights_csv", "completion", role="agent")).content.decode()
    assert completion.splitlines()[-1] == "all,3,2,0,0.6667"  # the agents: 2 of 3 completed


def test_the_filters_narrow_the_figures(client, analyst, world, cohort):
    client.force_login(analyst)

    html = client.get(_url(world, role="lead", version=world.v1.pk)).content.decode()

    assert re.search(r"<td>all</td><td><a [^>]*>1</a></td><td><a [^>]*>1</a></td>", html)


def test_a_number_links_to_the_learners_behind_it(client, analyst, world, cohort):
    client.force_login(analyst)
    html = client.get(_url(world, role="agent")).content.decode()
    link = re.search(r'<td>all</td><td><a [^>]*>3</a></td><td><a href="([^"]+)">2</a>', html).group(1)

    learners = client.get(link.replace("&amp;", "&")).content.decode()

    listed = set(re.findall(r">(learner-\d+)</a>", learners))
    assert listed == {cohort["agents"][0].external_id, cohort["agents"][1].external_id}


def test_the_dashboard_reads_only_rollups_in_a_bounded_number_of_queries(
    client, analyst, world, cohort, django_assert_max_num_queries
):
    client.force_login(analyst)
    client.get(_url(world))  # sessions and permissions cached as on any later visit
    for i in range(30):  # more data changes nothing in the count
        world.enrol(world.learner("agent"), at=T0 + timedelta(days=i % 5), done_after=timedelta(hours=i + 1))
    rollups_fold()

    # Session, user, permissions, the filter form's choices, and a query or two per figure.
    with django_assert_max_num_queries(25), CaptureQueriesContext(connection) as queries:
        assert client.get(_url(world, role="agent", start="2026-03-01", version=world.v2.pk)).status_code == 200

    # The one exception: survey answers (one per learner and module) are read from their events, by type.
    raw = [q["sql"] for q in queries if any(f'"{table}"' in q["sql"] for table in RAW_TABLES)]
    assert [sql for sql in raw if '"signals_app_event"."type" = \'survey_answered\'' not in sql] == []
