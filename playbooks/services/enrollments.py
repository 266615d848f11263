"""Enrolments: learners join matching playbooks, and the engine's decisions move them along.

Evaluation works on batches (many enrolments, several events each) so that a worker's cost per event is the
engine's, not a dozen queries: the rows are read together, the engine runs in memory, the results are written back
with one bulk statement per table.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from common.bulk import bulk_update_rows
from identity.models import Learner
from playbooks import selectors
from playbooks.engine.journey import (
    CompiledPlaybook,
    Decision,
    JourneyState,
    LearnerFacts,
    Outcome,
    evaluate,
    known_history,
    matches_audience,
    migrate_state,
    progress,
    start,
)
from playbooks.engine.quiet import decisive_kinds
from playbooks.engine.signals import COMPLETED, PROGRESS, SKIPPED, EventFact
from playbooks.engine.tally import Tally
from playbooks.models import (
    AudienceExit,
    ContentModule,
    EndedReason,
    Enrollment,
    EnrollmentStatus,
    ModuleProgress,
    PlaybookVersion,
    ProgressStatus,
)

logger = logging.getLogger(__name__)

STORED_FIELDS = [
    "version",
    "migrate_to",
    "status",
    "state",
    "tally",
    "decisive_kinds",
    "current_step",
    "current_module",
    "current_reason",
    "steps_done",
    "steps_total",
    "completed_at",
    "ready_at",
    "updated_at",
]
# What an evaluation may change without the enrolment being written: its running tally and the state's clock.
LEFT_BEHIND = {"tally", "updated_at"}
UNWRITTEN_MOST = 16  # evaluated events an enrolment's stored tally may be behind by (each batch re-reads them)


@transaction.atomic
def learner_enroll(
    *,
    learner: Learner,
    now: datetime | None = None,
    versions: Sequence[PlaybookVersion] | None = None,
    params: dict[str, Any] | None = None,
) -> list[Enrollment]:
    """Enrol the learner in every published playbook (or every one of ``versions``, as the simulator does with a
    draft) whose audience they match; returns the new enrolments. ``params`` (the simulator's, checked against
    the version by the caller) are parameter values the journeys start with, over any a version choice gave on it.

    Idempotent: a playbook the learner is already enrolled in is left as it is.
    """
    now = now or timezone.now()
    # Under the learner's lock, as evaluation is: the identity task and a first event enrolling the same learner at
    # once would otherwise both insert, and one of them fail on the unique constraint. (The evaluation already
    # holds this lock; taking it again in the same transaction is free.)
    Learner.objects.select_for_update().filter(pk=learner.pk).first()
    facts = selectors.learner_facts(learner=learner)
    enrolled = set(Enrollment.objects.filter(learner=learner).values_list("playbook_id", flat=True))
    joining = [
        (learner, version)
        for version in (selectors.versions_published() if versions is None else versions)
        if version.playbook_id not in enrolled
        and matches_audience(selectors.compiled_version(version=version), facts, now=now)
    ]
    created, notes = [], []
    for (_learner, offered), (_l, choice, noted) in zip(joining, versions_chosen(joining, now=now), strict=True):
        version = choice.version
        playbook = selectors.compiled_version(version=version)
        # ``params`` were checked against the version offered: a choice that moved the learner elsewhere drops them.
        values = {**choice.params, **(params or {})} if version.pk == offered.pk else choice.params
        enrollment = _enrollment_new(learner, version, playbook, facts, now=now, params=values)
        enrollment.current_module_id = _module_ids([enrollment.next_slug]).get(enrollment.next_slug)
        enrollment.save()
        created.append(enrollment)
        notes.append(noted)
        logger.info(
            "playbooks.enrollment.created",
            extra={"learner": learner.pk, "version": version.pk, "playbook_id": version.playbook_id},
        )
    enrollments_chosen(created, notes, now=now)
    return created


# --- Version choice hook -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """What a learner joining a playbook starts on: a version, parameter values over its defaults (already checked
    against it by whoever chose them), and a note for the ``chosen`` hook (None: nothing to record)."""

    version: PlaybookVersion
    note: object = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionChoice:
    """Lets an app above this one start new enrolments on another version of their playbook than the one offered,
    or with other parameter values (insights' experiments: the learner's arm), and record why once they are saved.
    Apps register one when they load, as with versions.PUBLISH_CHECKS, so that this app does not import them. Both
    run under the learners' locks.

    ``choose`` returns a ``Choice`` per learner (given the version offered, or a later choice's); ``chosen`` gets the
    saved enrolments with their notes, only when there are some, so that a choice costs no query when nothing is
    chosen."""

    choose: Callable[[Sequence[tuple[Learner, PlaybookVersion]], datetime], list[Choice]]
    chosen: Callable[[Sequence[tuple[Enrollment, object]], datetime], None]


VERSION_CHOICES: list[VersionChoice] = []


def versions_chosen(
    joining: Sequence[tuple[Learner, PlaybookVersion]], *, now: datetime
) -> list[tuple[Learner, Choice, list]]:
    """Each joining learner's choice after the hooks (a later hook's parameter values over an earlier one's on the
    same version), with the hooks' notes (in VERSION_CHOICES order)."""
    rows = [(learner, Choice(version), []) for learner, version in joining]
    for hook in VERSION_CHOICES:
        if not rows:
            break
        answers = hook.choose([(learner, choice.version) for learner, choice, _notes in rows], now)
        rows = [
            (learner, _merged(before, answer), [*notes, answer.note])
            for (learner, before, notes), answer in zip(rows, answers, strict=True)
        ]
    return rows


