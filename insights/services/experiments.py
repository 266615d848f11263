"""Experiments: create, start, stop and promote; and the enrolment hook that puts each new learner of a playbook under
experiment on their arm, once and for good, with a decision saying why.

Assignment is a hash of the experiment and the learner's external id (``insights.stats.assignment_bucket``) laid
over the arms' weights, stored the first time: the same learner gets the same arm however often they are enrolled,
re-routed or evaluated, and the stored row keeps it when a bandit later changes the weights.
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from common.errors import ApplicationError
from identity.models import Learner
from insights.models import Allocation, Experiment, ExperimentArm, ExperimentAssignment, ExperimentStatus
from insights.stats import arm_for_bucket, assignment_bucket, sample_size_per_arm
from playbooks import selectors
from playbooks import selectors as playbook_selectors
from playbooks.engine.document import dump_yaml
from playbooks.engine.spec import SpecError
from playbooks.models import Enrollment, Playbook, PlaybookVersion, VersionStatus
from playbooks.services import playbook_import
from signals_app.models import Decision

logger = logging.getLogger(__name__)

DECISION_KIND = "experiment"


# Not durable: the admin's add form saves inside its own transaction.
@transaction.atomic
def experiment_create(
    *,
    playbook: Playbook,
    name: str,
    variants: Sequence[PlaybookVersion],
    with_control: bool = True,
    baseline_rate: float = 0.5,
    minimum_effect: float = 0.1,
    alpha: float = 0.05,
    power: float = 0.8,
    hypothesis: str = "",
    allocation: str = Allocation.FIXED,
    floor: float = 0.05,
    user: AbstractBaseUser | None = None,
) -> Experiment:
    """A draft experiment: ``variants`` are versions of the playbook that have been published (so they no longer
    change); ``with_control`` adds the standard flow, the published version, as the control group. A bandit
    (``allocation="bandit"``) keeps at least ``floor`` of new learners on each arm."""
    arms = experiment_arms(playbook=playbook, variants=variants, with_control=with_control)
    required_sample(baseline_rate=baseline_rate, minimum_effect=minimum_effect, alpha=alpha, power=power)
    floor_check(floor=floor, arms=len(arms))
    experiment = Experiment(
        playbook=playbook,
        name=name,
        hypothesis=hypothesis,
        baseline_rate=baseline_rate,
        minimum_effect=minimum_effect,
        alpha=alpha,
        power=power,
        allocation=allocation,
        floor=floor,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    experiment.full_clean()
    experiment.save()
    ExperimentArm.objects.bulk_create(
        ExperimentArm(experiment=experiment, version=version, is_control=with_control and index == 0, weight=1.0)
        for index, version in enumerate(arms)
    )
    return experiment


def required_sample(*, baseline_rate: float, minimum_effect: float, alpha: float, power: float) -> int:
    """Learners per arm (the power calculation); ApplicationError naming the field when the rates make none."""
    if not (0 < alpha < 0.5 and 0.5 < power < 1):
        raise ApplicationError("invalid", "The significance level is under 0.5 and the power between 0.5 and 1.")
    try:
        return sample_size_per_arm(baseline=baseline_rate, effect=minimum_effect, alpha=alpha, power=power)
    except ValueError as exc:
        raise ApplicationError("invalid", str(exc), field="minimum_effect") from exc


def floor_check(*, floor: float, arms: int) -> None:
    """Every arm's floor must fit: ``arms`` floors add up to at most all the learners."""
    if not 0 <= floor * arms <= 1:
        raise ApplicationError(
            "invalid", f"With {arms} arms the floor is between 0 and {1 / arms:.3f} (1 / arms).", field="floor"
        )


