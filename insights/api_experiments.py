"""A playbook's experiments as JSON for BI tools: ``GET /api/v1/analytics/playbooks/{slug}/experiments``, the numbers
of each experiment's admin Results page (``insights.experiment_results``)."""

from dataclasses import asdict

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import error_responses
from insights.api import AnalyticsApi
from insights.experiment_results import ArmOutcome, Results, playbook_experiments_results
from insights.models import BanditAllocation
from playbooks.models import Playbook


class RateComparisonOutput(serializers.Serializer):
    rate = serializers.FloatField()
    control_rate = serializers.FloatField(help_text="The baseline arm's rate.")
    difference = serializers.FloatField(help_text="rate − control_rate.")
    low = serializers.FloatField(help_text="The difference's Wald interval at the experiment's level.")
    high = serializers.FloatField()
    lift = serializers.FloatField(allow_null=True, help_text="difference / control_rate.")
    p_value = serializers.FloatField()
    test = serializers.CharField(help_text="chi-squared, or Fisher's exact when a cell expects under 5.")


class TimeComparisonOutput(serializers.Serializer):
    median = serializers.FloatField(help_text="Hours from enrolment to completion.")
    control_median = serializers.FloatField()
    difference = serializers.FloatField(help_text="Of the means, in hours.")
    low = serializers.FloatField(allow_null=True, help_text="Welch's interval of the difference.")
    high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(help_text="Mann-Whitney U, two-sided.")
    welch_p_value = serializers.FloatField(allow_null=True)


class MeanComparisonOutput(serializers.Serializer):
    mean = serializers.FloatField()
    control_mean = serializers.FloatField(help_text="The baseline arm's mean.")
    difference = serializers.FloatField(help_text="mean − control_mean.")
    low = serializers.FloatField(allow_null=True, help_text="Welch's interval of the difference.")
    high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True, help_text="Welch's t-test, two-sided.")
    mann_whitney_p_value = serializers.FloatField()


class SignalOutput(serializers.Serializer):
    name = serializers.CharField(help_text="A signal the arm's version declares.")
    learners = serializers.IntegerField(help_text="The arm's learners with a number for it now.")
    mean = serializers.FloatField(allow_null=True)
    comparison = MeanComparisonOutput(allow_null=True, help_text="Against the baseline arm; null for it.")


class ArmOutput(serializers.Serializer):
    arm = serializers.CharField(help_text="Its label: the version, and the parameter values it sets.")
    version = serializers.IntegerField()
    parameters = serializers.DictField(help_text="The parameter values it sets over the version's defaults.")
    is_control = serializers.BooleanField()
    weight = serializers.FloatField(help_text="Its share of new learners now (the arms' weights, normalised).")
    posterior = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, help_text="A bandit's last [alpha, beta] on completion."
    )
    learners = serializers.IntegerField()
    completed = serializers.IntegerField()
    completion_rate = serializers.FloatField(allow_null=True)
    skip_rate = serializers.FloatField(allow_null=True)
    completion = RateComparisonOutput(allow_null=True, help_text="Against the baseline arm; null for it.")
    time_to_competency = TimeComparisonOutput(allow_null=True)
    skips = RateComparisonOutput(allow_null=True)
    signals = SignalOutput(many=True)


class ExperimentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    allocation = serializers.CharField(help_text="fixed, or bandit (Thompson sampling on completion).")
    floor = serializers.FloatField(help_text="A bandit's smallest share per arm.")
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    alpha = serializers.FloatField()
    required_per_arm = serializers.IntegerField(allow_null=True, help_text="From the power calculation.")
    baseline = serializers.CharField(help_text="The arm the others are compared with: the control, else the first.")
    significantly_better = serializers.CharField(allow_null=True, help_text="The best arm better on completion.")
    winner = serializers.IntegerField(allow_null=True, help_text="The version chosen when it was stopped.")
    winner_arm = serializers.CharField(allow_null=True, help_text="The arm chosen when it was stopped (its label).")
    peek_warning = serializers.CharField(allow_null=True, help_text="Until every arm has the sample size.")
    warnings = serializers.ListField(child=serializers.CharField())
    arms = ArmOutput(many=True)


class ExperimentsOutput(serializers.Serializer):
    playbook = serializers.CharField()
    experiments = ExperimentOutput(many=True)


class PlaybookExperimentsApi(AnalyticsApi):
    """A playbook's experiments, newest first: per arm its outcomes against the baseline arm, with p-values,
    confidence intervals and lift, the sample size asked for and the warning against stopping on a peek."""

    @extend_schema(
        operation_id="analytics_playbook_experiments",
        responses={200: ExperimentsOutput, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        playbook = get_object_or_404(Playbook, slug=slug)
        results = playbook_experiments_results(playbook=playbook)
        posteriors = _last_posteriors([r.experiment.pk for r in results])
        body = {"playbook": playbook.slug, "experiments": [_experiment_body(r, posteriors) for r in results]}
        return Response(ExperimentsOutput(body).data)


def _last_posteriors(experiment_ids: list[int]) -> dict[int, list[int]]:
    """Arm → [alpha, beta] of each bandit's latest allocation, in one query."""
    latest = BanditAllocation.objects.filter(experiment_id__in=experiment_ids).order_by("experiment_id", "-pk")
    return {
        row["arm"]: [row["alpha"], row["beta"]]
        for allocation in latest.distinct("experiment_id")
        for row in allocation.arms
    }


def _experiment_body(results: Results, posteriors: dict[int, list[int]]) -> dict:
    experiment = results.experiment
    total = sum(o.arm.weight for o in results.arms)
    return {
        **{name: getattr(experiment, name) for name in ("id", "name", "status", "allocation", "floor", "alpha")},
        "started_at": experiment.started_at,
        "stopped_at": experiment.stopped_at,
        "required_per_arm": experiment.required_per_arm,
        "baseline": str(results.baseline.arm),
        "significantly_better": str(results.winner.arm) if results.winner else None,
        "winner": experiment.winner.number if experiment.winner else None,
        "winner_arm": str(experiment.winning_arm) if experiment.winning_arm else None,
        "peek_warning": results.peek_warning,
        "warnings": results.warnings,
        "arms": [_arm_body(outcome, total, posteriors) for outcome in results.arms],
    }


def _arm_body(outcome: ArmOutcome, total: float, posteriors: dict[int, list[int]]) -> dict:
    return {
        "arm": str(outcome.arm),
        "version": outcome.arm.version.number,
        "parameters": outcome.arm.parameters,
        "is_control": outcome.arm.is_control,
        "weight": outcome.arm.weight / total if total else 0.0,
        "posterior": posteriors.get(outcome.arm.pk),
        "learners": outcome.learners,
        "completed": outcome.completed,
        "completion_rate": outcome.completion_rate,
        "skip_rate": outcome.skip_rate,
        "completion": asdict(outcome.completion) if outcome.completion else None,
        "time_to_competency": asdict(outcome.time) if outcome.time else None,
        "skips": asdict(outcome.skips) if outcome.skips else None,
        "signals": [
            {
                "name": signal.name,
                "learners": signal.learners,
                "mean": signal.mean,
                "comparison": asdict(signal.comparison) if signal.comparison else None,
            }
            for signal in outcome.signals
        ],
    }
