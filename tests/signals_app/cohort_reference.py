"""The reference for cohorts run in memory: the per-learner path cohorts took before, each synthetic learner through
the production services (ingestion, the worker's evaluation, the reminder policy and cancellation, the next-module
selector) in a throwaway transaction, tallied from the rows those services wrote. Used by the tests and as the
baseline of benchmarks/cohort.py; nothing in the product calls it."""

from collections import Counter

from django.db import transaction

from common.logging import simulating
from playbooks.models import Enrollment, EnrollmentStatus
from signals_app.models import Decision, Reminder, ReminderStatus
from signals_app.services.cohorts import CohortReport, cohort_parse
from signals_app.services.simulation import JourneyRun, trigger_names


def reference_simulate(*, journeys, versions) -> list[list[CohortReport]]:
    """Each learner through the database simulator, as cohorts ran before: one report per learner and version."""
    reports = []
    for version in versions:
        mine = []
        for journey in cohort_parse(journeys=journeys, version=version):
            report = CohortReport(version.playbook.slug, version.number, version.status)
            with simulating(), transaction.atomic():
                try:
                    run = JourneyRun(journey, version)
                    _reference_tally(report, run, enrolled=run.run())
                finally:
                    transaction.set_rollback(True)
            mine.append(report)
        reports.append(mine)
    return reports


def _reference_tally(report: CohortReport, run: JourneyRun, *, enrolled: bool) -> None:
    report.learners += 1
    report.next_modules[run.observations[run.until].module or run.observations[run.until].status] += 1
    if not enrolled:
        return
    report.enrolled += 1
    enrollment = Enrollment.objects.filter(learner=run.learner).values_list("status", "steps_done").get()
    report.completed += enrollment[0] == EnrollmentStatus.COMPLETED
    report.steps_done += enrollment[1]
    fired, suppressed, flags = set(), set(), set()
    triggers = trigger_names(run.version)
    rows = Decision.objects.filter(learner=run.learner, kind__in=["branch", "trigger", "suppressed", "action"])
    for kind, rule, step, module, action in rows.values_list("kind", "rule", "step", "module", "action"):
        if kind == "branch":
            report.branches.setdefault(step, Counter())[module or f"goto {action.get('goto')}"] += 1
        elif kind == "trigger":
            fired.add(triggers.get(rule, rule))
        elif kind == "suppressed":
            suppressed.add(triggers.get(rule, rule))
        elif action and "flag" in action:
            flags.add(action["flag"])
    report.triggers.update(fired)
    report.suppressed.update(suppressed)
    report.flags.update(flags)
    statuses = Counter(Reminder.objects.filter(learner=run.learner).values_list("status", flat=True))
    suppressed_reminders = statuses.pop(ReminderStatus.SUPPRESSED, 0)
    report.reminders_suppressed += suppressed_reminders
    report.reminders_scheduled += sum(statuses.values())
    report.learners_reminded += bool(statuses)
