"""Evaluation: learners' new events (and the clock) through their enrolments, under the learners' row locks.

A task hands over a batch of learners; one transaction holds everything decided for them: enrolment states, module
progress, the decision log, flags, and the events marked processed. The rows are read and written a table at a
time, so a worker's cost per event is close to the engine's. A redelivered task finds nothing pending and does
nothing; two workers given the same learner queue on its lock, and the second finds nothing pending either.

Time only moves forward for a learner (the engine keeps their clock): a late event is evaluated at the clock against
everything known then, and a clock sweep older than the clock changes nothing (docs/evaluation.md).
"""

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from identity.models import Learner
from playbooks.engine.journey import LearnerFacts
from playbooks.engine.quiet import MOVES
from playbooks.engine.signals import COMPLETED, SKIPPED, EventFact
from playbooks.engine.tally import Tally
from playbooks.models import Enrollment, EnrollmentStatus, PlaybookVersion
from playbooks.selectors import compiled_version, learner_facts_many, resting_enrollments
from playbooks.services import Advance, enrollments_advance, learner_enroll, tallies_forget
from playbooks.services.enrollments import UNWRITTEN_MOST
from signals_app.models import Decision, Event, Flag, Quarantine
from signals_app.services.flag_notices import flags_notify_managers
from signals_app.services.reminders import Cancellation, reminders_cancel, reminders_schedule
from signals_app.services.webhooks import webhooks_enqueue

logger = logging.getLogger(__name__)

History = tuple[list[int], list[EventFact], list[bool]]  # event ids, the engine's facts, whether each was evaluated
NO_HISTORY: History = ([], [], [])


def learner_evaluate_pending(*, learner_id: int, now: datetime | None = None) -> int:
    return learners_evaluate_pending(learner_ids=[learner_id], now=now).processed


def learner_evaluate_clock(*, learner_id: int, now: datetime) -> int:
    return learners_evaluate_clock(learner_ids=[learner_id], now=now)


@dataclass(frozen=True)
class PendingResult:
    processed: int  # events evaluated
    busy: list[int]  # learners another worker holds: the caller hands them back to the queue
    decisions: int = 0
    taken: int = 0  # learners taken along (of the ``along`` offered)
    quiet: int = 0  # of the events evaluated, those marked on the quiet path (no engine run)
    backlog: bool = False  # a draining task stopped on time with learners still waiting


@transaction.atomic
def learners_evaluate_pending(
    *, learner_ids: list[int], now: datetime | None = None, along: Sequence[int] = (), room: int = 0
) -> PendingResult:
    """Evaluate the learners' unprocessed events in occurred_at order, and those of up to ``room`` learners of
    ``along`` (learners waiting for no task in particular, in the order given) that no other worker holds.

    Learners locked by another worker are skipped, not waited for (two tasks often share learners, and waiting
    would make the workers take turns); of ``learner_ids`` they are returned as ``busy``.
    """
    learners = _lock(learner_ids)
    busy = _busy(set(learner_ids) - set(learners))
    taken = _lock_along([pk for pk in along if pk not in learners], room) if room > 0 else {}
    learners |= taken
    pending = _histories(Event.objects.filter(learner_id__in=list(learners), processed_at__isnull=True))
    processed, decisions, quiet = _evaluate(learners, pending, now=now or timezone.now(), clock=False)
    return PendingResult(processed, busy, decisions, len(taken), quiet=quiet)


@transaction.atomic
def learners_evaluate_clock(*, learner_ids: list[int], now: datetime) -> int:
    """Let time-based conditions (idle_hours, days_enrolled, now.*, windows) fire at ``now``; returns decisions.

    Events still waiting for their task are evaluated first, so the clock never runs ahead of what is known.
    """
    learners = _lock(learner_ids, skip_locked=False)  # the clock sweep is not in a hurry: wait for the lock
    active = [pk for pk, learner in learners.items() if learner.is_active]
    pending = _histories(Event.objects.filter(learner_id__in=active, processed_at__isnull=True))
    return _evaluate(learners, pending, now=now, clock=True)[1]


