"""Experiments: create, start, stop and promote; and the enrolment hook that puts each new learner of a playbook under
experiment on their arm, once and for good, with a decision saying why.

An arm is a published version with parameter values over its declared defaults (none: the version as published),
so two arms may run the same version with different thresholds; the values live in each learner's journey state.

Assignment is a hash of the experiment and the learner's external id (``insights.stats.assignment_bucket``) laid
over the arms' weights, stored the first time: the same learner gets the same arm however often they are enrolled,
re-routed or evaluated, and the stored row keeps it when a bandit later changes the weights.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from common.errors import ApplicationError
from identity.models import Learner
from insights.models import Allocation, Experiment, ExperimentArm, ExperimentAssignment, ExperimentStatus, arm_label
from insights.stats import arm_for_bucket, assignment_bucket, sample_size_per_arm
from playbooks import selectors
from playbooks import selectors as playbook_selectors
from playbooks.engine.document import dump_yaml
from playbooks.engine.parameters import effective, override_errors, values_text
from playbooks.engine.spec import SpecError
from playbooks.models import Enrollment, Playbook, PlaybookVersion, VersionStatus
from playbooks.services import playbook_import
from playbooks.services.enrollments import Choice
from signals_app.models import Decision

logger = logging.getLogger(__name__)

DECISION_KIND = "experiment"


@dataclass(frozen=True)
class Variant:
    """An arm to create: a published version of the playbook, with parameter values over its declared defaults."""

    version: PlaybookVersion
    parameters: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return arm_label(self.version.number, self.parameters)


def variant_errors(*, version: PlaybookVersion, parameters: Any, path: str = "parameters") -> list[SpecError]:
    """Why ``parameters`` cannot be an arm's values on ``version``: an undeclared name, a value of the wrong type
    (``parameters.<name>: …``). Empty when they fit."""
    return override_errors(playbook_selectors.compiled_version(version=version).spec, parameters, path=path)


# Not durable: the admin's add form saves inside its own transaction.
@transaction.atomic
def experiment_create(
    *,
    playbook: Playbook,
    name: str,
    variants: Sequence[PlaybookVersion | Variant],
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
    change), each with parameter values or not (a ``Variant``); ``with_control`` adds the standard flow, the
    published version, as the control group. A bandit (``allocation="bandit"``) keeps at least ``floor`` of new
    learners on each arm."""
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
        ExperimentArm(
            experiment=experiment,
            version=arm.version,
            parameters=dict(arm.parameters),
            is_control=with_control and index == 0,
            weight=1.0,
        )
        for index, arm in enumerate(arms)
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
    *, playbook: Playbook, variants: Sequence[PlaybookVersion | Variant], with_control: bool
) -> list[Variant]:
    """The arms, control first, then by version; raises ApplicationError (``field="variants"``) when they cannot be:
    a version not published, parameter values that do not fit it, or two arms that are the same (the same version
    with the same values, counting a value equal to the default as the default)."""
    published = playbook_selectors.version_published(playbook=playbook)
    if with_control and published is None:
        raise ApplicationError("no_control", f"{playbook.slug} has no published version to be the control group.")
    given = [v if isinstance(v, Variant) else Variant(v) for v in variants]
    arms = [Variant(published)] * with_control + sorted(given, key=lambda v: v.version.number)
    control = _arm_key(arms[0]) if with_control else None
    seen: dict[tuple, Variant] = {}
    for arm in arms[with_control:]:
        _variant_check(playbook, arm)
        key = _arm_key(arm)
        if key == control:
            raise ApplicationError("invalid_variant", _is_control(arm), field="variants")
        if key in seen:
            message = f"Two arms are the same: {arm} and {seen[key]} run v{arm.version.number} with the same values."
            raise ApplicationError("duplicate_arm", message, field="variants")
        seen[key] = arm
    if len(arms) < 2:
        raise ApplicationError("too_few_arms", "An experiment compares at least two arms.", field="variants")
    return arms


def _variant_check(playbook: Playbook, arm: Variant) -> None:
    version = arm.version
    if version.playbook_id != playbook.pk or version.published_at is None:
        raise ApplicationError(
            "invalid_variant", f"{version} is not a published (or once published) version of {playbook.slug}.",
            field="variants",
        )  # fmt: skip
    errors = variant_errors(version=version, parameters=arm.parameters)
    if errors:
        raise ApplicationError(
            "invalid_parameters",
            f"{version}: {'; '.join(map(str, errors))}",
            field="variants",
            extra={"path": errors[0].path},
        )


def _arm_key(arm: Variant) -> tuple:
    """What learners on the arm evaluate: its version and every parameter's value (jsonb and Python agree that 5
    and 5.0 are equal)."""
    spec = playbook_selectors.compiled_version(version=arm.version).spec
    return arm.version.pk, tuple(sorted(effective(spec, arm.parameters).items()))


