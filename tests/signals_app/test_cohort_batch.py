"""Cohorts run in memory give, learner by learner, what the database simulator gives for the same seed
(tests/signals_app/cohort_reference.py: the path cohorts took before)."""

from dataclasses import replace

import pytest
import yaml

from playbooks.engine.cohorts import expand_cohort
from playbooks.selectors import version_spec
from playbooks.services import draft_create, playbook_import, version_write_spec
from signals_app.services.cohorts import CohortReport, cohort_simulate
from tests.playbooks.engine.replay import SCENARIOS
from tests.signals_app.cohort_reference import reference_simulate

pytestmark = pytest.mark.django_db

EXAMPLES = SCENARIOS.parents[1] / "docs" / "examples"

# Reminders under a cap and quiet hours, cancelled by completions; idle nudges on the clock; a trigger held back by
# its limit; a flag; a branch; learners outside the audience; events that arrive late.
PLAYBOOK = """
slug: nudged
name: Nudged onboarding
audience: {roles: [newcomer]}
modules:
  - {slug: intro, title: Intro}
  - {slug: basics, title: Basics}
  - {slug: deep-dive, title: Deep dive}
  - {slug: quick-tour, title: Quick tour}
  - {slug: wrap-up, title: Wrap-up}
steps:
  - module: intro
  - module: basics
  - id: track
    branch:
      - {when: 'avg_module_seconds >= 50', module: deep-dive}
      - {otherwise: quick-tour}
  - module: wrap-up
triggers:
  - name: slow progress
    when: 'event.type == "module_progress" and event.properties.completion_pct < 50'
    then: [{remind: {channel: email, template: keep_going, delay: 2h}}]
  - name: idle nudge
    when: 'idle_hours >= 20'
    then: [{remind: {channel: in_app, template: come_back}}]
  - name: speedy
    when: 'event.type == "module_completed" and event.properties.duration_seconds < 40'
    then: [{flag: speedy}]
    limit: {per_learner: 1}
policy: {frequency_cap: {max: 2, per: 24h}, quiet_hours: {start: '21:00', end: '08:00'}}
"""


def _event(module: str, kind: str, low: int, high: int, at: list[str], chance: float, **more) -> dict:
    name = "completion_pct" if kind == "module_progress" else "duration_seconds"
    properties = {name: {"between": [low, high]}}
    return {
        "at": {"between": at},
        "type": kind,
        "module": module,
        "properties": properties,
        "probability": chance,
        **more,
    }


TEMPLATE = yaml.safe_dump(
    {
        "playbook": "nudged",
        "learners": 40,
        "seed": 5,
        "learner": {
            "external_id": "nudge",
            "roles": [{"choice": ["newcomer", "newcomer", "newcomer", "visitor"]}],
            "timezone": {"choice": ["Europe/Berlin", "America/New_York", "Asia/Tokyo"]},
        },
        "start": "2026-03-02T09:00:00Z",
        "events": [
            _event("intro", "module_progress", 10, 90, ["0m", "0m"], 1),
            _event("intro", "module_progress", 10, 60, ["10m", "3h"], 0.7),
            _event("intro", "module_completed", 20, 80, ["3h", "9h"], 0.8),
            _event("basics", "module_progress", 5, 45, ["9h", "1d"], 0.6),
            _event("basics", "module_progress", 5, 45, ["9h", "1d"], 0.6, arrives={"between": ["1d", "1d6h"]}),
            _event("basics", "module_completed", 20, 80, ["1d", "2d"], 0.7),
            _event("deep-dive", "module_completed", 20, 200, ["2d", "3d"], 0.4, arrives={"between": ["3d", "3d3h"]}),
            _event("quick-tour", "module_completed", 20, 200, ["2d", "3d"], 0.4),
            _event("wrap-up", "module_completed", 20, 200, ["3d", "4d"], 0.5),
        ],
        "until": "5d",
    }
)


def _without_time(report: CohortReport) -> dict:
    return {key: value for key, value in report.as_dict().items() if key != "seconds"}


def _draft(published, edit):
    draft = draft_create(playbook=published.playbook)
    spec = version_spec(version=draft)
    version_write_spec(version=draft, spec=edit(spec))
    return draft


@pytest.fixture
def nudged():
    published = playbook_import(text=PLAYBOOK, publish=True).version

    def stricter(spec):  # the draft's cap: one reminder a day
        return replace(spec, policy=replace(spec.policy, frequency_cap_max=1))

    return _draft(published, stricter), published


def _assert_learner_by_learner(journeys, versions) -> None:
    expected = reference_simulate(journeys=journeys, versions=versions)
    for version, reports in zip(versions, expected, strict=True):
        for number, (journey, report) in enumerate(zip(journeys, reports, strict=True), start=1):
            (mine,) = cohort_simulate(journeys=[journey], versions=[version])
            assert _without_time(mine) == _without_time(report), f"learner {number} on v{version.number}"


def test_each_learner_gets_what_the_database_simulator_gives_it(nudged):
    journeys = expand_cohort(yaml.safe_load(TEMPLATE))

    _assert_learner_by_learner(journeys, list(nudged))


def test_the_cohort_exercises_what_it_compares(nudged):
    """The comparison above means something only if the cohort reaches every path it checks."""
    on_draft, on_published = cohort_simulate(journeys=expand_cohort(yaml.safe_load(TEMPLATE)), versions=list(nudged))

    assert 0 < on_published.enrolled < on_published.learners  # the visitors are outside the audience
    assert on_published.reminders_scheduled and on_published.reminders_suppressed
    assert on_draft.reminders_suppressed > on_published.reminders_suppressed  # the draft's stricter cap
    assert on_published.triggers["idle nudge"] and on_published.suppressed["speedy"] and on_published.flags["speedy"]
    assert set(on_published.branches["track"]) == {"deep-dive", "quick-tour"}
    assert on_published.completed and on_published.next_modules["not_enrolled"]


def test_the_demo_cohort_matches_too():
    published = playbook_import(
        text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True
    ).version
    template = yaml.safe_load(
        (SCENARIOS.parent.parent / "docs" / "examples" / "cohort-support-specialist.yaml").read_text()
    )

    _assert_learner_by_learner(expand_cohort(template, learners=40), [published])
