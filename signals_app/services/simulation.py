"""The simulator (docs/journeys.md): a synthetic learner's journey through the production services on a simulated
clock, inside a transaction that is always rolled back.

There is no second engine. The journey's learner is created, enrolled, sent events and swept by the clock with the
same services a worker runs, and what it got is read back with the same selectors the API uses. Only the choice of
*when* to call them is the simulator's: events between two moments that matter go in one batch (the worker
evaluates them one by one anyway), and the clock sweep, which production runs every ``CLOCK_SWEEP_EVERY``, is
called only at the sweeps where ``clock_wakeup`` says a time-based condition turns.
"""

import uuid
from bisect import insort
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from common.logging import simulating
from delivery.services import preferences_update
from identity.models import Learner, Role
from identity.services import learner_create, role_upsert
from playbooks.engine.durations import format_duration
from playbooks.engine.journey import (
    CompiledPlaybook,
    JourneyState,
    LearnerFacts,
    clock_wakeup,
    evaluate,
    trigger_rule,
)
from playbooks.engine.journeys import Journey, JourneyInvalid, parse_journey, saved_journeys
from playbooks.engine.parameters import values_text
from playbooks.engine.reminders import NO_PREFERENCES
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import SpecError
from playbooks.models import Enrollment, ModuleProgress, PlaybookVersion, ProgressStatus
from playbooks.selectors import compiled_version, learner_facts, next_module_for_learner, version_get
from playbooks.services import learner_enroll, playbook_stage
from signals_app.clock import CLOCK_SWEEP_EVERY
from signals_app.event_input import MAX_BATCH
from signals_app.models import Decision, Reminder, ReminderStatus
from signals_app.services.evaluation import learners_evaluate_clock, learners_evaluate_pending
from signals_app.services.ingestion import BatchInvalid, events_record

SOURCE = "simulation"


@dataclass(frozen=True)
class Observation:
    """What the learner's next module was at a moment, as ``GET …/next-module`` would have answered."""

    status: str  # active | completed | not_enrolled
    module: str | None
    rule: str = ""
    explanation: str = ""


@dataclass
class ExpectationResult:
    kind: str
    expected: Any
    actual: Any
    passed: bool
    at: str | None  # the offset it was checked at, as written in the journey ("6m"); None: at the end
    message: str
    decisions: list[dict[str, Any]] = field(default_factory=list)  # the decision log up to then, when it failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at,
            "expected": self.expected,
            "actual": self.actual,
            "passed": self.passed,
            "message": self.message,
            **({"decisions": self.decisions} if not self.passed else {}),
        }


@dataclass
class SimulationResult:
    playbook: str
    version: int
    version_status: str
    learner: str
    timezone: str
    start: datetime
    until: datetime
    enrolled: bool
    timeline: list[dict[str, Any]]
    final: dict[str, Any]
    expectations: list[ExpectationResult]
    params: dict[str, Any] = field(default_factory=dict)  # the parameter values it ran under (``params:``)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.expectations)

    @property
    def params_text(self) -> str:
        return values_text(self.params)

    def as_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "version": self.version,
            "version_status": self.version_status,
            "learner": self.learner,
            "params": self.params,
            "start": iso(self.start),
            "until": iso(self.until),
            "enrolled": self.enrolled,
            "timeline": self.timeline,
            "final": self.final,
            "expectations": [result.as_dict() for result in self.expectations],
            "passed": self.passed,
        }


def journey_simulate(
    *, document: Any, version: PlaybookVersion | None = None, playbook_text: str | None = None
) -> SimulationResult:
    """Run a loaded journey file against ``version``, or a playbook file, or else the published (or newest) version
    of the playbook it names. Nothing it writes outlives the call.

    Raises ``JourneyInvalid`` for a journey that cannot run (every problem, by path) and ``PlaybookInvalid`` for a
    playbook file that would not import.
    """
    with simulating(), transaction.atomic():
        try:
            journey, target = journey_parse(document=document, version=version, playbook_text=playbook_text)
            return journey_run(journey=journey, version=target)
        finally:
            transaction.set_rollback(True)  # the throwaway transaction: always undone, on success too


