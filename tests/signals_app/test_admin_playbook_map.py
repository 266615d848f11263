"""The playbook map's page through the admin: its counts against the same counts made here row by row, its query
count that does not grow with the learners, who may see it (and its counts), the links to it, and the Simulate
page's route."""

import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from playbooks.models import Enrollment, ModuleProgress
from playbooks.services import playbook_import
from signals_app.models import Decision
from tests.factories import UserFactory
from tests.playbooks.engine.replay import SCENARIOS
from tests.signals_app.map_data import JOURNEYS, learners_along_the_map

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
FAST_SKIPPER = (SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml").read_text()


@pytest.fixture
def published():
    return playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True).version


def _map_url(version) -> str:
    return reverse("admin:playbooks_playbookversion_map", args=[version.pk])


def _drawn(html: str) -> dict[str, dict]:
    """Each box of the page's map by its key: its classes and its badges' counts by kind."""
    start = html.index('<svg class="playbook-map"')
    svg = ET.fromstring(html[start : html.index("</svg>", start) + len("</svg>")])  # noqa: S314 (our own page)
    boxes = {}
    for group in svg.iter(f"{SVG}g"):
        if "map-box" in group.get("class", "").split():
            badges = {
                badge.get("class").split()[1]: int(badge.get("data-count"))
                for badge in group.iter(f"{SVG}g")
                if "map-badge" in badge.get("class", "")
            }
            boxes[group.get("data-key")] = {"classes": set(group.get("class").split()), "badges": badges}
    return boxes


def _expected_counts(version) -> dict[str, dict]:
    """The counts the map should show, made here learner by learner from the rows."""
    spec_steps = [step for step in version.steps.prefetch_related("options")]
    expected: dict[str, dict] = {}
    enrollments = list(Enrollment.objects.filter(version=version))
    here = Counter(e.current_step for e in enrollments if e.status == "active")
    done = Counter(p.module.slug for p in ModuleProgress.objects.filter(status="completed").select_related("module"))
    for step in spec_steps:
        key = step.step_id or step.module.slug
        expected[f"step:{key}"] = {"now": here[key]} | ({"done": done[step.module.slug]} if step.module_id else {})
        for option in step.options.all():
            took = {
                d.enrollment_id
                for d in Decision.objects.filter(kind="branch", step=key)
                if d.rule == f"branch '{key}': {option.when or 'otherwise'}"
            }
            expected[f"option:{key}:{option.position}"] = {"took": len(took)}
    for trigger in version.triggers.all():
        fired = {d.enrollment_id for d in Decision.objects.filter(kind="trigger") if f"'{trigger.name}'" in d.rule}
        expected[f"trigger:{trigger.name}"] = {"fired": len(fired)}
    expected["end"] = {"done": sum(e.status == "completed" for e in enrollments)}
    return expected


def test_the_map_counts_learners_at_each_step_and_on_each_option(admin_client, published):
    learners_along_the_map()

    page = admin_client.get(_map_url(published)).content.decode()

    drawn = _drawn(page)
    assert {key: box["badges"] for key, box in drawn.items()} == _expected_counts(published)
    # And the same in the words of the scenario: two learners still at the start, two who took their time (the
    # third option), one fast skipper (the first), no one on the fourth though it gives the second's module.
    assert drawn["step:welcome"]["badges"]["now"] == 2 and drawn["step:specialist-track"]["badges"]["now"] == 3
    took = [drawn[f"option:specialist-track:{n}"]["badges"]["took"] for n in range(4)]
    assert took == [1, 0, 2, 0]
    assert "7 active (1 of them on a module a trigger inserted), 0 completed" in page
    # The same as text, for those who do not see the drawing.
    assert "<li>if avg_module_seconds &gt;= 120 → compliance-escalation, then the next step · 2 took</li>" in page


def test_the_maps_queries_do_not_grow_with_the_learners(admin_client, published):
    learners_along_the_map()
    with CaptureQueriesContext(connection) as few:
        admin_client.get(_map_url(published))
    learners_along_the_map(suffix="-again")
    assert Enrollment.objects.count() == 2 * len(JOURNEYS)

    with CaptureQueriesContext(connection) as many:
        page = admin_client.get(_map_url(published)).content.decode()

    assert len(many) == len(few)
    assert _drawn(page)["option:specialist-track:2"]["badges"]["took"] == 4


def test_the_playbook_list_and_the_version_page_link_to_the_map(admin_client, published):
    listing = admin_client.get(reverse("admin:playbooks_playbook_changelist")).content.decode()
    version_page = admin_client.get(reverse("admin:playbooks_playbookversion_change", args=[published.pk]))

    assert f"<a href='{_map_url(published)}'>Map of v1</a>" in listing
    assert f"<a href='{_map_url(published)}'>Map</a>" in version_page.content.decode()


def test_staff_who_cannot_view_enrolments_see_the_map_without_counts(client, published):
    learners_along_the_map()
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_playbookversion"))
    client.force_login(viewer)

    page = client.get(_map_url(published)).content.decode()

    assert not any(box["badges"] for box in _drawn(page).values())
    assert "Counts of learners are shown to those allowed to view enrolments." in page


def test_staff_who_cannot_view_versions_are_refused(client, published, staff_without_permission):
    client.force_login(staff_without_permission)

    assert client.get(_map_url(published)).status_code == 403


def test_the_simulate_page_highlights_the_journeys_route(admin_client, published):
    url = reverse("admin:playbooks_playbookversion_simulate", args=[published.pk])

    page = admin_client.post(url, {"journey": FAST_SKIPPER}).content.decode()

    drawn = _drawn(page)
    on_route = {key for key, box in drawn.items() if "route" in box["classes"]}
    assert on_route == {
        "step:welcome",
        "step:crm-basics",
        "step:ticketing-101",
        "step:product-tour",
        "step:specialist-track",
        "option:specialist-track:0",
    }
    assert "at" in drawn["step:specialist-track"]["classes"]
    assert {key for key, box in drawn.items() if "fired" in box["classes"]} == {"trigger:skip streak review"}
    assert not Decision.objects.exists()  # the simulation's rows are thrown away; the route came from its result