def _evaluate(
    learners: dict[int, Learner], pending: dict[int, History], *, now: datetime, clock: bool
) -> tuple[int, int, int]:
    """Each active learner's pending events (and, with ``clock``, the clock at ``now``) through their enrolments;
    returns (events evaluated, decisions logged, events of those on the quiet path).

    An enrolment's signals come from its running tally, folded with the pending events only (after the evaluated
    events it was left behind by: ``_behind``). The learner's whole history is read (one statement for the batch)
    only for those whose tally must be rebuilt: none stored yet or built for other definitions (a new version,
    another time zone), a late event (before the last one evaluated), a version migration at this batch's step
    boundary, a newcomer's first enrolment.
    """
    pending_ids = [pk for ids, _facts, _done in pending.values() for pk in ids]
    active = [learner for learner in learners.values() if learner.is_active and (clock or learner.pk in pending)]
    quiet, quiet_progress = (set(), {}) if clock else _take_quiet(active, pending)
    quiet_events = sum(len(pending[pk][0]) for pk in quiet)
    if quiet:
        active = [learner for learner in active if learner.pk not in quiet]
        pending = {pk: history for pk, history in pending.items() if pk not in quiet}
    leavers = [pk for pk in pending if not learners[pk].is_active]
    if leavers:
        tallies_forget(learner_ids=leavers)  # their events are marked processed below without being folded
    enrollments, enrolled, facts = _enrollments(active)
    behind = _behind(enrollments)
    plans = {e.pk: _plan(e, facts[e.learner_id], pending, behind.get(e.pk, NO_HISTORY)) for e in enrollments}
    rebuilt = {e.learner_id for e in enrollments if plans[e.pk] is None and _runs(e, pending, clock)}
    rebuilt |= {learner.pk for learner in active if learner.pk not in enrolled and learner.pk in pending}
    histories = {**pending, **_histories(Event.objects.filter(learner_id__in=rebuilt))} if rebuilt else pending
    enrollments += _enroll_newcomers([learner for learner in active if learner.pk not in enrolled], histories)
    batch = []
    for enrollment in enrollments:
        ids, facts_list, done = histories.get(enrollment.learner_id, NO_HISTORY)
        waiting = [(index, facts_list[index]) for index, seen in enumerate(done) if not seen]
        ticks = clock and compiled_version(version=enrollment.version).uses_clock
        if waiting or ticks:  # as _runs says
            rebuild = enrollment.learner_id in rebuilt
            tally = None if rebuild else plans[enrollment.pk]
            unfolded_ids, unfolded, _done = behind.get(enrollment.pk, NO_HISTORY)
            mark = ids[-1] if ids else unfolded_ids[-1] if unfolded_ids else enrollment.tally.get("mark")
            item = Advance(enrollment, facts[enrollment.learner_id], facts_list, waiting, now if ticks else None)
            item.tally, item.rebuild, item.mark, item.behind = tally, rebuild, mark, unfolded
            batch.append(item)
    advanced = enrollments_advance(batch=batch, progress=quiet_progress)
    decisions = _log(advanced, learners, histories)
    decisions += len(reminders_cancel(cancellations=_cancellations(advanced, histories)))
    if pending_ids:
        Event.objects.filter(pk__in=pending_ids).update(processed_at=now)
    return len(pending_ids), decisions, quiet_events


def _take_quiet(learners: list[Learner], pending: dict[int, History]) -> tuple[set[int], dict[int, list[EventFact]]]:
    """Of the learners, those whose pending events leave every journey of theirs as it stands (the quiet path,
    docs/evaluation.md): their events are marked evaluated with the rest of the batch's, without the enrolments
    being read or the engine run. Returns them, and their module events by enrolment (recorded with the batch's).

    A learner qualifies when, for every active enrolment, none of the events is of a type the enrolment's stored
    answer calls decisive (``decisive_kinds``, the engine's), the stored tally says where it ends, the events are
    all later than every event evaluated (a late one rebuilds the tally), and the tally stays within
    ``UNWRITTEN_MOST`` events: the next evaluation folds them exactly as it folds those of an unwritten one.
    """
    if connection.vendor != "postgresql":
        return set(), {}  # the embedded default evaluates every event: its batches are a learner or two
    kinds = {
        learner.pk: {fact.type for fact in pending[learner.pk][1]} for learner in learners if learner.pk in pending
    }
    wanted = [learner_id for learner_id, types in kinds.items() if not MOVES & types]
    if not wanted:
        return set(), {}
    resting = resting_enrollments(learner_ids=wanted)
    bounds: dict[int, tuple[datetime, int, datetime]] = {}  # learner → the earliest tally end, the latest one
    for learner_id, rows in resting.items():
        types = kinds[learner_id]
        if all(row.decisive is not None and not types & row.decisive and row.last_at and row.mark for row in rows):
            earliest = min((row.last_at, row.mark) for row in rows)
            bounds[learner_id] = (*earliest, max(row.last_at for row in rows))
    if not bounds:
        return set(), {}
    learner_ids, moments, marks = zip(*((pk, at, mark) for pk, (at, mark, _latest) in bounds.items()), strict=True)
    with connection.cursor() as cursor:
        cursor.execute(_SINCE_SQL, [list(learner_ids), list(moments), list(marks)])
        since = {learner_id: (count, newest) for learner_id, count, newest in cursor}
    quiet = set()
    for learner_id, (_at, _mark, latest) in bounds.items():
        count, newest = since.get(learner_id, (0, None))
        ids, facts, _done = pending[learner_id]
        if facts[0].occurred_at > max(latest, newest or latest) and count + len(ids) < UNWRITTEN_MOST:
            quiet.add(learner_id)
    module_events = {
        row.pk: [fact for fact in pending[learner_id][1] if fact.module]
        for learner_id in quiet
        for row in resting[learner_id]
    }
    return quiet, module_events


