"""Incremental evaluation through the worker's services: the tally is rebuilt from the history when what it was
built for changes (the learner's time zone, the version's signals), so the values the conditions read stay those of
the whole history (docs/evaluation.md, "Incremental evaluation")."""

from datetime import UTC, datetime, timedelta

import pytest

from identity.services import learner_create, learner_update, role_upsert
from playbooks.models import Enrollment
from playbooks.services import learner_enroll, playbook_import, playbook_publish
from signals_app.models import Decision
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
