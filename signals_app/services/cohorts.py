"""Cohort simulation: many synthetic learners through the simulator, summed up per playbook version, so that an
admin sees what a change (a threshold, a new trigger) does to the distribution before publishing it.

Learners are independent, so a cohort runs in memory (signals_app.services.cohort_batch: the simulator's walk
with the services' effects kept as objects), and a run started from the admin is cut into chunks of
``settings.COHORT_CHUNK_LEARNERS``, one task each, spread over the workers; each chunk keeps its tallies, and the
last one to finish adds them up into the run's report. Only the tallies are kept, never the learners.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Least
from django.utils import timezone

from common.logging import simulating
from playbooks.engine.cohorts import CohortInvalid, cohort_size, expand_cohort
from playbooks.engine.document import load_yaml
from playbooks.engine.journeys import Journey, JourneyInvalid, parse_journey
from playbooks.engine.reminders import SUPPRESSED
from playbooks.engine.spec import SpecError
from playbooks.models import EnrollmentStatus, PlaybookVersion
from playbooks.selectors import version_spec
from signals_app.models import CohortChunk, CohortRun, CohortRunStatus
from signals_app.services.cohort_batch import LearnerOutcome, MemoryJourneyRun, VersionContext

logger = logging.getLogger(__name__)

# A run that has not moved for this long lost its worker (a run reports progress every 2 % of its learners).
STALE_RUN = timedelta(minutes=10)
# Learners checked against the versions when a run is started, in the admin's request (the rest by the workers: a
# 10,000-learner check took 20 s on a busy 2-core machine).
CHECKED_AT_START = 200
_COUNTED = ("branches", "triggers", "suppressed", "flags", "next_modules")
_SUMMED = ("learners", "enrolled", "completed", "steps_done", "reminders_scheduled", "reminders_suppressed")

Progress = Callable[[int, int], None]


@dataclass
class CohortReport:
    """One version's outcomes over the cohort: counts of learners unless the name says otherwise."""

    playbook: str
    version: int
    version_status: str
    learners: int = 0
    enrolled: int = 0
    completed: int = 0
    steps_done: int = 0  # summed, for the mean
    branches: dict[str, Counter] = field(default_factory=dict)  # branch step → chosen module or goto → learners
    triggers: Counter = field(default_factory=Counter)  # fired, learners
    suppressed: Counter = field(default_factory=Counter)  # hit their limit, learners
    flags: Counter = field(default_factory=Counter)
    reminders_scheduled: int = 0  # reminders, not learners
    reminders_suppressed: int = 0
    learners_reminded: int = 0
    next_modules: Counter = field(default_factory=Counter)  # where learners stand at the end
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return f"v{self.version} ({self.version_status})"

    def share(self, count: int) -> float:
        return round(100 * count / self.learners, 1) if self.learners else 0.0

    def tallies(self) -> dict[str, Any]:
        """The counts as they are (``as_dict`` rounds some), for a chunk of a run to keep until they are added up."""
        return {
            **{name: getattr(self, name) for name in (*_SUMMED, "learners_reminded", "seconds")},
            **{name: dict(getattr(self, name)) for name in _COUNTED if name != "branches"},
            "branches": {step: dict(counts) for step, counts in self.branches.items()},
        }

    def add(self, tallies: dict[str, Any]) -> None:
        """Another chunk's ``tallies`` of the same version, added in (the seconds too: the time spent, not taken)."""
        for name in (*_SUMMED, "learners_reminded", "seconds"):
            setattr(self, name, getattr(self, name) + tallies[name])
        for name in _COUNTED:
            if name != "branches":
                getattr(self, name).update(tallies[name])
        for step, counts in tallies["branches"].items():
            self.branches.setdefault(step, Counter()).update(counts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "version": self.version,
            "version_status": self.version_status,
            "learners": self.learners,
            "enrolled": self.enrolled,
            "completed": self.completed,
            "completion_pct": self.share(self.completed),
            "mean_steps_done": round(self.steps_done / self.enrolled, 2) if self.enrolled else 0,
            "branches": {step: dict(counts.most_common()) for step, counts in self.branches.items()},
            "triggers_fired": dict(self.triggers.most_common()),
            "triggers_suppressed": dict(self.suppressed.most_common()),
            "flags": dict(self.flags.most_common()),
            "reminders": {
                "scheduled": self.reminders_scheduled,
                "suppressed": self.reminders_suppressed,
                "learners_reminded": self.learners_reminded,
            },
            "next_modules": {str(module): count for module, count in self.next_modules.most_common()},
            "seconds": round(self.seconds, 2),
        }