# The evaluated events after each learner's tally end (parameters: learner ids, last_at, mark), by index.
_AFTER_TALLY = """
    FROM signals_app_event e
    JOIN unnest(%s::bigint[], %s::timestamptz[], %s::bigint[]) AS b(learner_id, last_at, mark)
      ON e.learner_id = b.learner_id AND e.occurred_at >= b.last_at
    WHERE e.processed_at IS NOT NULL AND (e.occurred_at, e.id) > (b.last_at, b.mark)
"""
# Per learner, how many events its earliest tally end is behind by, and the latest of them.
_SINCE_SQL = f"SELECT b.learner_id, count(*), max(e.occurred_at) {_AFTER_TALLY} GROUP BY b.learner_id"


def _plan(enrollment: Enrollment, facts: LearnerFacts, pending: dict[int, History], behind: History) -> Tally | None:
    """The enrolment's stored tally, if the learner's pending events can be folded into it (after the evaluated
    events it is ``behind`` by); None: rebuild."""
    playbook = compiled_version(version=enrollment.version)
    tally = Tally.from_dict(enrollment.tally, playbook.signals, playbook.sequences, facts.timezone)
    ids, events, _done = pending.get(enrollment.learner_id, NO_HISTORY)
    if tally is None or not ids:
        return tally
    unfolded_ids, unfolded, _done = behind
    last = (tally.last_at, enrollment.tally["mark"] or 0)
    if unfolded_ids:
        last = (unfolded[-1].occurred_at, unfolded_ids[-1])
    if last[0] is not None and (events[0].occurred_at, ids[0]) < last:
        return None  # a late event: sequences, sessions and streaks depend on the order
    if enrollment.migrate_to_id and any(event.type in (COMPLETED, SKIPPED) for event in events):
        return None  # it moves to another version at this step boundary, with other signals
    return tally


def _runs(enrollment: Enrollment, pending: dict[int, History], clock: bool) -> bool:
    """Whether the batch evaluates the enrolment: it has pending events, or the clock moves and it reads it."""
    return enrollment.learner_id in pending or (clock and compiled_version(version=enrollment.version).uses_clock)


REBUILD_BATCH = 200  # learners per transaction of a rebuild: their row locks are held until it commits


def tallies_rebuild(*, learner_ids: list[int]) -> int:
    """Rebuild the tallies of the learners' active enrolments from their evaluated events (an operator's repair,
    ``manage.py rebuild_tallies``); returns the enrolments rebuilt. Events still pending are folded by their own
    evaluation, or cause another rebuild there if they are late."""
    ids = sorted(set(learner_ids))
    return sum(_rebuild_batch(ids[at : at + REBUILD_BATCH]) for at in range(0, len(ids), REBUILD_BATCH))


@transaction.atomic
def _rebuild_batch(learner_ids: list[int]) -> int:
    learners = _lock(learner_ids, skip_locked=False)
    enrollments, _enrolled, facts = _enrollments([learner for learner in learners.values() if learner.is_active])
    histories = _histories(Event.objects.filter(learner_id__in=list(learners), processed_at__isnull=False))
    for enrollment in enrollments:
        ids, events, _done = histories.get(enrollment.learner_id, NO_HISTORY)
        playbook = compiled_version(version=enrollment.version)
        tally = Tally.of(playbook.signals, playbook.sequences, facts[enrollment.learner_id].timezone, events)
        enrollment.tally = {**tally.to_dict(), "mark": ids[-1] if ids else None}
    Enrollment.objects.bulk_update(enrollments, ["tally"], batch_size=500)
    return len(enrollments)


def _busy(not_locked: set[int]) -> list[int]:
    """Of the learners not locked, those another worker holds (the rest are quarantined: they are not retried)."""
    if not not_locked:
        return []
    quarantined = Quarantine.objects.filter(learner_id__in=not_locked).values_list("learner_id", flat=True)
    return sorted(not_locked - set(quarantined))


