"""The worker keeps each enrolment's signals as a running tally and reads only the new events: after waves of
events through the API and the real worker, late ones included, the stored tally is exactly the one rebuilt from
the whole history, and the decision log (values and explanations included) is the one the engine writes when it
recomputes every signal from the whole history at each event."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import transaction

from identity.services import learner_create, role_upsert
from playbooks.engine.journey import LearnerFacts, evaluate, known_history, start
from playbooks.engine.signals import EventFact
from playbooks.engine.tally import Tally
from playbooks.models import Enrollment
from playbooks.selectors import compiled_version
from playbooks.services import learner_enroll, playbook_import
from playbooks.services.enrollments import UNWRITTEN_MOST
from signals_app.models import Decision, Event
from tests.factories import api_key
from tests.pipeline.conftest import wait_until
from tests.pipeline.journeys import all_processed, post_events

pytestmark = pytest.mark.django_db(transaction=True)

PLAYBOOK = """
slug: tallied
name: Every kind of signal
audience: {roles: [support_specialist]}
modules:
  - {slug: welcome, title: Welcome, kind: article, minutes: 5}
  - {slug: crm, title: CRM, kind: article, minutes: 5}
  - {slug: deep-dive, title: Deep dive, kind: article, minutes: 5}
  - {slug: capstone, title: Capstone, kind: article, minutes: 5}
signals:
  tickets: {event: ticket_submitted, aggregate: count}
  urgent_tickets: {event: ticket_submitted, aggregate: count, where: 'event.properties.priority == "high"'}
  minutes_total: {event: module_progress, aggregate: sum, property: seconds}
  minutes_mean: {event: module_progress, aggregate: avg, property: seconds}
  fastest: {event: module_completed, aggregate: min, property: duration_seconds}
  slowest: {event: module_completed, aggregate: max, property: duration_seconds, window: 2d}
  priorities: {event: ticket_submitted, aggregate: distinct, property: priority}
  last_priority: {event: ticket_submitted, aggregate: last, property: priority}
  ticket_days: {event: ticket_submitted, aggregate: days_active, window: 3d}
  tickets_per_day: {event: ticket_submitted, aggregate: per_day, window: 1d}
  quietest_day: {event: ticket_submitted, aggregate: min_per_day, window: 2d}
  recent_progress: {event: module_progress, aggregate: avg, property: seconds, window: 6h}
  funnel:
    sequence:
      - {event: page_view, where: 'event.properties.page == "a"'}
      - {event: page_view, where: 'event.properties.page == "b"'}
    within: 2h
steps:
  - module: welcome
  - module: crm
  - module: capstone  # no event completes it: the enrolment stays active
triggers:
  - name: busy
    when: 'tickets_per_day >= 3 and quietest_day >= 1 and urgent_tickets > 1'
    then: [{flag: busy}]
  - name: thorough
    when: 'minutes_mean > 100 and skip_streak < 2 and funnel >= 1'
    then: [{insert_module: deep-dive}]
  - name: varied
    when: 'priorities >= 3 and last_priority == "low" and ticket_days >= 2 and slowest > 50 and fastest < 90'
    then: [{flag: varied}]
  - name: anything  # fires early, and logs every value it read
    when: 'tickets >= 2 or funnel >= 1 or minutes_mean > 0 or fastest > 0 or slowest > 0 or last_priority == "high"'
    then: [{flag: seen}]
  - name: active
    when: 'recent_progress > 60 and sessions >= 1 and minutes_total > 200'
    then: [{flag: active}]
"""
T0 = datetime(2026, 3, 28, 18, tzinfo=UTC)
KINDS = ["ticket_submitted", "module_progress", "module_completed", "module_skipped", "page_view", "session_started"]


def _waves(seed: int) -> list[list[dict]]:
    """Events in the waves they are sent in; about one in six happened before events already sent."""
    rng = random.Random(seed)
    waves, at, number = [], T0, 0
    for _ in range(8):
        wave = []
        for _ in range(rng.randint(1, 8)):
            at += timedelta(minutes=rng.choice([1, 7, 45, 180, 700]))
            occurred = at - timedelta(hours=rng.choice([3, 30])) if rng.random() < 0.16 else at
            kind = rng.choice(KINDS)
            properties = {
                "ticket_submitted": {"priority": rng.choice(["high", "low", "normal"])},
                "module_progress": {"seconds": rng.choice([30, 90, 150.5, 400])},
                "module_completed": {"duration_seconds": rng.randint(20, 200)},
                "page_view": {"page": rng.choice("abc")},
            }.get(kind, {})
            module = rng.choice(["welcome", "crm"]) if kind.startswith("module") else ""
            wave.append(
                {
                    "id": f"tally-{seed}-{number}",
                    "learner": f"tally-{seed}",
                    "type": kind,
                    "module": module,
                    "occurred_at": occurred.isoformat(),
                    "properties": properties,
                }
            )
            number += 1
        waves.append(wave)
    return waves


def _enrolled(external_id: str) -> tuple:
    """A new learner enrolled two days before the first event. In one transaction: a learner's creation sends the
    worker an enrolment task on commit, which would otherwise race this one and enrol them at today's date."""
    with transaction.atomic():
        role = role_upsert(slug="support_specialist", name="Support specialist")
        learner = learner_create(external_id=external_id, roles=[role], timezone="Europe/Berlin")
        (enrollment,) = learner_enroll(learner=learner, now=T0 - timedelta(days=2))
    return learner, enrollment