def cohort_parse(*, journeys: list[dict[str, Any]], version: PlaybookVersion, first: int = 1) -> list[Journey]:
    """Every journey of the cohort checked against the version before anything runs (all or nothing); ``first`` is
    the number of the first learner, for the messages."""
    spec = version_spec(version=version)
    parsed, errors = [], []
    for number, document in enumerate(journeys, start=first):
        try:
            parsed.append(parse_journey({**document, "playbook": spec.slug}, playbooks={spec.slug: spec}))
        except JourneyInvalid as invalid:
            errors.extend(SpecError(f"learner {number}: {e.path}", e.message) for e in invalid.errors)
            if len(errors) >= 20:
                break  # the same template mistake repeats for every learner
    if errors:
        raise JourneyInvalid(errors)
    return parsed


def cohort_simulate(
    *,
    journeys: list[dict[str, Any]],
    versions: list[PlaybookVersion],
    on_progress: Progress | None = None,
    first: int = 1,
) -> list[CohortReport]:
    """Run the cohort against each version (e.g. the draft and the published one), in memory; nothing is kept.

    ``on_progress(done, total)`` is called after each learner run (a learner on one version)."""
    parsed = {version.pk: cohort_parse(journeys=journeys, version=version, first=first) for version in versions}
    total, done = len(journeys) * len(versions), 0
    reports = []
    for version in versions:
        report = CohortReport(version.playbook.slug, version.number, version.status)
        context = VersionContext.load(version)
        began = time.perf_counter()
        with simulating():
            for journey in parsed[version.pk]:
                run = MemoryJourneyRun(journey, context)
                run.run()
                _tally(report, run.outcome(), context.triggers)
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
        report.seconds = time.perf_counter() - began
        reports.append(report)
    return reports


def _tally(report: CohortReport, outcome: LearnerOutcome, triggers: dict[str, str]) -> None:
    report.learners += 1
    report.next_modules[outcome.final.module or outcome.final.status] += 1
    if not outcome.enrolled:
        return
    report.enrolled += 1
    report.completed += outcome.status == EnrollmentStatus.COMPLETED
    report.steps_done += outcome.steps_done
    fired, suppressed, flags = set(), set(), set()
    for row in outcome.decisions:
        if row.kind == "branch":
            report.branches.setdefault(row.step, Counter())[row.module or f"goto {(row.action or {}).get('goto')}"] += 1
        elif row.kind == "trigger":
            fired.add(triggers.get(row.rule, row.rule))
        elif row.kind == "suppressed":
            suppressed.add(triggers.get(row.rule, row.rule))
        elif row.kind == "action" and row.action and "flag" in row.action:
            flags.add(row.action["flag"])
    report.triggers.update(fired)
    report.suppressed.update(suppressed)
    report.flags.update(flags)
    statuses = Counter(reminder.plan.status for reminder in outcome.reminders)
    report.reminders_suppressed += statuses.pop(SUPPRESSED, 0)
    report.reminders_scheduled += sum(statuses.values())
    report.learners_reminded += bool(statuses)