def experiment_arms(
    *, playbook: Playbook, variants: Sequence[PlaybookVersion], with_control: bool
) -> list[PlaybookVersion]:
    """The arms' versions, control first; raises ApplicationError (``field="variants"``) when they cannot be."""
    published = playbook_selectors.version_published(playbook=playbook)
    for version in variants:
        if version.playbook_id != playbook.pk or version.published_at is None:
            raise ApplicationError(
                "invalid_variant", f"{version} is not a published (or once published) version of {playbook.slug}.",
                field="variants",
            )  # fmt: skip
        if with_control and published is not None and version.pk == published.pk:
            raise ApplicationError(
                "invalid_variant", f"{version} is the standard flow: it is the control group already.", field="variants"
            )
    if with_control and published is None:
        raise ApplicationError("no_control", f"{playbook.slug} has no published version to be the control group.")
    arms = [published] * with_control + sorted(set(variants), key=lambda v: v.number)
    if len(arms) < 2:
        raise ApplicationError("too_few_arms", "An experiment compares at least two arms.", field="variants")
    return arms


@transaction.atomic(durable=True)
def experiment_start(*, experiment: Experiment, now: datetime | None = None) -> Experiment:
    """Start splitting new learners; fixes the sample size the power calculation asks for, to stop at."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status != ExperimentStatus.DRAFT:
        raise ApplicationError("not_a_draft", f"'{experiment.name}' has already been started.")
    control = experiment.arms.filter(is_control=True).select_related("version").first()
    if control is not None and control.version.status != VersionStatus.PUBLISHED:
        raise ApplicationError(
            "control_changed", f"{control.version} is no longer the published version: create the experiment again."
        )
    if Experiment.objects.filter(playbook=experiment.playbook, status=ExperimentStatus.RUNNING).exists():
        raise ApplicationError("already_running", "Another experiment is running on this playbook: stop it first.")
    experiment.required_per_arm = required_sample(
        baseline_rate=experiment.baseline_rate,
        minimum_effect=experiment.minimum_effect,
        alpha=experiment.alpha,
        power=experiment.power,
    )
    experiment.status, experiment.started_at = ExperimentStatus.RUNNING, now or timezone.now()
    experiment.save(update_fields=["required_per_arm", "status", "started_at"])
    logger.info("insights.experiment.started", extra={"experiment": experiment.pk})
    return experiment


@transaction.atomic(durable=True)
def experiment_stop(
    *, experiment: Experiment, winner: PlaybookVersion | None = None, now: datetime | None = None
) -> Experiment:
    """Stop splitting: learners already in an arm stay on its version; new ones get the standard flow."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if winner is not None and not experiment.arms.filter(version=winner).exists():
        raise ApplicationError("invalid_winner", f"{winner} is not an arm of '{experiment.name}'.", field="winner")
    if experiment.status == ExperimentStatus.STOPPED and (winner is None or winner == experiment.winner):
        return experiment
    if experiment.status == ExperimentStatus.DRAFT:
        raise ApplicationError("not_started", f"'{experiment.name}' has not been started.")
    if experiment.status == ExperimentStatus.RUNNING:
        experiment.status, experiment.stopped_at = ExperimentStatus.STOPPED, now or timezone.now()
    experiment.winner = winner or experiment.winner
    experiment.save(update_fields=["status", "stopped_at", "winner"])
    logger.info("insights.experiment.stopped", extra={"experiment": experiment.pk, "winner": experiment.winner_id})
    return experiment


def experiment_promote(
    *, experiment: Experiment, winner: PlaybookVersion, user: AbstractBaseUser | None = None
) -> PlaybookVersion:
    """Stop the experiment with ``winner`` and make the winner the standard flow: a new published version holding
    the winner's playbook (nothing to publish when the control won).

    Two transactions, in this order: publishing is refused while the experiment runs, and a publish that then fails
    (a saved journey no longer passes) leaves it stopped with its winner, to promote again once fixed."""
    experiment = experiment_stop(experiment=experiment, winner=winner)
    if winner.status == VersionStatus.PUBLISHED:
        published = winner
    else:
        if experiment.playbook.versions.filter(status=VersionStatus.DRAFT).exists():
            raise ApplicationError(
                "draft_exists",
                f"{experiment.playbook.slug} has a draft; promoting writes the winner into a new draft. Publish or "
                "delete that draft first.",
            )
        text = dump_yaml(selectors.version_spec(version=winner))
        published = playbook_import(text=text, publish=True, user=user).version
    Experiment.objects.filter(pk=experiment.pk).update(promoted=published)
    logger.info("insights.experiment.promoted", extra={"experiment": experiment.pk, "version": published.pk})
    return published