def _lock(learner_ids: list[int], *, skip_locked: bool = True) -> dict[int, Learner]:
    # In primary-key order, so that workers locking overlapping batches cannot deadlock. Quarantined learners wait.
    locked = _lockable(skip_locked=skip_locked).filter(pk__in=learner_ids).order_by("pk")
    return {learner.pk: learner for learner in locked}


def _lockable(*, skip_locked: bool) -> QuerySet[Learner]:
    """Learners to lock for evaluation: quarantined ones wait for an admin."""
    return Learner.objects.select_for_update(skip_locked=skip_locked).exclude(
        pk__in=Quarantine.objects.values("learner_id")
    )


def _lock_along(candidates: list[int], room: int) -> dict[int, Learner]:
    """Up to ``room`` of the candidates, in their order, skipping those another worker holds: two workers draining
    the same backlog take different learners instead of the second finding all of the first's locked."""
    if not candidates:
        return {}
    locked = _lockable(skip_locked=True)
    if connection.vendor == "postgresql":
        position = RawSQL('array_position(%s::bigint[], "identity_learner"."id")', (candidates,))
        locked = locked.filter(pk__in=candidates).order_by(position)[:room]
    else:  # SQLite has one writer at a time: nobody else holds a learner
        locked = locked.filter(pk__in=candidates[:room])
    return {learner.pk: learner for learner in locked}


def _histories(events) -> dict[int, History]:
    """Each learner's events in occurred_at order: ids, the engine's facts, and whether each was processed.

    No model instances: the history is re-read for every batch and is the largest read a worker makes.
    """
    return _collect(events.order_by("learner_id", "occurred_at", "pk").values_list(*_HISTORY_COLUMNS))


_HISTORY_COLUMNS = ("pk", "learner_id", "type", "occurred_at", "module", "properties", "processed_at")
_BEHIND_SQL = f"""
    SELECT e.id, e.learner_id, e.type, e.occurred_at, e.module, e.properties, e.processed_at {_AFTER_TALLY}
    ORDER BY e.learner_id, e.occurred_at, e.id
"""


def _behind(enrollments: list[Enrollment]) -> dict[int, History]:
    """Per enrolment, the evaluated events its stored tally has not folded (the enrolment was left unwritten:
    ``enrollments_advance``), in occurred_at order: read from each tally's last event on, by index."""
    bounds = {
        e.pk: (datetime.fromisoformat(e.tally["last_at"]), e.tally["mark"])
        for e in enrollments
        if e.tally.get("mark") and e.tally.get("last_at")
    }
    earliest: dict[int, tuple[datetime, int]] = {}
    for enrollment in enrollments:
        if enrollment.pk in bounds:
            bound = bounds[enrollment.pk]
            earliest[enrollment.learner_id] = min(earliest.get(enrollment.learner_id, bound), bound)
    if not earliest:
        return {}
    if connection.vendor == "postgresql":
        learner_ids, moments, marks = zip(*((pk, at, mark) for pk, (at, mark) in earliest.items()), strict=True)
        with connection.cursor() as cursor:
            cursor.execute(_BEHIND_SQL, [list(learner_ids), list(moments), list(marks)])
            rows = [(*row[:5], json.loads(row[5]) if isinstance(row[5], str) else row[5], row[6]) for row in cursor]
        histories = _collect(rows)
    else:  # the embedded default: a few learners per batch
        after = Q()
        for learner_id, (at, mark) in earliest.items():
            later = Q(occurred_at__gt=at) | Q(occurred_at=at, pk__gt=mark)
            after |= Q(learner_id=learner_id) & later
        histories = _histories(Event.objects.filter(after, processed_at__isnull=False))
    behind: dict[int, History] = {}
    for enrollment in enrollments:
        if enrollment.pk not in bounds:
            continue
        ids, facts, done = histories.get(enrollment.learner_id, NO_HISTORY)
        kept = [index for index, pk in enumerate(ids) if (facts[index].occurred_at, pk) > bounds[enrollment.pk]]
        if kept:
            behind[enrollment.pk] = ([ids[i] for i in kept], [facts[i] for i in kept], [done[i] for i in kept])
    return behind


def _collect(rows) -> dict[int, History]:
    """``_HISTORY_COLUMNS`` rows, in learner and occurred_at order, grouped per learner."""
    histories: dict[int, History] = {}
    for pk, learner_id, kind, occurred_at, module, properties, processed_at in rows:
        ids, facts, processed = histories.setdefault(learner_id, ([], [], []))
        ids.append(pk)
        facts.append(EventFact(kind, occurred_at, module or None, properties))
        processed.append(processed_at is not None)
    return histories