def _is_control(arm: Variant) -> str:
    if not arm.parameters:
        return f"{arm.version} is the standard flow: it is the control group already."
    number = arm.version.number
    return f"{arm} is the standard flow: its values are v{number}'s defaults, and the control group runs them."


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
    *, experiment: Experiment, winner: ExperimentArm | None = None, now: datetime | None = None
) -> Experiment:
    """Stop splitting: learners already in an arm stay on its version and values; new ones get the standard flow.
    ``winner`` (one of its arms) is recorded as the arm chosen."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if winner is not None and winner.experiment_id != experiment.pk:
        raise ApplicationError("invalid_winner", f"{winner} is not an arm of '{experiment.name}'.", field="winner")
    if experiment.status == ExperimentStatus.STOPPED and (winner is None or winner.pk == experiment.winning_arm_id):
        return experiment
    if experiment.status == ExperimentStatus.DRAFT:
        raise ApplicationError("not_started", f"'{experiment.name}' has not been started.")
    if experiment.status == ExperimentStatus.RUNNING:
        experiment.status, experiment.stopped_at = ExperimentStatus.STOPPED, now or timezone.now()
    if winner is not None:
        experiment.winning_arm, experiment.winner_id = winner, winner.version_id
    experiment.save(update_fields=["status", "stopped_at", "winner", "winning_arm"])
    logger.info("insights.experiment.stopped", extra={"experiment": experiment.pk, "winner": experiment.winning_arm_id})
    return experiment


def experiment_promote(
    *, experiment: Experiment, winner: ExperimentArm, user: AbstractBaseUser | None = None
) -> PlaybookVersion:
    """Stop the experiment with the arm ``winner`` and make it the standard flow: a new published version holding
    the winner's playbook, its parameters' defaults set to the arm's values (nothing to publish when the control,
    or another arm on the published version without values, won).

    Two transactions, in this order: publishing is refused while the experiment runs, and a publish that then fails
    (a saved journey no longer passes) leaves it stopped with its winner, to promote again once fixed."""
    experiment = experiment_stop(experiment=experiment, winner=winner)
    version = winner.version
    if version.status == VersionStatus.PUBLISHED and not winner.parameters:
        published = version
    else:
        if experiment.playbook.versions.filter(status=VersionStatus.DRAFT).exists():
            raise ApplicationError(
                "draft_exists",
                f"{experiment.playbook.slug} has a draft; promoting writes the winner into a new draft. Publish or "
                "delete that draft first.",
            )
        text = dump_yaml(_with_defaults(selectors.version_spec(version=version), winner.parameters))
        published = playbook_import(text=text, publish=True, user=user).version
    Experiment.objects.filter(pk=experiment.pk).update(promoted=published)
    logger.info("insights.experiment.promoted", extra={"experiment": experiment.pk, "version": published.pk})
    return published


def _with_defaults(spec, values: dict[str, Any]):
    """The playbook with ``values`` as its parameters' defaults (declared in the same order)."""
    parameters = tuple(replace(p, default=values.get(p.name, p.default)) for p in spec.parameters)
    return replace(spec, parameters=parameters)


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


def arms_choose(joining: Sequence[tuple[Learner, PlaybookVersion]], now: datetime) -> list[Choice]:
    """The enrolment hook: each learner joining a playbook under a running experiment gets their arm's version and
    parameter values (their stored arm, else one drawn now and stored), noted with the assignment; everyone else
    keeps the version offered. One query when no experiment runs."""
    playbooks = {version.playbook_id for _l, version in joining if version.status == VersionStatus.PUBLISHED}
    running = Experiment.objects.filter(playbook_id__in=playbooks, status=ExperimentStatus.RUNNING) if playbooks else []
    chosen = [Choice(version) for _l, version in joining]
    for experiment in running:
        indexes = [i for i, (_l, version) in enumerate(joining) if version.playbook_id == experiment.playbook_id]
        assignments = _assign(experiment, [joining[i][0] for i in indexes], now)
        for index in indexes:
            assignment = assignments[joining[index][0].pk]
            chosen[index] = Choice(assignment.arm.version, assignment, dict(assignment.arm.parameters))
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
        values = f" with {values_text(arm.parameters)}" if arm.parameters else ""
        decisions.append(
            Decision(
                learner_id=enrollment.learner_id,
                enrollment=enrollment,
                dedupe_key=f"experiment:{experiment.pk}:enrollment:{enrollment.pk}",
                kind=DECISION_KIND,
                rule=f"experiment '{experiment.name}'",
                explanation=f"In the experiment '{experiment.name}', this learner is in the {arm} arm, so they follow "
                f"version {arm.version.number}{values} for their whole journey.",
                values={
                    "experiment": experiment.pk,
                    "arm": str(arm),
                    "version": arm.version.number,
                    "parameters": dict(arm.parameters),
                    "bucket": round(assignment.bucket, 6),
                    "assigned_at": assignment.assigned_at.isoformat(),
                },
                decided_at=now,
            )
        )
    Decision.objects.bulk_create(decisions, ignore_conflicts=True)