def _history(learner) -> tuple[list[int], list[EventFact]]:
    rows = Event.objects.filter(learner=learner).order_by("occurred_at", "pk")
    events = list(rows.values_list("pk", "type", "occurred_at", "module", "properties"))
    return [pk for pk, *_rest in events], [EventFact(t, at, m or None, p) for _pk, t, at, m, p in events]


def _caught_up(enrollment: Enrollment, ids: list[int], history: list[EventFact]) -> dict:
    """The stored tally with the evaluated events it is behind by folded in, as the next batch does: an enrolment
    whose events changed nothing but its tally and clock is left unwritten, for fewer than ``UNWRITTEN_MOST``."""
    playbook = compiled_version(version=enrollment.version)
    tally = Tally.from_dict(enrollment.tally, playbook.signals, playbook.sequences, "Europe/Berlin")
    behind = history[ids.index(enrollment.tally["mark"]) + 1 :]
    assert len(behind) < UNWRITTEN_MOST
    for event in behind:
        tally.fold(event)
    return json.loads(json.dumps({**tally.to_dict(), "mark": ids[-1]}))


def _recomputed(learner, enrollment, waves_ids: list[list[int]]) -> list[tuple]:
    """The decision log the engine writes recomputing every signal from the whole history at each event."""
    playbook = compiled_version(version=enrollment.version)
    facts = LearnerFacts(learner.external_id, ("support_specialist",), {}, "Europe/Berlin")
    state = start(playbook, facts, now=enrollment.enrolled_at).state
    state.clock = ""
    ids, history = _history(learner)
    position = {pk: index for index, pk in enumerate(ids)}
    log, evaluated = [], set()
    for wave in waves_ids:
        evaluated |= set(wave)
        known = [index for index, pk in enumerate(ids) if pk in evaluated]
        seen_history = [history[index] for index in known]
        pending = sorted(known.index(position[pk]) for pk in wave)
        for order, index in enumerate(pending):
            seen = known_history(seen_history, index, pending=pending[order:])
            event = seen_history[index]
            outcome = evaluate(playbook, facts, state, events=seen, event=event, now=event.occurred_at)
            state = outcome.state
            log += [(d.kind, d.rule, d.explanation, json.dumps(d.values, sort_keys=True)) for d in outcome.decisions]
    return log


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_stored_tally_is_the_histories_and_decisions_equal_a_full_recomputation(
    celery_worker_process, client, seed
):
    playbook_import(text=PLAYBOOK, publish=True)
    learner, enrollment = _enrolled(f"tally-{seed}")
    key, _ = api_key("events:write")
    waves_ids = []
    for wave in _waves(seed):
        post_events(client, key, wave)
        wait_until(all_processed, what="the worker to evaluate the events")
        waves_ids.append(list(Event.objects.filter(client_id__in=[e["id"] for e in wave]).values_list("pk", flat=True)))
        enrollment.refresh_from_db()
        playbook = compiled_version(version=enrollment.version)
        ids, history = _history(learner)
        rebuilt = Tally.of(playbook.signals, playbook.sequences, "Europe/Berlin", history).to_dict()
        assert _caught_up(enrollment, ids, history) == json.loads(json.dumps({**rebuilt, "mark": ids[-1]}))

    live = [
        (d.kind, d.rule, d.explanation, json.dumps(d.values, sort_keys=True))
        for d in Decision.objects.filter(learner=learner).exclude(kind="next_module").order_by("pk")
    ]
    recomputed = [row for row in _recomputed(learner, enrollment, waves_ids) if row[0] != "next_module"]
    assert live == recomputed
    assert any(kind == "trigger" for kind, *_rest in live)  # the signals decided something


def test_rebuild_tallies_restores_a_tally_cleared_or_damaged(celery_worker_process, client):
    playbook_import(text=PLAYBOOK, publish=True)
    learner, _enrollment = _enrolled("tally-1")
    key, _ = api_key("events:write")
    for wave in _waves(1)[:3]:
        post_events(client, key, wave)
        wait_until(all_processed, what="the worker to evaluate the events")
    kept = Enrollment.objects.get(learner=learner).tally
    whole = _caught_up(Enrollment.objects.get(learner=learner), *_history(learner))
    Enrollment.objects.filter(learner=learner).update(tally={**kept, "skips": 999})

    call_command("rebuild_tallies", "--learner", "tally-1")

    assert Enrollment.objects.get(learner=learner).tally == whole  # every evaluated event folded