def _enroll_newcomers(learners: list[Learner], histories: dict[int, History]) -> list[Enrollment]:
    """Learners with no enrolment yet (their identity change is still queued) are enrolled now."""
    created = []
    for learner in learners:
        if learner.pk in histories and histories[learner.pk][1]:
            created += learner_enroll(learner=learner, now=histories[learner.pk][1][0].occurred_at)
    return [enrollment for enrollment in created if enrollment.status == EnrollmentStatus.ACTIVE]


def _enrollments(learners: list[Learner]) -> tuple[list[Enrollment], set[int], dict[int, LearnerFacts]]:
    """The learners' active enrolments, the learners with any enrolment, and the learners' facts."""
    facts = learner_facts_many(learners=learners)
    rows = list(Enrollment.objects.filter(learner__in=learners).order_by("learner_id", "pk"))
    active = [enrollment for enrollment in rows if enrollment.status == EnrollmentStatus.ACTIVE]
    # A batch's enrolments share a few versions: read once each, not joined to every row (nor their saved journeys,
    # whose JSON decoded with every enrolment was a fifth of a batch's reads).
    wanted = {e.version_id for e in active} | {e.migrate_to_id for e in active if e.migrate_to_id}
    versions = PlaybookVersion.objects.defer("tests").in_bulk(wanted) if wanted else {}
    for enrollment in active:
        enrollment.version = versions[enrollment.version_id]
        if enrollment.migrate_to_id:
            enrollment.migrate_to = versions[enrollment.migrate_to_id]
    return active, {enrollment.learner_id for enrollment in rows}, facts


def _log(batch: list[Advance], learners: dict[int, Learner], histories: dict[int, History]) -> int:
    """The decision log and flags for a batch: one insert each."""
    decisions: list[Decision] = []
    flags: list[tuple[Decision, str]] = []
    for item in batch:
        enrollment = item.enrollment
        ids = histories.get(enrollment.learner_id, NO_HISTORY)[0]
        sequence: dict[str, int] = defaultdict(int)
        for index, moment, decision in item.results:
            event_id = ids[index] if index is not None else None
            anchor = f"e{event_id}" if event_id is not None else f"clock:{moment.isoformat()}"
            sequence[anchor] += 1
            row = Decision(
                learner=learners[enrollment.learner_id],
                enrollment=enrollment,
                event_id=event_id,
                dedupe_key=f"{enrollment.pk}:{anchor}:{sequence[anchor]}",
                kind=decision.kind,
                rule=decision.rule,
                explanation=decision.explanation,
                text=decision.text,
                values=decision.values,
                step=decision.step or "",
                module=decision.module or "",
                action=decision.action,
                decided_at=moment,
            )
            decisions.append(row)
            if decision.action and "flag" in decision.action:
                flags.append((row, decision.action["flag"]))
    Decision.objects.bulk_create(decisions)
    policy = reminders_schedule(decisions=decisions)
    webhooks_enqueue(decisions=decisions)
    raised = Flag.objects.bulk_create(
        Flag(learner=row.learner, enrollment=row.enrollment, decision=row, name=name, raised_at=row.decided_at)
        for row, name in flags
    )
    flags_notify_managers(flags=raised)
    if flags:
        logger.info("signals.flag.raised", extra={"flags": len(flags)})
    return len(decisions) + len(policy)


def _cancellations(batch: list[Advance], histories: dict[int, History]) -> list[Cancellation]:
    """Reminders the batch made pointless: about a module now completed or skipped, or of a finished playbook."""
    cancellations = []
    for item in batch:
        enrollment = item.enrollment
        if not item.results and not item.pending:
            continue
        clock = datetime.fromisoformat(enrollment.state["clock"]) if enrollment.state.get("clock") else None
        ids = histories.get(enrollment.learner_id, NO_HISTORY)[0]
        for index, event in item.pending:
            if event.type in (COMPLETED, SKIPPED) and event.module:
                verb = "completed" if event.type == COMPLETED else "skipped"
                at = max(event.occurred_at, clock) if clock else event.occurred_at
                reason = f"the learner {verb} {event.module}"
                cancellations.append(Cancellation(enrollment.pk, reason, at, ids[index], event.module))
        if enrollment.status == EnrollmentStatus.COMPLETED and enrollment.completed_at:
            cancellations.append(
                Cancellation(enrollment.pk, "the learner completed the playbook", enrollment.completed_at)
            )
    return cancellations
