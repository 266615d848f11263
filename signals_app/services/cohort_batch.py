"""A cohort's synthetic learners run in memory: the simulator's walk (``JourneyRun._play``) and the production
engine and policies, with the rows the services would write kept as Python objects instead.

A learner of a cohort is never looked at on its own (only the cohort's tallies are kept), so nothing needs the
database: enrolment, evaluation (``enrollments_run``, the engine half of the worker's batch), reminder planning
(``reminder_plan``) and cancellation, and the next-module answer are computed as the services compute them, and
``tests/signals_app/test_cohort_batch.py`` checks the tallies against the database simulator learner by learner.
What a chunk of learners reads is read once per version (``VersionContext``).
"""

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from delivery.selectors import SitePolicy, site_policy
from identity.models import Learner
from playbooks.engine.journey import CompiledPlaybook, JourneyState, LearnerFacts
from playbooks.engine.journeys import Journey, JourneyInvalid
from playbooks.engine.reminders import SUPPRESSED, ReminderPlan
from playbooks.engine.signals import COMPLETED, SKIPPED, EventFact
from playbooks.models import ContentModule, Enrollment, EnrollmentStatus, PlaybookVersion
from playbooks.selectors import compiled_version
from playbooks.services.enrollments import Advance, enrollment_preview, enrollments_run
from signals_app.event_input import MAX_BATCH, validate_item
from signals_app.services.reminders import recent_since, reminder_plan
from signals_app.services.simulation import JourneyRun, Observation, journey_error, trigger_names

# Stand-ins for the rows' primary keys, of one width so that the decision keys sort as the stored ones do.
_FIRST_ID = 10**9


@dataclass(frozen=True)
class VersionContext:
    """What a run on the version reads, read once: its compiled playbook, the library's slugs, the site policy."""

    version: PlaybookVersion
    playbook: CompiledPlaybook
    library: frozenset[str]
    site: SitePolicy
    triggers: dict[str, str]

    @classmethod
    def load(cls, version: PlaybookVersion) -> "VersionContext":
        playbook = compiled_version(version=version)
        library = frozenset(ContentModule.objects.values_list("slug", flat=True))
        return cls(version, playbook, library, site_policy(), trigger_names(version))


@dataclass
class Logged:
    """A decision-log row as the cohort report reads it."""

    kind: str
    rule: str
    step: str
    module: str
    action: dict[str, Any] | None
    decided_at: datetime
    dedupe_key: str


@dataclass
class HeldReminder:
    module: str
    channel: str
    decided_at: datetime
    plan: ReminderPlan
    waiting: bool  # its message is still in the outbox (not suppressed, not cancelled)


@dataclass
class StoredEvent:
    fact: EventFact
    id: int
    processed: bool = False


@dataclass
class LearnerOutcome:
    """What the cohort report needs of one learner's run."""

    enrolled: bool
    final: Observation
    status: str = ""
    steps_done: int = 0
    decisions: list[Logged] = field(default_factory=list)
    reminders: list[HeldReminder] = field(default_factory=list)


