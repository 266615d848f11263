"""Incremental evaluation through the worker's services: the tally is rebuilt from the history when what it was
built for changes (the learner's time zone, the version's signals), so the values the conditions read stay those of
the whole history (docs/evaluation.md, "Incremental evaluation")."""

from datetime import UTC, datetime, timedelta

import pytest

from identity.services import learner_create, learner_update, role_upsert
from playbooks.models import Enrollment
from playbooks.services import learner_enroll, playbook_import, playbook_publish
from playbooks.services.enrollments import UNWRITTEN_MOST, tallies_forget
from signals_app.models import Decision, Event
from signals_app.services import learner_evaluate_pending
from signals_app.services.ingestion import events_record

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 23:30 in Berlin: the next event is on Berlin's next day
PLAYBOOK = """
slug: tickets
name: Tickets
audience: {roles: [newcomer]}
modules: [{slug: a, title: A}, {slug: b, title: B}]
signals:
  ticket_days: {event: ticket_submitted, aggregate: days_active, window: 7d}
  quietest: {event: ticket_submitted, aggregate: min_per_day, window: 2d}
steps: [{module: a}, {module: b}]
triggers:
  - {name: two days, when: 'quietest >= 1', then: [{flag: steady}]}
"""


def _send(learner, minute: int, kind: str = "ticket_submitted", module: str = "") -> None:
    item = {
        "id": f"e{minute}",
        "learner": learner.external_id,
        "type": kind,
        "module": module,
        "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
        "properties": {},
    }
    events_record(body={"events": [item]}, source="test", now=T0 + timedelta(minutes=minute))
    learner_evaluate_pending(learner_id=learner.pk, now=T0 + timedelta(minutes=minute))


def _learner(zone: str = "UTC"):
    learner = learner_create(external_id="ada", roles=[role_upsert(slug="newcomer", name="Newcomer")], timezone=zone)
    learner_enroll(learner=learner, now=T0 - timedelta(days=1))
    return learner


def _fired(learner) -> list[str]:
    return list(Decision.objects.filter(learner=learner, kind="trigger").values_list("rule", flat=True))


def test_a_new_time_zone_rebuilds_the_tally_and_the_days_are_the_learners_new_days():
    playbook_import(text=PLAYBOOK, publish=True)
    learner = _learner("UTC")
    _send(learner, 0)  # Monday 22:30 UTC
    _send(learner, 45)  # Monday 23:15 UTC: the same UTC day, so no second day yet
    assert _fired(learner) == []

    learner_update(learner=learner, data={"timezone": "Europe/Berlin"})
    _send(learner, 90, "page_view")  # in Berlin, 23:30 Monday and 00:15 Tuesday: two days with a ticket

    assert _fired(learner) == ["trigger 'two days': quietest >= 1"]
    assert Enrollment.objects.get(learner=learner).tally["folded"] == 3  # rebuilt over the whole history


def test_a_version_with_a_new_signal_counts_the_events_before_the_migration():
    playbook_import(text=PLAYBOOK, publish=True)
    learner = _learner()
    for minute in (0, 10, 20):
        _send(learner, minute, "page_view")
    counted = PLAYBOOK.replace("steps:", "  views: {event: page_view, aggregate: count}\nsteps:").replace(
        "'quietest >= 1'", "'views >= 4'"
    )
    draft = playbook_import(text=counted).version
    playbook_publish(version=draft, migrate=True)

    _send(learner, 30, "module_completed", "a")  # the step boundary: the learner moves to the new version
    _send(learner, 40, "page_view")

    assert _fired(learner) == ["trigger 'two days': views >= 4"]


# --- enrolments left unwritten while only their tally moves (docs/evaluation.md, "Enrolments left unwritten") -----

COUNTING = PLAYBOOK.replace("signals:\n", "signals:\n  tickets: {event: ticket_submitted, aggregate: count}\n").replace(
    "triggers:\n", "triggers:\n  - {name: third ticket, when: 'tickets >= 3', then: [{flag: busy}]}\n"
)


def _row(learner) -> Enrollment:
    return Enrollment.objects.get(learner=learner)


def _decided_at(learner) -> list[datetime]:
    return list(Decision.objects.filter(learner=learner, kind="trigger").values_list("decided_at", flat=True))


def test_an_event_that_moves_only_the_tally_leaves_the_enrolment_unwritten_and_the_next_one_counts_it():
    playbook_import(text=COUNTING, publish=True)
    learner = _learner()
    _send(learner, 0)  # the first evaluation builds and stores the tally
    written = _row(learner)

    _send(learner, 1)  # two tickets: nothing to decide, nothing in the enrolment but its tally and clock changes

    unwritten = _row(learner)
    assert (unwritten.updated_at, unwritten.tally) == (written.updated_at, written.tally)
    assert unwritten.state == written.state
    _send(learner, 2)
    assert _fired(learner) == ["trigger 'third ticket': tickets >= 3"]  # the unwritten ticket was counted
    assert _row(learner).tally["folded"] == 3 and _row(learner).updated_at > written.updated_at


def test_a_late_event_after_unwritten_ones_is_evaluated_at_the_latest_moment_evaluated():
    playbook_import(text=COUNTING, publish=True)
    learner = _learner()
    _send(learner, 0)
    _send(learner, 10)  # unwritten: the stored clock is still minute 0

    _send(learner, 5)  # late: before minute 10, already evaluated

    # Evaluated at the clock the unwritten event moved, as if every evaluation had been stored.
    assert _decided_at(learner) == [T0 + timedelta(minutes=10)]
    assert _row(learner).tally["folded"] == 3


def test_an_enrolment_is_written_at_least_every_unwritten_most_events():
    playbook_import(text=COUNTING, publish=True)
    learner = _learner()
    _send(learner, 0, "page_view")
    marks = []
    for minute in range(1, 2 * UNWRITTEN_MOST + 1):
        _send(learner, minute, "page_view")
        marks.append(_row(learner).tally["mark"])

    ids = list(Event.objects.filter(learner=learner).order_by("occurred_at").values_list("pk", flat=True))
    behind = [sent - ids.index(mark) for sent, mark in enumerate(marks, start=1)]  # events the stored tally misses
    assert behind == [*range(1, UNWRITTEN_MOST), 0, *range(1, UNWRITTEN_MOST), 0]


def test_forgetting_tallies_rewrites_only_those_stored_and_the_next_evaluation_rebuilds_from_the_history():
    playbook_import(text=PLAYBOOK, publish=True)
    learner = _learner()
    _send(learner, 0)
    other = learner_create(external_id="bo", roles=[role_upsert(slug="newcomer", name="Newcomer")])
    learner_enroll(learner=other, now=T0 - timedelta(days=1))  # nothing evaluated yet: no tally stored
    assert Enrollment.objects.get(learner=learner).tally["folded"] == 1

    # The tally is stored as json (no equality in SQL): "only those stored" is the count of rows written.
    assert tallies_forget(learner_ids=[learner.pk, other.pk]) == 1
    assert [e.tally for e in Enrollment.objects.order_by("learner_id")] == [{}, {}]

    _send(learner, 1)
    assert Enrollment.objects.get(learner=learner).tally["folded"] == 2  # both events, read from the history
