"""The quiet path (docs/evaluation.md): events that cannot change a learner's journey from where it stands are marked
evaluated without the enrolment being read or the engine run, and folded into the tally at the next evaluation.
What a learner or an admin would notice if it were wrong: a decision taken late or not at all, progress not shown,
signals that miss events."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity.services import learner_create, role_upsert
from playbooks.models import Enrollment, ModuleProgress
from playbooks.services import learner_enroll, playbook_import
from playbooks.services.enrollments import UNWRITTEN_MOST
from signals_app.models import Decision, Event
from signals_app.services import learner_evaluate_pending
from signals_app.services.ingestion import events_record

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
PLAYBOOK = """
slug: quiet
name: Quiet
audience: {roles: [newcomer]}
modules: [{slug: a, title: A}, {slug: b, title: B}, {slug: c, title: C}]
signals:
  tickets: {event: ticket_submitted, aggregate: count}
  views: {event: page_view, aggregate: count}
steps:
  - {module: a}
  - id: next
    branch:
      - {when: 'views >= 3', module: c}
      - {otherwise: b}
triggers:
  - {name: busy, when: 'tickets >= 2', then: [{flag: busy}]}
  - name: rushed
    when: 'event.type == "module_completed" and event.properties.duration_seconds < 30'
    then: [{flag: rushed}]
"""


def _learner():
    playbook_import(text=PLAYBOOK, publish=True)
    learner = learner_create(external_id="ada", roles=[role_upsert(slug="newcomer", name="Newcomer")])
    learner_enroll(learner=learner, now=T0)
    return learner


def _send(learner, minute: int, kind: str, module: str = "", **properties) -> None:
    at = T0 + timedelta(minutes=minute)
    item = {"id": f"e{minute}-{kind}", "learner": "ada", "type": kind, "module": module, "properties": properties}
    events_record(body={"events": [{**item, "occurred_at": at.isoformat()}]}, source="test", now=at)
    learner_evaluate_pending(learner_id=learner.pk, now=at + timedelta(seconds=1))


def _enrollment() -> Enrollment:
    return Enrollment.objects.get(learner__external_id="ada")


def test_page_views_and_progress_are_evaluated_without_the_engine_and_counted_at_the_next_decision():
    learner = _learner()
    _send(learner, 1, "module_started", "a")  # the first event records the triggers' memory: the enrolment is written
    stored = _enrollment()
    assert stored.decisive_kinds == ["module_completed", "module_skipped", "ticket_submitted"]

    with CaptureQueriesContext(connection) as queries:
        _send(learner, 2, "page_view")
    reads = [q["sql"] for q in queries.captured_queries if '"playbooks_enrollment"."state"' in q["sql"]]
    assert reads == []  # the enrolment's documents were neither read nor written
    _send(learner, 3, "module_progress", "a", completion_pct=60, seconds=90)
    _send(learner, 4, "page_view")
    _send(learner, 5, "page_view")

    assert Event.objects.filter(processed_at__isnull=True).count() == 0
    progress = ModuleProgress.objects.get(enrollment=stored, module__slug="a")
    assert (progress.completion_pct, progress.seconds) == (60, 90)  # the learner's progress is shown at once
    assert _enrollment().updated_at == stored.updated_at
    assert _enrollment().tally == stored.tally  # behind by the four events, as an unwritten evaluation leaves it

    _send(learner, 6, "module_completed", "a", duration_seconds=300)

    branch = Decision.objects.get(kind="branch")
    assert branch.module == "c" and branch.values["views"] == 3  # every quiet view counted
    assert _enrollment().tally["folded"] == 6


def test_an_event_a_trigger_counts_is_evaluated_at_once_and_the_trigger_fires_at_its_moment():
    learner = _learner()
    _send(learner, 1, "page_view")
    _send(learner, 2, "ticket_submitted")
    _send(learner, 3, "page_view")
    _send(learner, 4, "ticket_submitted")

    fired = Decision.objects.get(kind="trigger")
    assert fired.rule.startswith("trigger 'busy'") and fired.decided_at == T0 + timedelta(minutes=4)


def test_after_a_trigger_on_the_event_fires_the_next_event_goes_through_the_engine_to_re_arm_it():
    learner = _learner()
    _send(learner, 1, "module_completed", "a", duration_seconds=10)
    assert Decision.objects.filter(kind="trigger", rule__startswith="trigger 'rushed'").count() == 1
    assert _enrollment().decisive_kinds is None  # its condition holds: any event would turn it false

    _send(learner, 2, "page_view")

    assert _enrollment().state["triggers"]["rushed"]["last"] is False
    assert _enrollment().decisive_kinds is not None


def test_the_tally_is_never_left_more_than_its_bound_behind():
    learner = _learner()
    for minute in range(1, 3 * UNWRITTEN_MOST):
        _send(learner, minute, "page_view")
        behind = Event.objects.filter(learner=learner).count() - _enrollment().tally["folded"]
        assert behind < UNWRITTEN_MOST


def test_a_late_quiet_event_goes_through_the_engine_and_rebuilds_the_tally():
    learner = _learner()
    _send(learner, 10, "page_view")
    _send(learner, 20, "page_view")
    assert _enrollment().tally["folded"] == 1  # the second one left behind

    _send(learner, 15, "page_view")  # happened before the last one evaluated

    assert _enrollment().tally["folded"] == 3  # rebuilt from the whole history, in occurred_at order


VIEWS_COUNTED = """
slug: viewed
name: Viewed
audience: {roles: [newcomer]}
modules: [{slug: v, title: V}]
signals:
  views: {event: page_view, aggregate: count}
steps: [{module: v}]
triggers:
  - {name: curious, when: 'views >= 3', then: [{flag: curious}]}
"""


def test_an_event_one_of_the_learners_playbooks_counts_goes_through_the_engine_for_all_of_them():
    learner = _learner()
    playbook_import(text=VIEWS_COUNTED, publish=True)
    learner_enroll(learner=learner, now=T0)
    _send(learner, 1, "module_started", "a")
    viewed = Enrollment.objects.get(learner=learner, playbook__slug="viewed")
    assert "page_view" in viewed.decisive_kinds and "page_view" not in _enrollment_in("quiet").decisive_kinds

    for minute in (2, 3, 4):
        _send(learner, minute, "page_view")

    fired = Decision.objects.get(kind="trigger")
    assert fired.rule.startswith("trigger 'curious'") and fired.decided_at == T0 + timedelta(minutes=4)


def _enrollment_in(slug: str) -> Enrollment:
    return Enrollment.objects.get(learner__external_id="ada", playbook__slug=slug)