class MemoryJourneyRun(JourneyRun):
    """``JourneyRun`` with the services' effects kept in memory; ``run()`` then ``outcome()``."""

    def __init__(self, journey: Journey, context: VersionContext) -> None:
        super().__init__(journey, context.version)
        self.context = context
        self.enrollment: Enrollment | None = None
        self.stored: list[StoredEvent] = []  # in occurred_at order, then arrival order (the stored events' ids)
        self.logged: list[Logged] = []
        self.reminders: list[HeldReminder] = []
        self.next_id = _FIRST_ID

    def outcome(self) -> LearnerOutcome:
        final = self.observations[self.until]
        if self.enrollment is None:
            return LearnerOutcome(False, final)
        enrollment = self.enrollment
        return LearnerOutcome(True, final, enrollment.status, enrollment.steps_done, self.logged, self.reminders)

    # --- the hooks of JourneyRun ------------------------------------------------------------------------------

    def _learner(self) -> Learner:
        journey = self.journey
        learner = Learner(
            external_id=f"simulation:{uuid.uuid4().hex}:{journey.external_id}"[:255],
            timezone=journey.timezone,
            attributes=journey.attributes,
        )
        learner.full_clean(validate_unique=False, validate_constraints=False)  # as learner_create checks it
        # As the worker reads it back: the attributes through JSON, the roles once each, oldest first.
        attributes = json.loads(json.dumps(learner.attributes))
        roles = tuple(dict.fromkeys(journey.roles))
        self.who = LearnerFacts(learner.external_id, roles, attributes, learner.timezone or "UTC")
        return learner

    def _learner_facts(self) -> LearnerFacts:
        return self.who

    def _compiled(self) -> CompiledPlaybook:
        return self.context.playbook

    def _enroll(self) -> bool:
        self.enrollment = enrollment_preview(
            learner=self.learner, version=self.version, facts=self.who, now=self.start, params=self.journey.params
        )
        return self.enrollment is not None

    def _stored_state(self) -> JourneyState:
        return JourneyState.from_dict(self.enrollment.state)

    def _observe(self) -> Observation:
        """As ``next_module_for_learner`` answers from the enrolment's row."""
        enrollment = self.enrollment
        if enrollment is None:
            return Observation("not_enrolled", None)
        if enrollment.status != EnrollmentStatus.ACTIVE:
            return Observation("completed", None, *_reason(enrollment))
        module = enrollment.next_slug if enrollment.next_slug in self.context.library else None
        return Observation("active", module, *_reason(enrollment))

    def _send(self, indexes: list[int], *, now: datetime) -> None:
        if not indexes:
            return
        for start in range(0, len(indexes), MAX_BATCH):
            self._store(indexes[start : start + MAX_BATCH], now=now)
        self._evaluate(now, clock=False)

    def _sweep(self, now: datetime) -> None:
        self._evaluate(now, clock=True)

    # --- the services, in memory ------------------------------------------------------------------------------

    def _store(self, indexes: list[int], *, now: datetime) -> None:
        """Ingestion: each event validated as ``POST /events`` validates it, then kept in the history's order."""
        errors, inputs = [], []
        for position, item in enumerate(self._body(indexes)["events"]):
            event, problems = validate_item(position, item, now=now)
            errors.extend(problems)
            inputs.append(event)
        if errors:
            raise JourneyInvalid([journey_error(indexes, error) for error in errors])
        for event in inputs:
            properties = json.loads(event.properties_json)
            fact = EventFact(event.type, event.occurred_at, event.module or None, properties)
            self.stored.append(StoredEvent(fact, self._id()))
        self.stored.sort(key=lambda stored: (stored.fact.occurred_at, stored.id))

    def _evaluate(self, now: datetime, *, clock: bool) -> None:
        """``signals_app.services.evaluation._evaluate`` for this one learner."""
        pending = [(index, stored.fact) for index, stored in enumerate(self.stored) if not stored.processed]
        enrollment = self.enrollment
        ticks = clock and self.context.playbook.uses_clock
        if enrollment.status == EnrollmentStatus.ACTIVE and (pending or ticks):
            history = [stored.fact for stored in self.stored]
            item = Advance(enrollment, self.who, history, pending, now if ticks else None)
            enrollments_run(batch=[item])
            self._log(item)
            self._cancel(item)
        for stored in self.stored:
            stored.processed = True

    def _log(self, item: Advance) -> None:
        sequence: dict[str, int] = defaultdict(int)
        reminding: list[Logged] = []
        for index, moment, decision in item.results:
            anchor = f"e{self.stored[index].id}" if index is not None else f"clock:{moment.isoformat()}"
            sequence[anchor] += 1
            key = f"{_FIRST_ID}:{anchor}:{sequence[anchor]}"
            action = decision.action
            row = Logged(decision.kind, decision.rule, decision.step or "", decision.module or "", action, moment, key)
            self.logged.append(row)
            if action and "remind" in action:
                reminding.append(row)
        if reminding:
            self._schedule(reminding)

    def _schedule(self, reminding: list[Logged]) -> None:
        """``reminders_schedule``: planned in (decided_at, key) order against the caps' recent reminders."""
        policy = self.context.playbook.spec.policy
        since = recent_since([row.decided_at for row in reminding], self.context.site, [policy] * len(reminding))
        # As reminders_schedule reads them: scheduled, still in the outbox, due since then.
        playbook_id = self.version.playbook_id
        recent = [
            (playbook_id, r.channel, r.plan.due_at) for r in self.reminders if r.waiting and r.plan.due_at >= since
        ]
        for row in sorted(reminding, key=lambda r: (r.decided_at, r.dedupe_key)):
            plan = reminder_plan(
                row.action["remind"],
                decided_at=row.decided_at,
                timezone=self.learner.timezone or "UTC",
                site=self.context.site,
                policy=policy,
                playbook_id=playbook_id,
                recent=recent,
            )
            channel = row.action["remind"]["channel"]
            self.reminders.append(HeldReminder(row.module, channel, row.decided_at, plan, plan.status != SUPPRESSED))
            if plan.rule:
                kind = "suppressed" if plan.status == SUPPRESSED else "deferred"
                action = {"remind": row.action["remind"]}
                self.logged.append(
                    Logged(kind, f"delivery policy: {plan.rule}", row.step, row.module, action, row.decided_at, "")
                )

    def _cancel(self, item: Advance) -> None:
        """``evaluation._cancellations`` then ``reminders_cancel``: waiting reminders the learner no longer needs."""
        if not item.results and not item.pending:
            return
        enrollment = item.enrollment
        clock = datetime.fromisoformat(enrollment.state["clock"]) if enrollment.state.get("clock") else None
        cancellations: list[tuple[datetime, str | None]] = [
            (max(event.occurred_at, clock) if clock else event.occurred_at, event.module)
            for _index, event in item.pending
            if event.type in (COMPLETED, SKIPPED) and event.module
        ]
        if enrollment.status == EnrollmentStatus.COMPLETED and enrollment.completed_at:
            cancellations.append((enrollment.completed_at, None))
        for at, module in cancellations:
            for reminder in self.reminders:
                if reminder.waiting and (module is None or reminder.module == module) and reminder.decided_at <= at:
                    reminder.waiting = False

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id


def _reason(enrollment: Enrollment) -> tuple[str, str]:
    reason = enrollment.current_reason or {}
    return reason.get("rule", ""), reason.get("explanation", "")
