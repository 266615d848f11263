"""An experiment whose arm sets a parameter, live: learners' first events, posted through the API, enrol them in the
real worker, which puts each on their arm; the arm's learners take the other branch, and keep their value when
their journeys migrate to a version published after the experiment stopped."""

from datetime import UTC, datetime, timedelta

import pytest

from identity.services import learner_create, role_upsert
from insights.models import ExperimentAssignment
from insights.services.experiments import Variant, experiment_create, experiment_start, experiment_stop
from playbooks.models import Enrollment
from playbooks.selectors import next_module_for_learner
from playbooks.services import playbook_import
from signals_app.models import Decision
from tests.factories import api_key
from tests.pipeline.conftest import wait_until
from tests.pipeline.journeys import all_processed, post_events

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
PLAYBOOK = """
slug: tuned-quiz
name: Tuned quiz
audience: {roles: [agent]}
modules:
  - {slug: intro, title: Intro, minutes: 5}
  - {slug: fast-track, title: Fast track, minutes: 5}
  - {slug: full-course, title: Full course, minutes: 5}
  - {slug: bonus, title: Bonus, minutes: 5}
  - {slug: review, title: Review, minutes: 5}
signals:
  quiz_score: {event: quiz_answered, aggregate: avg, property: score}
parameters:
  fast_threshold: 80
steps:
  - module: intro
  - id: track
    branch:
      - {when: 'quiz_score >= params.fast_threshold', module: fast-track}
      - {otherwise: full-course}
  - id: final
    branch:
      - {when: 'quiz_score >= params.fast_threshold', module: bonus}
      - {otherwise: review}
"""
LEARNERS = 20


def _events(external_id: str, *items: tuple[int, str, str, dict]) -> list[dict]:
    return [
        {
            "id": f"{external_id}-{minute}",
            "learner": external_id,
            "type": kind,
            "module": module,
            "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
            "properties": properties,
        }
        for minute, kind, module, properties in items
    ]


def test_a_parameter_arm_takes_its_learners_down_the_other_branch_for_their_whole_journey(
    celery_worker_process, client
):
    v1 = playbook_import(text=PLAYBOOK, publish=True).version
    arm = Variant(v1, {"fast_threshold": 50})
    experiment = experiment_start(experiment=experiment_create(playbook=v1.playbook, name="lower bar", variants=[arm]))
    agent = role_upsert(slug="agent", name="Agent")
    learners = [learner_create(external_id=f"quiz-{n}", roles=[agent]) for n in range(LEARNERS)]
    key, _ = api_key("events:write")

    # A score of 60: under the default bar (80), over the arm's (50).
    for learner in learners:
        post_events(
            client,
            key,
            _events(
                learner.external_id,
                (1, "quiz_answered", "", {"score": 60}),
                (2, "module_completed", "intro", {}),
            ),
        )
    wait_until(all_processed, what="the worker to enrol the learners and evaluate their events")

    on_arm = {a.learner_id: bool(a.arm.parameters) for a in ExperimentAssignment.objects.filter(experiment=experiment)}
    assert len(on_arm) == LEARNERS and set(on_arm.values()) == {True, False}  # 2⁻¹⁹ chance of one arm only
    for learner in learners:
        expected = "fast-track" if on_arm[learner.pk] else "full-course"
        assert next_module_for_learner(learner=learner).module.slug == expected, learner.external_id
        decision = Decision.objects.get(learner=learner, kind="experiment")
        assert ("with fast_threshold=50" in decision.explanation) == on_arm[learner.pk]
        assert decision.values["arm"] == ("v1 · fast_threshold=50" if on_arm[learner.pk] else "control (v1)")

    # The experiment stops; a new version is published with migration: each journey moves at its next step boundary.
    experiment_stop(experiment=experiment)
    v2 = playbook_import(text=PLAYBOOK.replace("Intro, minutes: 5", "Intro, minutes: 6"), publish=True, migrate=True)
    for learner in learners:
        track = "fast-track" if on_arm[learner.pk] else "full-course"
        post_events(client, key, _events(learner.external_id, (3, "module_completed", track, {})))
    wait_until(all_processed, what="the worker to migrate the journeys")

    for learner in learners:
        enrollment = Enrollment.objects.get(learner=learner)
        assert enrollment.version == v2.version
        assert enrollment.state.get("params", {}) == ({"fast_threshold": 50} if on_arm[learner.pk] else {})
        expected = "bonus" if on_arm[learner.pk] else "review"
        assert next_module_for_learner(learner=learner).module.slug == expected, learner.external_id
