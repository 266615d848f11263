"""The public journeys driven through the enrolment services and the next-module selector, on PostgreSQL."""

from datetime import datetime

import pytest

from identity.services import learner_create, role_upsert
from playbooks.engine.durations import parse_duration
from playbooks.engine.signals import EventFact
from playbooks.models import Enrollment
from playbooks.selectors import next_module_for_learner
from playbooks.services import enrollment_evaluate, learner_enroll, playbook_import
from tests.playbooks.engine.replay import SCENARIOS, load_journey

pytestmark = pytest.mark.django_db

JOURNEYS = sorted(SCENARIOS.glob("*/journeys/*.yaml"))


def _learner(spec: dict):
    roles = [role_upsert(slug=slug, name=slug) for slug in spec.get("roles", [])]
    return learner_create(
        external_id=spec["external_id"],
        roles=roles,
        attributes=spec.get("attributes", {}),
        timezone=spec.get("timezone", "UTC"),
    )


def _drive(journey: dict):
    """Enrol at the journey's start, then evaluate each event; yields (moment, next module) after each step."""
    began = datetime.fromisoformat(journey["start"].replace("Z", "+00:00"))
    learner = _learner(journey["learner"])
    learner_enroll(learner=learner, now=began)
    timeline = [(began, next_module_for_learner(learner=learner))]
    events = []
    for item in journey["events"]:
        at = began + parse_duration(item["at"])
        events.append(EventFact(item["type"], at, item.get("module"), item.get("properties") or {}))
        enrollment_evaluate(enrollment=Enrollment.objects.get(learner=learner), events=events, event=events[-1], now=at)
        timeline.append((at, next_module_for_learner(learner=learner)))
    return began, learner, timeline


@pytest.mark.parametrize("journey_path", JOURNEYS, ids=lambda path: path.stem)
def test_public_journey_through_services_and_selector(journey_path):
    playbook_import(text=(journey_path.parents[1] / "playbook.yaml").read_text(), publish=True)
    journey = load_journey(journey_path)

    began, learner, timeline = _drive(journey)

    for expectation in journey["expect"]:
        if "next_module" in expectation:
            moment = began + parse_duration(expectation["at"])
            answer = [answer for at, answer in timeline if at <= moment][-1]
            assert answer.module.slug == expectation["next_module"], expectation
        elif "flags" in expectation:
            assert Enrollment.objects.get(learner=learner).state["flags"] == expectation["flags"]


def test_a_learner_outside_the_audience_is_not_enrolled():
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    outsider = learner_create(external_id="sales-1", roles=[role_upsert(slug="sales", name="Sales")])

    assert learner_enroll(learner=outsider) == []
    assert next_module_for_learner(learner=outsider).status == "not_enrolled"


def test_the_reason_names_the_branch_rule():
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    _began, learner, _timeline = _drive(load_journey(SCENARIOS / "support-specialist/journeys/fast-skipper.yaml"))

    enrollment = next_module_for_learner(learner=learner).enrollment

    assert enrollment.current_reason["rule"] == "branch 'specialist-track': avg_module_seconds < 90 and skips >= 3"
    assert "avg_module_seconds = 50, skips = 3" in enrollment.current_reason["explanation"]
    assert (enrollment.steps_done, enrollment.steps_total) == (4, 6)


@pytest.mark.parametrize("steps", [3, 40])
def test_next_module_costs_one_query_whatever_the_playbook_length(steps, django_assert_num_queries):
    modules = "\n".join(f"  - {{slug: m{i}, title: M{i}}}" for i in range(steps))
    path = "\n".join(f"  - module: m{i}" for i in range(steps))
    playbook_import(
        text=f"slug: long\nname: Long\naudience: {{roles: [r]}}\nmodules:\n{modules}\nsteps:\n{path}\n", publish=True
    )
    learner = learner_create(external_id="l", roles=[role_upsert(slug="r", name="R")])
    learner_enroll(learner=learner)

    with django_assert_num_queries(1):
        answer = next_module_for_learner(learner=learner)

    assert answer.module.slug == "m0"