def cohort_run_start(
    *,
    version: PlaybookVersion,
    against: PlaybookVersion | None,
    template: str,
    learners_csv: str,
    learners: int | None,
    user=None,
) -> CohortRun:
    """Check the inputs now (so the admin sees mistakes at once), then hand the run to a worker.

    The template is checked whole, its first ``CHECKED_AT_START`` learners against each version; a later learner
    that a drawn value makes invalid fails the run, naming them."""
    from signals_app.tasks import run_cohort

    versions = [version] + ([against] if against is not None and against.pk != version.pk else [])
    count = cohort_size(load_yaml(template), learners=learners, csv_text=learners_csv or None)
    journeys = _journeys(template, learners_csv, learners, only=range(CHECKED_AT_START))
    for target in versions:
        cohort_parse(journeys=journeys, version=target)
    run = CohortRun.objects.create(
        version=version,
        against=versions[1] if len(versions) > 1 else None,
        template=template,
        learners_csv=learners_csv,
        learners=learners,
        total=count * len(versions),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    transaction.on_commit(lambda: run_cohort.delay(run_id=run.pk))
    return run


def cohort_run_execute(*, run_id: int) -> None:
    """Cut a queued run into chunks and hand them to the workers; idempotent (a finished run is left alone, a run
    started again hands over only the chunks that have not finished)."""
    # The task is acknowledged on receipt: a run whose worker was lost is found by its stale heartbeat
    # (cohort_runs_requeue_stale) and handed over again; the chunks it finished are kept.
    now = timezone.now()
    claimable = Q(status=CohortRunStatus.QUEUED) | Q(status=CohortRunStatus.RUNNING, heartbeat_at__lt=now - STALE_RUN)
    claimed = CohortRun.objects.filter(claimable, pk=run_id).update(status=CohortRunStatus.RUNNING, heartbeat_at=now)
    if not claimed:
        return
    run = CohortRun.objects.get(pk=run_id)
    try:
        count = cohort_size(load_yaml(run.template), learners=run.learners, csv_text=run.learners_csv or None)
    except CohortInvalid as exc:
        _fail(run_id, exc)
        return
    chunks = _chunks(run, count)
    finished = sum(chunk.last - chunk.first for chunk in chunks if chunk.tallies is not None)
    versions = 2 if run.against_id else 1
    CohortRun.objects.filter(pk=run_id).update(done=finished * versions)
    waiting = [chunk.index for chunk in chunks if chunk.tallies is None]
    if not waiting:
        _combine(run_id)
    transaction.on_commit(lambda: _enqueue_chunks(run_id, waiting))


@transaction.atomic
def _chunks(run: CohortRun, count: int) -> list[CohortChunk]:
    # A few seconds of work each: a run spreads evenly over the workers, and a lost worker costs little to redo.
    size = settings.COHORT_CHUNK_LEARNERS
    slices = [(i, first, min(first + size, count)) for i, first in enumerate(range(0, count, size))]
    CohortChunk.objects.bulk_create(
        [CohortChunk(run=run, index=index, first=first, last=last) for index, first, last in slices],
        ignore_conflicts=True,  # started again: the chunks are there already
    )
    return list(run.chunks.order_by("index"))


def _enqueue_chunks(run_id: int, indexes: list[int]) -> None:
    from signals_app.tasks import run_cohort_chunk

    for index in indexes:
        run_cohort_chunk.delay(run_id=run_id, chunk=index)


def cohort_chunk_execute(*, run_id: int, chunk: int) -> None:
    """Run one chunk of a run on each of its versions and keep its tallies; the last chunk to finish writes the
    run's report. Idempotent: a chunk that finished, or of a run that is not running, is left alone."""
    part = (
        CohortChunk.objects.select_related("run__version__playbook", "run__against__playbook")
        .filter(run_id=run_id, index=chunk, tallies__isnull=True, run__status=CohortRunStatus.RUNNING)
        .first()
    )
    if part is None:
        return
    run = part.run
    versions = [run.version] + ([run.against] if run.against_id else [])
    progress = _Progress(run_id, step=max(run.total // 50, 1))
    try:
        journeys = _journeys(run.template, run.learners_csv, run.learners, only=range(part.first, part.last))
        reports = cohort_simulate(journeys=journeys, versions=versions, on_progress=progress, first=part.first + 1)
    except (CohortInvalid, JourneyInvalid) as exc:
        _fail(run_id, exc)
        return
    progress.flush()
    kept = CohortChunk.objects.filter(pk=part.pk, tallies__isnull=True).update(
        tallies=[report.tallies() for report in reports], finished_at=timezone.now()
    )
    if kept:
        _combine(run_id)


class _Progress:
    """Adds a chunk's learner runs to its run's count every ``step`` of them (and moves the heartbeat)."""

    def __init__(self, run_id: int, *, step: int) -> None:
        self.run_id, self.step, self.unsaid = run_id, step, 0

    def __call__(self, done: int, total: int) -> None:
        self.unsaid += 1
        if self.unsaid >= self.step:
            self.flush()

    def flush(self) -> None:
        if self.unsaid:
            # Several chunks add at once: an increment in the database, never a read-modify-write. A chunk run again
            # after a lost worker counts twice, so the count stops at the total.
            done = Least(F("done") + self.unsaid, F("total"))
            CohortRun.objects.filter(pk=self.run_id).update(done=done, heartbeat_at=timezone.now())
            self.unsaid = 0


def _combine(run_id: int) -> None:
    """The run's report, once every chunk has its tallies. Each chunk calls it after its own commit, so the last
    to commit sees them all; two that see them all at once write the same report, once (the status guards it)."""
    parts = list(CohortChunk.objects.filter(run_id=run_id).order_by("index").values_list("tallies", flat=True))
    if not parts or any(part is None for part in parts):
        return
    run = CohortRun.objects.select_related("version__playbook", "against__playbook").get(pk=run_id)
    versions = [run.version] + ([run.against] if run.against_id else [])
    reports = [CohortReport(v.playbook.slug, v.number, v.status) for v in versions]
    for part in parts:
        for report, tallies in zip(reports, part, strict=True):
            report.add(tallies)
    CohortRun.objects.filter(pk=run_id, status=CohortRunStatus.RUNNING).update(
        status=CohortRunStatus.DONE,
        report=[report.as_dict() for report in reports],
        done=F("total"),
        finished_at=timezone.now(),
    )


def _fail(run_id: int, exc: CohortInvalid | JourneyInvalid) -> None:
    CohortRun.objects.filter(pk=run_id).exclude(status=CohortRunStatus.DONE).update(
        status=CohortRunStatus.FAILED, error="\n".join(map(str, exc.errors)), finished_at=timezone.now()
    )


def cohort_runs_requeue_stale(*, now: datetime) -> list[int]:
    """Hand runs whose worker was lost (queued or running, with no heartbeat for ``STALE_RUN``) to a worker again."""
    from signals_app.tasks import run_cohort

    stale = CohortRun.objects.filter(
        Q(status=CohortRunStatus.QUEUED, created_at__lt=now - STALE_RUN)
        | Q(status=CohortRunStatus.RUNNING, heartbeat_at__lt=now - STALE_RUN)
    )
    run_ids = list(stale.values_list("pk", flat=True))
    for run_id in run_ids:
        run_cohort.delay(run_id=run_id)
    if run_ids:
        logger.warning("signals.cohort.requeued", extra={"runs": run_ids})
    return run_ids


def _journeys(
    template: str, learners_csv: str, learners: int | None, *, only: range | None = None
) -> list[dict[str, Any]]:
    return expand_cohort(load_yaml(template), learners=learners, csv_text=learners_csv or None, only=only)


def cohort_report_from_dict(data: dict[str, Any]) -> CohortReport:
    """A stored report (``as_dict``) back as a CohortReport, for the admin's table."""
    report = CohortReport(data["playbook"], data["version"], data["version_status"])
    report.learners, report.enrolled, report.completed = data["learners"], data["enrolled"], data["completed"]
    report.steps_done = round(data["mean_steps_done"] * data["enrolled"])
    report.branches = {step: Counter(counts) for step, counts in data["branches"].items()}
    report.triggers = Counter(data["triggers_fired"])
    report.suppressed = Counter(data["triggers_suppressed"])
    report.flags = Counter(data["flags"])
    reminders = data["reminders"]
    report.reminders_scheduled, report.reminders_suppressed = reminders["scheduled"], reminders["suppressed"]
    report.learners_reminded = reminders["learners_reminded"]
    report.next_modules = Counter(data["next_modules"])
    report.seconds = data["seconds"]
    return report
