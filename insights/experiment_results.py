"""An experiment's outcomes per arm, read from its learners' enrolments and module progress, and compared with the
control (or, without one, the first arm) by ``insights.stats``."""

from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils import timezone

from insights.experiment_signals import SignalOutcome, compare_signals, signal_values
from insights.models import Allocation, Experiment, ExperimentArm, ExperimentAssignment
from insights.stats import RateComparison, TimeComparison, compare_rates, compare_times
from playbooks.models import Enrollment, EnrollmentStatus, ModuleProgress, Playbook, ProgressStatus


@dataclass
class ArmOutcome:
    arm: ExperimentArm
    learners: int = 0  # assigned and enrolled
    completed: int = 0
    reached: int = 0  # module progress rows: a module reached
    skipped: int = 0
    hours: list[float] = field(default_factory=list)  # time to competency of the completed
    completion: RateComparison | None = None  # against the baseline arm
    time: TimeComparison | None = None
    skips: RateComparison | None = None
    enrolled: list[int] = field(default_factory=list)  # the learners counted
    signals: list[SignalOutcome] = field(default_factory=list)  # each declared signal, compared with the baseline

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.learners if self.learners else None

    @property
    def skip_rate(self) -> float | None:
        return self.skipped / self.reached if self.reached else None


@dataclass
class Results:
    experiment: Experiment
    arms: list[ArmOutcome]
    baseline: ArmOutcome
    warnings: list[str] = field(default_factory=list)
    winner: ArmOutcome | None = None  # the best arm significantly better than the baseline on completion
    peek_warning: str | None = None  # while an arm has fewer learners than the power calculation asked for

    @property
    def signal_tables(self) -> list[tuple[str, list[tuple[ArmOutcome, SignalOutcome]]]]:
        """Per declared signal, each arm's outcome on it (for the Results page)."""
        names = [signal.name for signal in self.baseline.signals]
        return [(name, [(arm, arm.signals[index]) for arm in self.arms]) for index, name in enumerate(names)]


def playbook_experiments_results(*, playbook: Playbook) -> list[Results]:
    """Every experiment of the playbook, newest first, with its results (a few queries per experiment)."""
    experiments = Experiment.objects.filter(playbook=playbook).select_related(
        "playbook", "winner", "promoted", "winning_arm__version"
    )
    return [experiment_results(experiment=experiment) for experiment in experiments.order_by("-created_at", "-pk")]


def experiment_results(*, experiment: Experiment) -> Results:
    arms = {arm.pk: ArmOutcome(arm) for arm in experiment.arms.select_related("version")}
    assigned = ExperimentAssignment.objects.filter(experiment=experiment)
    arm_of = dict(assigned.values_list("learner_id", "arm_id"))
    enrollments = Enrollment.objects.filter(playbook=experiment.playbook, learner_id__in=assigned.values("learner_id"))
    for learner_id, status, enrolled_at, completed_at in enrollments.values_list(
        "learner_id", "status", "enrolled_at", "completed_at"
    ):
        outcome = arms[arm_of[learner_id]]
        outcome.learners += 1
        outcome.enrolled.append(learner_id)
        if status == EnrollmentStatus.COMPLETED and completed_at is not None:
            outcome.completed += 1
            outcome.hours.append((completed_at - enrolled_at).total_seconds() / 3600)
    progress = (
        ModuleProgress.objects.filter(enrollment__in=enrollments)
        .values("enrollment__learner_id")
        .annotate(reached=Count("pk"), skipped=Count("pk", filter=Q(status=ProgressStatus.SKIPPED)))
    )
    for row in progress:
        outcome = arms[arm_of[row["enrollment__learner_id"]]]
        outcome.reached += row["reached"]
        outcome.skipped += row["skipped"]
    ordered = list(arms.values())  # the control first, then by version (the arms' ordering)
    results = Results(experiment, ordered, ordered[0])
    _compare(results)
    _compare_signals(results)
    return results


def _compare_signals(results: Results) -> None:
    arms = {outcome.arm.pk: outcome for outcome in results.arms}
    values = signal_values(
        versions={pk: outcome.arm.version for pk, outcome in arms.items()},
        learners_by_arm={pk: outcome.enrolled for pk, outcome in arms.items()},
        now=timezone.now(),
    )
    compared = compare_signals(values, results.baseline.arm.pk, alpha=results.experiment.alpha)
    for pk, outcome in arms.items():
        outcome.signals = compared.get(pk, [])


def _compare(results: Results) -> None:
    base, alpha = results.baseline, results.experiment.alpha
    for outcome in results.arms[1:]:
        outcome.completion = compare_rates(
            outcome.completed, outcome.learners, base.completed, base.learners, alpha=alpha
        )
        outcome.time = compare_times(outcome.hours, base.hours, alpha=alpha)
        outcome.skips = compare_rates(outcome.skipped, outcome.reached, base.skipped, base.reached, alpha=alpha)
    better = [
        o for o in results.arms[1:] if o.completion and o.completion.p_value < alpha and o.completion.difference > 0
    ]
    results.winner = max(better, key=lambda o: o.completion.difference, default=None)
    required = results.experiment.required_per_arm
    smallest = min(outcome.learners for outcome in results.arms)
    if required and smallest < required:
        results.peek_warning = (
            f"The smallest arm has {smallest} of the {required} learners the power calculation asked for. Do not stop "
            "on a peek: checking until a p-value dips under the significance level finds a 'winner' far more often "
            "than it should. Wait for the sample size, then decide once."
        )
        results.warnings.append(results.peek_warning)
    if results.experiment.allocation == Allocation.BANDIT:
        results.warnings.append(
            "A bandit moves learners towards the arm doing best, so the arms' learners joined at different times and "
            "in unequal numbers: read its p-values as indicative, not as a fixed-split test's."
        )
    if any(o.learners - o.completed > 0 for o in results.arms):
        results.warnings.append(
            "Learners still on their way count as not completed: compare arms whose learners had the same time."
        )