def _merged(before: Choice, answer: Choice) -> Choice:
    if answer.version.pk != before.version.pk or not before.params:
        return answer
    return replace(answer, params={**before.params, **answer.params})


def enrollments_chosen(created: Sequence[Enrollment], notes: Sequence[list], *, now: datetime) -> None:
    for index, choice in enumerate(VERSION_CHOICES):
        noted = [(e, n[index]) for e, n in zip(created, notes, strict=True) if n and n[index] is not None]
        if noted:
            choice.chosen(noted, now)


# ---------------------------------------------------------------------------------------------------------------------


def _enrollment_new(
    learner: Learner,
    version: PlaybookVersion,
    playbook: CompiledPlaybook,
    facts: LearnerFacts,
    *,
    now: datetime,
    params: dict[str, Any] | None = None,
) -> Enrollment:
    """A new enrolment at the playbook's first step (not saved; its ``next_slug`` is for the caller to resolve)."""
    enrollment = Enrollment(learner=learner, playbook_id=version.playbook_id, version=version, enrolled_at=now)
    _apply(enrollment, playbook, start(playbook, facts, now=now, params=params), now=now)
    return enrollment


# Learners per transaction of a reroute: their row locks are held until it commits.
REROUTE_BATCH = 200
ENDED_FIELDS = ["status", "ended_at", "ended_reason", "tally", "updated_at"]