def publish_check(version: PlaybookVersion) -> list[SpecError]:
    """Publishing while an experiment runs would change its control group under it (a publish check)."""
    running = Experiment.objects.filter(playbook_id=version.playbook_id, status=ExperimentStatus.RUNNING).first()
    if running is None:
        return []
    return [
        SpecError(
            "", f"Experiment '{running.name}' is running on this playbook: stop it (or promote its winner) first."
        )
    ]


def arms_choose(
    joining: Sequence[tuple[Learner, PlaybookVersion]], now: datetime
) -> list[tuple[PlaybookVersion, object]]:
    """The enrolment hook: each learner joining a playbook under a running experiment gets their arm's version
    (their stored one, else one drawn now and stored), noted with the assignment; everyone else keeps the version
    offered. One query when no experiment runs."""
    playbooks = {version.playbook_id for _l, version in joining if version.status == VersionStatus.PUBLISHED}
    running = Experiment.objects.filter(playbook_id__in=playbooks, status=ExperimentStatus.RUNNING) if playbooks else []
    chosen: list[tuple[PlaybookVersion, object]] = [(version, None) for _l, version in joining]
    for experiment in running:
        indexes = [i for i, (_l, version) in enumerate(joining) if version.playbook_id == experiment.playbook_id]
        assignments = _assign(experiment, [joining[i][0] for i in indexes], now)
        for index in indexes:
            assignment = assignments[joining[index][0].pk]
            chosen[index] = (assignment.arm.version, assignment)
    return chosen


def _assign(experiment: Experiment, learners: list[Learner], now: datetime) -> dict[int, ExperimentAssignment]:
    arms = list(experiment.arms.select_related("version").order_by("pk"))
    by_pk = {arm.pk: arm for arm in arms}
    stored = {a.learner_id: a for a in ExperimentAssignment.objects.filter(experiment=experiment, learner__in=learners)}
    new = []
    weights = [arm.weight for arm in arms]
    for learner in learners:
        if learner.pk in stored:
            continue
        bucket = assignment_bucket(experiment=experiment.key, learner=learner.external_id)
        arm = arms[arm_for_bucket(bucket, weights)]
        stored[learner.pk] = ExperimentAssignment(
            experiment=experiment, arm=arm, learner=learner, bucket=bucket, assigned_at=now
        )
        new.append(stored[learner.pk])
    # The callers hold the learners' locks, so no one else assigns them meanwhile.
    ExperimentAssignment.objects.bulk_create(new)
    for assignment in stored.values():
        assignment.experiment, assignment.arm = experiment, by_pk[assignment.arm_id]
    return stored


def arms_recorded(created: Sequence[tuple[Enrollment, object]], now: datetime) -> None:
    """The enrolment hook, once the enrolments are saved: a decision per enrolment put in an arm."""
    decisions = []
    for enrollment, assignment in created:
        if not isinstance(assignment, ExperimentAssignment):
            continue
        experiment, arm = assignment.experiment, assignment.arm
        decisions.append(
            Decision(
                learner_id=enrollment.learner_id,
                enrollment=enrollment,
                dedupe_key=f"experiment:{experiment.pk}:enrollment:{enrollment.pk}",
                kind=DECISION_KIND,
                rule=f"experiment '{experiment.name}'",
                explanation=f"In the experiment '{experiment.name}', this learner is in the {arm} arm, so they follow "
                f"version {arm.version.number} for their whole journey.",
                values={
                    "experiment": experiment.pk,
                    "arm": str(arm),
                    "version": arm.version.number,
                    "bucket": round(assignment.bucket, 6),
                    "assigned_at": assignment.assigned_at.isoformat(),
                },
                decided_at=now,
            )
        )
    Decision.objects.bulk_create(decisions, ignore_conflicts=True)
