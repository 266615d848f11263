"""Bandits: experiments whose weights follow the evidence. Every 15 minutes (``insights.allocate_bandits``) each
running bandit's weights become its Thompson sampling allocation on completion (``insights.stats.thompson_weights``),
logged with the posterior it came from. Learners already in an arm keep it: only new assignments read the weights.
"""

import hashlib
import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from insights.experiment_results import experiment_results
from insights.models import Allocation, BanditAllocation, Experiment, ExperimentArm, ExperimentStatus
from insights.stats import thompson_weights

logger = logging.getLogger(__name__)


def bandits_allocate(*, now: datetime | None = None) -> int:
    """Reallocate every running bandit; returns how many changed. One transaction per experiment."""
    running = Experiment.objects.filter(status=ExperimentStatus.RUNNING, allocation=Allocation.BANDIT)
    return sum(bandit_allocate(experiment=e, now=now) is not None for e in running.order_by("pk"))


@transaction.atomic(durable=True)
def bandit_allocate(
    *, experiment: Experiment, now: datetime | None = None, seed: int | None = None
) -> BanditAllocation | None:
    """Set a running bandit's weights from its posterior: Beta(1 + completed, 1 + not completed) per arm, learners
    still on their way counting as not completed (as on the results page). None, and nothing written, when the
    experiment is no running bandit or nothing was learned since the last allocation (the same posterior).

    ``seed`` (default: derived from the experiment and how many allocations it has had, so a rerun reproduces the
    weights) seeds the posterior draws."""
    # The row lock makes two overlapping runs take turns; the second then sees the same posterior and leaves.
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status != ExperimentStatus.RUNNING or experiment.allocation != Allocation.BANDIT:
        return None
    outcomes = experiment_results(experiment=experiment).arms
    posterior = [(1 + o.completed, 1 + o.learners - o.completed) for o in outcomes]
    if posterior == _last_posterior(experiment, [o.arm for o in outcomes]):
        return None
    previous = experiment.allocations.count()
    if seed is None:
        digest = hashlib.sha256(f"{experiment.key}:allocation:{previous}".encode()).digest()
        seed = int.from_bytes(digest[:7], "big")  # 56 bits: fits the BigIntegerField and numpy's seed
    weights = thompson_weights(posterior, floor=experiment.floor, seed=seed)
    arms = [o.arm for o in outcomes]
    for arm, weight in zip(arms, weights, strict=True):
        arm.weight = weight
    ExperimentArm.objects.bulk_update(arms, ["weight"])
    allocation = BanditAllocation.objects.create(
        experiment=experiment,
        arms=[
            {"arm": arm.pk, "label": str(arm), "alpha": alpha, "beta": beta, "weight": weight}
            for arm, (alpha, beta), weight in zip(arms, posterior, weights, strict=True)
        ],
        seed=seed,
        created_at=now or timezone.now(),
    )
    logger.info("insights.bandit.allocated", extra={"experiment": experiment.pk, "weights": weights})
    return allocation


def _last_posterior(experiment: Experiment, arms: list[ExperimentArm]) -> list[tuple[int, int]]:
    """The posterior of the last allocation, arm by arm; before the first one, the uniform prior Beta(1, 1)."""
    last = experiment.allocations.order_by("-pk").first()
    if last is None:
        return [(1, 1)] * len(arms)
    logged = {row["arm"]: (row["alpha"], row["beta"]) for row in last.arms}
    return [logged.get(arm.pk, (1, 1)) for arm in arms]