def journey_parse(
    *, document: Any, version: PlaybookVersion | None = None, playbook_text: str | None = None
) -> tuple[Journey, PlaybookVersion]:
    """The journey checked against the version it will run on (staging a playbook file first, in the caller's
    transaction)."""
    if playbook_text is not None:
        version = playbook_stage(text=playbook_text).version
    elif version is None:
        slug = document.get("playbook") if isinstance(document, dict) else None
        version = version_get(slug=slug) if isinstance(slug, str) else None
        if version is None:
            known = sorted(PlaybookVersion.objects.values_list("playbook__slug", flat=True).distinct())
            raise JourneyInvalid([SpecError("playbook", f"unknown playbook {slug!r}; playbooks: {', '.join(known)}")])
    spec = compiled_version(version=version).spec
    return parse_journey(document, playbooks={spec.slug: spec}), version


def journey_run(*, journey: Journey, version: PlaybookVersion) -> SimulationResult:
    """Run a parsed journey in the caller's transaction (which the caller must roll back)."""
    return JourneyRun(journey, version).result()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class JourneyRun:
    def __init__(self, journey: Journey, version: PlaybookVersion) -> None:
        self.journey = journey
        self.version = version
        self.start = journey.start
        self.until = journey.start + journey.until
        self.moments = [self.start + event.at for event in journey.events]
        self.history = [
            EventFact(event.type, moment, event.module or None, event.properties)
            for event, moment in zip(journey.events, self.moments, strict=True)
        ]
        # The order the platform receives the events in: as they happen, but for those that arrive late.
        self.arrivals = [self.start + event.arrival for event in journey.events]
        self.deliveries = sorted(range(len(journey.events)), key=lambda i: (self.arrivals[i], self.moments[i], i))
        self.observations: dict[datetime, Observation] = {}
        self.enrolment: Observation | None = None

    def run(self) -> bool:
        """Play the journey through the services; returns whether the learner was enrolled at all."""
        self.learner = self._learner()
        enrolled = self._enroll()
        if enrolled:
            self.enrolment = self._observe()  # the first step, reached at enrolment (not in the decision log)
            self._play()
        else:
            not_enrolled = Observation("not_enrolled", None)
            self.observations = {self._at(e.at): not_enrolled for e in self.journey.expectations if e.at is not None}
        self.observations[self.until] = self._observe()
        return enrolled

    def result(self) -> SimulationResult:
        enrolled = self.run()
        timeline = self._timeline()
        return SimulationResult(
            playbook=self.version.playbook.slug,
            version=self.version.number,
            version_status=self.version.status,
            learner=self.journey.external_id,
            timezone=self.journey.timezone,
            start=self.start,
            until=self.until,
            enrolled=enrolled,
            timeline=timeline,
            final=self._final(),
            expectations=[self._check(expectation, timeline, enrolled) for expectation in self.journey.expectations],
            params=dict(self.journey.params),
        )

    def _learner(self) -> Learner:
        journey = self.journey
        existing = {role.slug: role for role in Role.objects.filter(slug__in=journey.roles)}
        roles = [existing.get(slug) or role_upsert(slug=slug, name=slug) for slug in journey.roles]
        # A reserved id, so a synthetic learner can never collide with a real one of the same name.
        learner = learner_create(
            external_id=f"simulation:{uuid.uuid4().hex}:{journey.external_id}"[:255],
            timezone=journey.timezone,
            attributes=journey.attributes,
            roles=roles,
        )
        if journey.preferences != NO_PREFERENCES:  # the learner's own delivery preferences, as on their page
            preferences = journey.preferences
            start, end = preferences.quiet_hours or ("", "")
            preferences_update(
                learner=learner,
                quiet_hours_start=start,
                quiet_hours_end=end,
                snoozed_until=preferences.snoozed_until,
                opted_out=sorted(preferences.opted_out),
            )
        return learner

    def _at(self, offset: timedelta) -> datetime:
        return self.start + offset

    # --- driving the services ---------------------------------------------------------------------------------
    # The hooks a run in memory (signals_app.services.cohort_batch) replaces: enrolling, the clock sweep, sending
    # events, reading the stored state and the next module. ``_play`` decides when they are called, for both.

    def _enroll(self) -> bool:
        journey = self.journey
        return bool(
            learner_enroll(learner=self.learner, now=self.start, versions=[self.version], params=journey.params)
        )

    def _learner_facts(self) -> LearnerFacts:
        return learner_facts(learner=self.learner)

    def _compiled(self) -> CompiledPlaybook:
        return compiled_version(version=self.version)

    def _sweep(self, now: datetime) -> None:
        learners_evaluate_clock(learner_ids=[self.learner.pk], now=now)

    def _play(self) -> None:
        playbook = self._compiled()
        facts = self._learner_facts()
        checkpoints = sorted({self._at(e.at) for e in self.journey.expectations if e.at is not None})
        sent, moment = 0, self.start
        known: list[int] = []  # the events delivered so far, in occurred_at order
        while True:
            # Walk forward in memory from what the services stored, to the next moment they must be called at.
            state = self._stored_state()
            upto, last = sent, moment
            while True:
                index = self.deliveries[upto] if upto < len(self.deliveries) else None
                arrival = self.arrivals[index] if index is not None else None
                # Events at a checkpoint's moment are delivered before it is observed; one at the start is, too.
                checkpoint = next((c for c in checkpoints if c > last or self._unobserved(c, last)), None)
                limit = min(m for m in (arrival, checkpoint, self.until) if m is not None)
                ticks = self._ticks(after=last, before=limit, inclusive=limit != arrival)
                wakeup = clock_wakeup(playbook, facts, state, events=self._facts(known), ticks=ticks)
                if wakeup is not None:
                    stop, kind = wakeup, "clock"
                    break
                if limit == arrival and self.journey.events[index].is_late:
                    stop, kind = arrival, "late"  # sent on its own, through the services: they decide its moment
                    break
                if limit == arrival:
                    # Delivered as it happened: the newest event, so the history known is everything before it.
                    known.append(index)
                    seen = self._facts(known)
                    state = evaluate(playbook, facts, state, events=seen, event=seen[-1], now=arrival).state
                    upto, last = upto + 1, arrival
                    continue
                stop, kind = limit, "observe" if limit == checkpoint else "until"
                break
            self._send(self.deliveries[sent:upto], now=stop)
            if kind == "clock":
                self._sweep(stop)
            elif kind == "late":
                self._deliver_late(index, playbook, ticks=self._ticks(after=last, before=stop, inclusive=False))
                insort(known, index, key=lambda i: (self.moments[i], i))
                upto += 1
            elif kind == "observe":
                self.observations[stop] = self._observe()
            sent, moment = upto, stop
            if kind == "until":
                return

    def _unobserved(self, checkpoint: datetime, now: datetime) -> bool:
        return checkpoint == now and checkpoint not in self.observations

    def _deliver_late(self, index: int, playbook, *, ticks: Iterator[datetime]) -> None:
        """A late event, alone. Production's clock sweeps have kept moving the learner's clock while it was on its
        way (they decided nothing: the probe said so), so the last of them runs first, as it would have."""
        last_tick = deque(ticks, maxlen=1)
        if last_tick and playbook.uses_clock:
            self._sweep(last_tick[0])
        self._send([index], now=self.arrivals[index])

    def _facts(self, indexes: list[int]) -> list[EventFact]:
        return [self.history[i] for i in indexes]

    def _ticks(self, *, after: datetime, before: datetime, inclusive: bool) -> Iterator[datetime]:
        """The production clock sweeps strictly after ``after`` and before (or at) ``before``."""
        step = CLOCK_SWEEP_EVERY
        tick = self.start + step * ((after - self.start) // step + 1)
        while tick < before or (inclusive and tick == before):
            yield tick
            tick += step

    def _stored_state(self) -> JourneyState:
        state = Enrollment.objects.filter(learner=self.learner).values_list("state", flat=True).get()
        return JourneyState.from_dict(state)

    def _send(self, indexes: list[int], *, now: datetime) -> None:
        """Deliver these events through the ingestion service, in batches it accepts (at most ``MAX_BATCH``, as a
        connector would send them), then evaluate them together, as a worker catching up would."""
        if not indexes:
            return
        for start in range(0, len(indexes), MAX_BATCH):
            self._send_batch(indexes[start : start + MAX_BATCH], now=now)
        learners_evaluate_pending(learner_ids=[self.learner.pk], now=now)

    def _send_batch(self, indexes: list[int], *, now: datetime) -> None:
        try:
            events_record(body=self._body(indexes), source=SOURCE, now=now)
        except BatchInvalid as invalid:
            raise JourneyInvalid([journey_error(indexes, error) for error in invalid.errors]) from invalid

    def _body(self, indexes: list[int]) -> dict[str, Any]:
        """The events as a connector would send them to ``POST /events``."""
        return {
            "events": [
                {
                    "id": f"e{index}",
                    "learner": self.learner.external_id,
                    "type": self.journey.events[index].type,
                    "module": self.journey.events[index].module,
                    "occurred_at": iso(self.moments[index]),
                    "properties": self.journey.events[index].properties,
                }
                for index in indexes
            ]
        }

    def _observe(self) -> Observation:
        answer = next_module_for_learner(learner=self.learner)
        reason = answer.enrollment.current_reason if answer.enrollment else {}
        return Observation(
            answer.status,
            answer.module.slug if answer.module else None,
            reason.get("rule", ""),
            reason.get("explanation", ""),
        )

    # --- reading back what happened -----------------------------------------------------------------------------

    def _timeline(self) -> list[dict[str, Any]]:
        entries: list[tuple[datetime, int, dict[str, Any]]] = []
        if self.enrolment is not None:
            first = self.enrolment
            entry = {"kind": "enrolled", "module": first.module, "rule": first.rule, "explanation": first.explanation}
            entries.append((self.start, -1, self._entry(self.start, entry)))
        for event, moment in zip(self.journey.events, self.moments, strict=True):
            entry = {"kind": "event", "type": event.type, "module": event.module, "properties": event.properties}
            if event.is_late:
                entry["arrives"] = format_duration(event.arrives)
            entries.append((moment, 0, self._entry(moment, entry)))
        for order, row in enumerate(Decision.objects.filter(learner=self.learner).order_by("decided_at", "pk"), 1):
            entry = _decision_entry(row)
            if entry is not None:
                entries.append((row.decided_at, order * 2, self._entry(row.decided_at, entry)))
        reminders = (
            Reminder.objects.filter(learner=self.learner).select_related("decision", "message").order_by("due_at", "pk")
        )
        for reminder in reminders:
            entry = {
                "kind": "reminder",
                "channel": reminder.channel,
                "template": reminder.template,
                "module": reminder.attach_module or None,
                "status": reminder.delivery_status,
                "note": "; ".join(filter(None, [reminder.note, reminder.message and reminder.message.cancel_reason])),
                "rule": reminder.decision.rule,
                "decided_at": iso(reminder.decision.decided_at),
            }
            entries.append((reminder.due_at, 10**9, self._entry(reminder.due_at, entry)))
        return [entry for _moment, _order, entry in sorted(entries, key=lambda item: (item[0], item[1]))]

    def _entry(self, moment: datetime, entry: dict[str, Any]) -> dict[str, Any]:
        return {"at": iso(moment), "offset": format_duration(moment - self.start), **entry}

    def _final(self) -> dict[str, Any]:
        final = self.observations[self.until]
        progress = ModuleProgress.objects.filter(enrollment__learner=self.learner).order_by("finished_at", "pk")
        rows = list(progress.values_list("module__slug", "status"))
        return {
            "status": final.status,
            "next_module": final.module,
            "completed": [slug for slug, status in rows if status == ProgressStatus.COMPLETED],
            "skipped": [slug for slug, status in rows if status == ProgressStatus.SKIPPED],
            "flags": sorted(set(self._flags(self.until))),
            "reminders": self._reminder_count(self.until),
        }

    def _flags(self, moment: datetime) -> list[str]:
        rows = Decision.objects.filter(learner=self.learner, kind="action", decided_at__lte=moment)
        return [row.action["flag"] for row in rows if row.action and "flag" in row.action]

    def _reminder_count(self, moment: datetime) -> int:
        reminders = Reminder.objects.filter(learner=self.learner, decision__decided_at__lte=moment)
        return reminders.exclude(status=ReminderStatus.SUPPRESSED).count()

    def _check(self, expectation, timeline: list[dict[str, Any]], enrolled: bool) -> ExpectationResult:
        moment = self.until if expectation.at is None else self._at(expectation.at)
        when = f"at {format_duration(expectation.at)}" if expectation.at is not None else "by the end"
        kind, expected = expectation.kind, expectation.value
        if kind in ("next_module", "status"):
            actual, passed, message = self._check_position(kind, expected, self.observations[moment], when)
        elif kind == "flags":
            actual = sorted(set(self._flags(moment)))
            passed = actual == sorted(set(expected))
            message = f"flags {when}: expected {expected or 'none'}, got {actual or 'none'}"
        elif kind == "reminders":
            actual = self._reminder_count(moment)
            passed = actual == expected
            message = f"reminders scheduled {when}: expected {expected}, got {actual}"
        elif kind == "completed":
            actual, passed, message = self._check_completed(expected, moment, when)
        else:
            actual, passed, message = self._check_rules(expected, moment, when)
        if not enrolled and not passed and kind not in ("next_module", "status"):
            message += " (the learner never enrolled: they do not match the playbook's audience)"
        decisions = [] if passed else [e for e in timeline if e["kind"] != "event" and _moment(e) <= moment]
        at = format_duration(expectation.at) if expectation.at is not None else None
        return ExpectationResult(kind, expected, actual, passed, at, message, decisions)

    def _check_position(self, kind: str, expected, seen: Observation, when: str) -> tuple[Any, bool, str]:
        """``next_module`` (null: nothing to do, whether not enrolled or done) or ``status``, with which it was."""
        state = {
            "not_enrolled": "nothing: the learner never enrolled (they do not match the playbook's audience)",
            "completed": "nothing: the journey is complete",
        }.get(seen.status, f"'{seen.module}' ({seen.rule}: {seen.explanation})")
        if kind == "status":
            got = f"{seen.status}, next module '{seen.module}'" if seen.module else seen.status
            return seen.status, seen.status == expected, f"status {when}: expected {expected}, got {got}"
        expected_text = "nothing to do (not enrolled, or the journey complete)" if expected is None else f"'{expected}'"
        return seen.module, seen.module == expected, f"next module {when}: expected {expected_text}, got {state}"

    def _check_completed(self, expected, moment: datetime, when: str) -> tuple[Any, bool, str]:
        if isinstance(expected, bool):
            done = Decision.objects.filter(learner=self.learner, kind="completed", decided_at__lte=moment).exists()
            return done, done == expected, f"journey complete {when}: expected {expected}, got {done}"
        rows = ModuleProgress.objects.filter(
            enrollment__learner=self.learner, status=ProgressStatus.COMPLETED, finished_at__lte=moment
        )
        done = sorted(rows.values_list("module__slug", flat=True))
        missing = [module for module in expected if module not in done]
        return done, not missing, f"modules completed {when}: expected {expected}, missing {missing or 'none'}"

    def _check_rules(self, expected: dict, moment: datetime, when: str) -> tuple[Any, bool, str]:
        rows = Decision.objects.filter(learner=self.learner, kind__in=["trigger", "branch"], decided_at__lte=moment)
        triggers = trigger_names(self.version)
        fired = sorted({row.step if row.kind == "branch" else triggers.get(row.rule, row.rule) for row in rows})
        wrong = [f"'{n}' did not fire" for n in expected.get("fired", []) if n not in fired]
        wrong += [f"'{n}' fired" for n in expected.get("not_fired", []) if n in fired]
        return fired, not wrong, f"rules {when}: {'; '.join(wrong) or 'as expected'} (fired: {fired or 'none'})"


def journey_error(indexes: list[int], error: dict[str, Any]) -> SpecError:
    """An ingestion error (numbered within its batch) at the journey's path: ``events[1234].properties``."""
    path = f"events[{indexes[error['index']]}]" if error.get("index") is not None else "events"
    field = error.get("field")
    return SpecError(f"{path}.{field}" if field and field != "events" else path, error["message"])


def _decision_entry(row: Decision) -> dict[str, Any] | None:
    if row.action and "remind" in row.action:
        return None  # the reminder's own entry, at its due time, says what became of it (the policy, a cancellation)
    base = {"rule": row.rule, "explanation": row.explanation}
    if row.kind == "next_module":
        return {"kind": "next_module", "module": row.module, **base}
    if row.kind == "completed":
        return {"kind": "completed", **base}
    if row.kind in ("trigger", "suppressed"):
        status = "fired" if row.kind == "trigger" else "suppressed"
        return {"kind": "trigger", "status": status, "values": row.values, **base}
    if row.kind == "ready":  # the readiness milestone: its values hold the time from enrolment
        return {"kind": "ready", "step": row.step, "values": row.values, **base}
    if row.kind == "branch":
        return {"kind": "branch", "step": row.step, "module": row.module or None, "action": row.action, **base}
    action = row.action or {}
    if row.kind == "wait":  # decided: the awaited event came, or the wait timed out
        return {"kind": "wait", "status": action.get("wait"), "values": row.values, **base}
    if "wait" in action:
        return {"kind": "wait", "status": "waiting", "until": action["wait"].get("until"), **base}
    if "flag" in action:
        return {"kind": "flag", "flag": action["flag"], **base}
    if row.kind == "held":  # an action a required step held back: shown, and said not to have been applied
        return {"kind": "action", "status": "held", "action": action, "module": row.module or None, **base}
    return {"kind": "action", "action": action, "module": row.module or None, **base}


def trigger_names(version: PlaybookVersion) -> dict[str, str]:
    """The version's triggers by the rule their decisions are logged under (names are free text: not parsed)."""
    return {trigger_rule(trigger): trigger.name for trigger in compiled_version(version=version).spec.triggers}


def _moment(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"])


@dataclass(frozen=True)
class SavedJourneyRun:
    name: str
    index: int
    result: SimulationResult


def saved_journeys_run(*, version: PlaybookVersion) -> list[SavedJourneyRun]:
    """Run a version's saved journeys (its ``tests``) in the simulator; nothing is kept."""
    spec = compiled_version(version=version).spec
    return [
        SavedJourneyRun(test.name, test.index, journey_simulate(document=test.document, version=version))
        for test in saved_journeys(spec)
    ]


def saved_journey_failures(version: PlaybookVersion) -> list[SpecError]:
    """The publish check: one problem per saved journey that fails, saying which expectations and why."""
    return [
        SpecError(
            f"tests[{run.index}] '{run.name}'",
            "failed: " + "; ".join(e.message for e in run.result.expectations if not e.passed),
        )
        for run in saved_journeys_run(version=version)
        if not run.result.passed
    ]