@dataclass
class RerouteResult:
    enrolled: int = 0  # new enrolments
    resumed: int = 0  # ended enrolments given back, where they stood
    ended: int = 0  # active enrolments ended: the learner left the audience or the company
    kept: int = 0  # active enrolments of learners outside the audience, kept (on_audience_exit: keep)

    def add(self, other: "RerouteResult") -> None:
        for name in ("enrolled", "resumed", "ended", "kept"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def learners_reroute(*, learner_ids: Sequence[int], now: datetime | None = None) -> RerouteResult:
    """Bring the learners' enrolments in line with who they are now (joiners, movers, leavers, returners).

    For an active learner, against each published playbook: enrolled if they match its audience and were never
    enrolled; an ended enrolment is given back, where it stood, if they match again; an active enrolment is ended
    (``left_audience``) if they no longer match and the playbook says ``on_audience_exit: end``, or kept. An
    inactive learner's active enrolments are all ended (``deactivated``). Completed enrolments are never touched,
    nor are enrolments in a playbook with no published version.

    Idempotent, and in batches: each batch holds its learners' row locks (as enrolment and evaluation do) and costs
    a handful of queries whatever its size. Reminders of an ended enrolment are cancelled by delivery when they
    fall due (it checks the enrolment's status then).
    """
    now = now or timezone.now()
    published = [(version, selectors.compiled_version(version=version)) for version in selectors.versions_published()]
    ids = sorted(set(learner_ids))
    result = RerouteResult()
    for start_at in range(0, len(ids), REROUTE_BATCH):
        result.add(_reroute_batch(ids[start_at : start_at + REROUTE_BATCH], published, now=now))
    return result


@transaction.atomic
def _reroute_batch(
    learner_ids: list[int], published: list[tuple[PlaybookVersion, CompiledPlaybook]], *, now: datetime
) -> RerouteResult:
    # In primary-key order, as evaluation locks them, so that the two cannot deadlock.
    learners = list(Learner.objects.select_for_update().filter(pk__in=learner_ids).order_by("pk"))
    facts = selectors.learner_facts_many(learners=[learner for learner in learners if learner.is_active])
    held: dict[int, dict[int, Enrollment]] = {learner.pk: {} for learner in learners}  # learner → playbook → it
    for enrollment in Enrollment.objects.filter(learner__in=learners):
        held[enrollment.learner_id][enrollment.playbook_id] = enrollment
    result = RerouteResult()
    joining: list[tuple[Learner, PlaybookVersion]] = []
    changed: list[Enrollment] = []
    for learner in learners:
        if not learner.is_active:
            changed.extend(
                _end(enrollment, EndedReason.DEACTIVATED, now=now)
                for enrollment in held[learner.pk].values()
                if enrollment.status == EnrollmentStatus.ACTIVE
            )
            continue
        for version, playbook in published:
            enrollment = held[learner.pk].get(version.playbook_id)
            if enrollment is not None and enrollment.status == EnrollmentStatus.COMPLETED:
                continue
            matches = matches_audience(playbook, facts[learner.pk], now=now)
            if enrollment is None and matches:
                joining.append((learner, version))
            elif enrollment is None:
                continue
            elif enrollment.status == EnrollmentStatus.ENDED and matches:
                changed.append(_resume(enrollment, now=now))
                result.resumed += 1
            elif enrollment.status == EnrollmentStatus.ACTIVE and not matches:
                if version.on_audience_exit == AudienceExit.KEEP:
                    result.kept += 1
                else:
                    changed.append(_end(enrollment, EndedReason.LEFT_AUDIENCE, now=now))
    chosen = versions_chosen(joining, now=now)
    new = [
        _enrollment_new(
            learner,
            choice.version,
            selectors.compiled_version(version=choice.version),
            facts[learner.pk],
            now=now,
            params=choice.params,
        )
        for learner, choice, _notes in chosen
    ]
    result.ended = sum(1 for enrollment in changed if enrollment.status == EnrollmentStatus.ENDED)
    result.enrolled = len(new)
    modules = _module_ids([enrollment.next_slug for enrollment in new])
    for enrollment in new:
        enrollment.current_module_id = modules.get(enrollment.next_slug)
    Enrollment.objects.bulk_create(new)
    enrollments_chosen(new, [notes for _learner, _choice, notes in chosen], now=now)
    bulk_update_rows(changed, ENDED_FIELDS)
    if new or changed:
        logger.info(
            "playbooks.reroute",
            extra={
                "learners": len(learners),
                "enrolled": result.enrolled,
                "resumed": result.resumed,
                "ended": result.ended,
                "kept": result.kept,
                "ended_enrollments": [e.pk for e in changed if e.status == EnrollmentStatus.ENDED][:100],
            },
        )
    return result


def _end(enrollment: Enrollment, reason: str, *, now: datetime) -> Enrollment:
    enrollment.status, enrollment.ended_at, enrollment.ended_reason = EnrollmentStatus.ENDED, now, reason
    enrollment.updated_at = now
    return enrollment


def _resume(enrollment: Enrollment, *, now: datetime) -> Enrollment:
    """Given back where it stood: its version, step, progress and journey state are as they were when it ended.
    Its tally is not: the events of the meantime were not folded into it, so the next evaluation rebuilds it."""
    enrollment.status, enrollment.ended_at, enrollment.ended_reason = EnrollmentStatus.ACTIVE, None, ""
    enrollment.tally = {}
    enrollment.updated_at = now
    return enrollment


def tallies_forget(*, learner_ids: Sequence[int]) -> int:
    """Clear the learners' stored tallies: events of theirs were stored as processed without being folded (a
    leaver's), so their next evaluation rebuilds from the history. Returns the enrolments cleared."""
    # The tally is stored as json, which has no equality in SQL: compared as the text written (json keeps it).
    stored = Enrollment.objects.filter(learner_id__in=learner_ids).annotate(text=Cast("tally", TextField()))
    return stored.exclude(text="{}").update(tally={})


@dataclass
class Advance:
    """One enrolment to take forward: the learner's events in occurred_at order, which of them are new, and whether
    the clock moves too.

    ``pending`` holds ``(index in history, event)`` for the events not yet evaluated, in order; ``clock``, when set,
    is a moment at which time-based conditions are evaluated after them.

    With ``tally`` (the enrolment's, read by the caller), ``history`` holds only the pending events, all later than
    the tally's last: they are folded into it one by one. Without it, ``history`` is what the caller read, and with
    ``rebuild`` (the learner's whole history) its tally is stored for the next evaluation; otherwise the stored
    tally is cleared, as the events evaluated may not be all there are. ``mark`` is the id of the learner's last
    event in occurred_at order, stored with the tally so that the caller can tell a late event from a new one.

    ``behind`` holds the events evaluated earlier that the stored tally has not folded, in order, all before the
    pending ones: an evaluation that changes nothing but the tally and the clock leaves the enrolment unwritten (at
    most ``UNWRITTEN_MOST`` events in a row), and the next one folds them first and moves the clock to the latest.
    ``written`` says whether the enrolment was stored.
    """

    enrollment: Enrollment
    facts: LearnerFacts
    history: Sequence[EventFact]
    pending: Sequence[tuple[int, EventFact]]
    clock: datetime | None = None
    results: list[tuple[int | None, datetime, Decision]] = field(default_factory=list)
    tally: Tally | None = None
    rebuild: bool = False
    mark: int | None = None
    behind: Sequence[EventFact] = ()
    written: bool = True


@transaction.atomic(savepoint=False)
def enrollments_advance(*, batch: list[Advance], progress: dict[int, list[EventFact]] | None = None) -> list[Advance]:
    """Run the engine for every enrolment of the batch and store the outcomes; fills each ``results``.

    ``progress`` holds module events of other enrolments (by id) to fold into their ModuleProgress rows with the
    batch's own, without running the engine: the events the worker marks evaluated on the quiet path
    (docs/evaluation.md). One read, insert and update of the progress rows serve both.

    The caller holds the learners' locks (enrolments change only under their learner's lock). Inside the caller's
    transaction no savepoint is taken (two round trips a batch): a failure here fails the caller's whole unit.
    """
    ran = [
        item
        for item in batch
        if item.enrollment.status == EnrollmentStatus.ACTIVE and (item.pending or item.clock is not None)
    ]
    stored = [_stored(item.enrollment) for item in ran]
    for item in ran:
        item.results = _run(item)
    progress_events = {
        **(progress or {}),
        **{item.enrollment.pk: [e for _i, e in item.pending if e.module] for item in ran},
    }
    modules = _module_ids(
        [item.enrollment.next_slug for item in ran]
        + [event.module for events in progress_events.values() for event in events]
    )
    for item, before in zip(ran, stored, strict=True):
        item.enrollment.current_module_id = modules.get(item.enrollment.next_slug)
        item.written = not _unchanged(item, before)
        if item.written:
            item.enrollment.updated_at = timezone.now()
    bulk_update_rows([item.enrollment for item in ran if item.written], STORED_FIELDS)
    _record_progress(progress_events, modules)
    return batch


def enrollment_preview(
    *,
    learner: Learner,
    version: PlaybookVersion,
    facts: LearnerFacts,
    now: datetime,
    params: dict[str, Any] | None = None,
) -> Enrollment | None:
    """The enrolment ``learner_enroll`` would start on ``version`` (None: the learner is outside its audience), not
    saved: the cohort simulator keeps its synthetic learners in memory. Version choices (experiments) are not
    applied: a simulation runs the version, and the parameter values, it was asked for."""
    playbook = selectors.compiled_version(version=version)
    if not matches_audience(playbook, facts, now=now):
        return None
    return _enrollment_new(learner, version, playbook, facts, now=now, params=params)


def enrollments_run(*, batch: list[Advance]) -> list[Advance]:
    """``enrollments_advance`` in memory: the engine's half only (each ``results`` filled, each enrolment updated in
    place), nothing read or written, for enrolments that were never saved."""
    for item in batch:
        if item.enrollment.status == EnrollmentStatus.ACTIVE and (item.pending or item.clock is not None):
            item.results = _run(item)
    return batch


@transaction.atomic
def enrollment_advance(
    *,
    enrollment: Enrollment,
    history: Sequence[EventFact],
    pending: Sequence[tuple[int, EventFact]],
    clock: datetime | None = None,
    facts: LearnerFacts | None = None,
) -> list[tuple[int | None, datetime, Decision]]:
    """One enrolment's ``enrollments_advance``, locking it (for callers that do not hold the learner's lock)."""
    enrollment = Enrollment.objects.select_for_update().select_related("version", "learner").get(pk=enrollment.pk)
    facts = facts or selectors.learner_facts(learner=enrollment.learner)
    item = Advance(enrollment, facts, history, pending, clock)
    enrollments_advance(batch=[item])
    return item.results


def enrollment_evaluate(
    *, enrollment: Enrollment, events: Sequence[EventFact], event: EventFact | None, now: datetime
) -> list[Decision]:
    """Take one event (or, with ``event=None``, the clock at ``now``) into the enrolment; returns the decisions.

    ``events`` are the learner's events in occurred_at order, ``event`` (the newest) included.
    """
    pending = [(len(events) - 1, event)] if event is not None else []
    results = enrollment_advance(
        enrollment=enrollment, history=events, pending=pending, clock=None if event is not None else now
    )
    return [decision for _index, _moment, decision in results]


def _stored(enrollment: Enrollment) -> tuple | None:
    """What the enrolment's row holds, but for what may be left behind: the tally and the state's clock. None when
    it cannot be left behind: a tally that does not say where it stops (its last event) would lose the events the
    next evaluation could not find. (The engine copies a state before changing it, so what this shares with the
    enrolment's state is not changed under it.)"""
    if not (enrollment.tally.get("mark") and enrollment.tally.get("last_at")):
        return None
    state = {key: value for key, value in enrollment.state.items() if key != "clock"}
    return state, *(getattr(enrollment, attname) for attname in _COMPARED)


_COMPARED = [Enrollment._meta.get_field(name).attname for name in STORED_FIELDS if name not in LEFT_BEHIND | {"state"}]


def _unchanged(item: Advance, stored: tuple | None) -> bool:
    """Whether writing the enrolment can wait: its evaluation decided nothing and changed nothing but the running
    tally and the clock (as most events do: progress, views, tickets), and the tally is not too far behind. The
    next evaluation folds the events the stored tally misses (``behind``) and so sees exactly the same."""
    return (
        not item.results
        and item.clock is None
        and item.tally is not None
        and not item.rebuild
        and len(item.behind) + len(item.pending) < UNWRITTEN_MOST
        and stored is not None
        and _stored(item.enrollment) == stored
    )


def _run(item: Advance) -> list[tuple[int | None, datetime, Decision]]:
    """The pending events one by one, each against the history known when it is evaluated, then the clock."""
    enrollment = item.enrollment
    state = JourneyState.from_dict(enrollment.state)
    if item.behind:  # evaluated, not written: they moved only the clock (and the tally, folded below)
        latest = max(event.occurred_at for event in item.behind)
        state.clock = max(state.clock_time, latest).isoformat() if state.clock else latest.isoformat()
    playbook = selectors.compiled_version(version=enrollment.version)
    waiting = [index for index, _event in item.pending]
    results: list[tuple[int | None, datetime, Decision]] = []
    outcome = None
    tally = item.tally
    if tally is not None:
        for event in item.behind:
            tally.fold(event)
    for position, (index, event) in enumerate(item.pending):
        if enrollment.migrate_to_id and event.type in (COMPLETED, SKIPPED):
            # A step boundary: the learner moves to the version the admin published, keeping shared progress. (The
            # caller gives no tally then: the new version's signals are built from the whole history.)
            enrollment.version, enrollment.migrate_to = enrollment.migrate_to, None
            playbook = selectors.compiled_version(version=enrollment.version)
            state = migrate_state(state, playbook)
        if tally is not None:
            tally.fold(event)
            seen = tally
        else:
            seen = known_history(item.history, index, pending=waiting[position:])
        outcome = evaluate(playbook, item.facts, state, events=seen, event=event, now=event.occurred_at)
        state = outcome.state
        results.extend((index, outcome.at, decision) for decision in outcome.decisions)
    if item.clock is not None:
        known = tally if tally is not None else item.history
        outcome = evaluate(playbook, item.facts, state, events=known, event=None, now=item.clock)
        results.extend((None, outcome.at, decision) for decision in outcome.decisions)
    if outcome is not None:
        _apply(enrollment, playbook, outcome, now=outcome.at)
    if tally is None and item.rebuild:
        tally = Tally.of(playbook.signals, playbook.sequences, item.facts.timezone, item.history)
    enrollment.tally = {**tally.to_dict(), "mark": item.mark} if tally is not None else {}
    return results


def _apply(enrollment: Enrollment, playbook: CompiledPlaybook, outcome: Outcome, *, now: datetime) -> None:
    """Copy the engine's outcome onto the enrolment (not saved); ``next_slug`` names the module for the caller
    to resolve, in one query for a whole batch."""
    position = outcome.position
    enrollment.state = outcome.state.to_dict()
    decisive = decisive_kinds(playbook, outcome.state)
    enrollment.decisive_kinds = sorted(decisive) if decisive is not None else None
    enrollment.current_step = position.step or ""
    enrollment.next_slug = position.module
    reason = position.reason
    enrollment.current_reason = (
        {"rule": reason.rule, "explanation": reason.explanation, "text": reason.text} if reason else {}
    )
    enrollment.steps_done, enrollment.steps_total = progress(playbook, outcome.state)
    if outcome.state.ready_at and enrollment.ready_at is None:
        enrollment.ready_at = datetime.fromisoformat(outcome.state.ready_at)
    if position.status == "completed" and enrollment.status == EnrollmentStatus.ACTIVE:
        enrollment.status = EnrollmentStatus.COMPLETED
        enrollment.completed_at = now


def _module_ids(slugs: Sequence[str | None]) -> dict[str, int]:
    wanted = {slug for slug in slugs if slug}
    return dict(ContentModule.objects.filter(slug__in=wanted).values_list("slug", "pk")) if wanted else {}


def _record_progress(events_by_enrollment: dict[int, list[EventFact]], modules: dict[str, int]) -> None:
    """Fold module events into ModuleProgress rows: one read, one insert and one update for the whole batch."""
    touched = {
        (pk, modules[e.module]) for pk, events in events_by_enrollment.items() for e in events if e.module in modules
    }
    if not touched:
        return
    existing = {
        (row.enrollment_id, row.module_id): row
        for row in ModuleProgress.objects.filter(
            enrollment_id__in={pk for pk, _ in touched}, module_id__in={m for _, m in touched}
        )
    }
    new: dict[tuple[int, int], ModuleProgress] = {}
    for enrollment_id, events in events_by_enrollment.items():
        for event in events:
            key = (enrollment_id, modules.get(event.module))
            if key[1] is None:
                continue  # events may name content outside the library
            row = existing.get(key) or new.setdefault(
                key, ModuleProgress(enrollment_id=enrollment_id, module_id=key[1], started_at=event.occurred_at)
            )
            _fold(row, event)
    ModuleProgress.objects.bulk_create(new.values())
    if existing:
        bulk_update_rows(
            [row for key, row in existing.items() if key in touched],
            ["status", "seconds", "completion_pct", "finished_at", "updated_at"],
        )


def _fold(row: ModuleProgress, event: EventFact) -> None:
    properties = event.properties
    if event.type == PROGRESS:
        row.seconds = int(_number(properties.get("seconds"), row.seconds))
        row.completion_pct = min(int(_number(properties.get("completion_pct"), row.completion_pct)), 100)
    elif event.type == COMPLETED:
        row.status, row.completion_pct, row.finished_at = ProgressStatus.COMPLETED, 100, event.occurred_at
        row.seconds = int(_number(properties.get("duration_seconds"), row.seconds))
    elif event.type == SKIPPED and row.status != ProgressStatus.COMPLETED:
        row.status, row.finished_at = ProgressStatus.SKIPPED, event.occurred_at
    row.updated_at = timezone.now()


def _number(value, default: float) -> float:
    return value if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else default
