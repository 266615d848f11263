"""Per-arm outcomes on a playbook's declared signals: each learner's value now, the arm's mean, and the comparison
with the control by Welch's t-test and Mann-Whitney, the expected numbers computed here with scipy directly."""

from datetime import timedelta

import pytest
from django.template.defaultfilters import floatformat
from django.urls import reverse
from scipy import stats as scipy_stats

from insights.experiment_results import experiment_results
from insights.models import ExperimentAssignment
from insights.services.experiments import experiment_create, experiment_start
from playbooks.models import Playbook
from playbooks.services import playbook_import
from signals_app.models import Event
from tests.factories import LearnerFactory, UserFactory, api_key
from tests.insights.conftest import T0

pytestmark = pytest.mark.django_db

PLAYBOOK = """
slug: quizzed
name: Quizzed
audience: {roles: [agent]}
modules:
  - {slug: quiz-intro, title: Quiz intro, minutes: 5}
signals:
  quiz_score: {event: quiz_answered, aggregate: avg, property: score}
  quizzes: {event: quiz_answered, aggregate: count}
steps:
  - module: quiz-intro
"""
# Each learner's scores: their quiz_score is the mean of their own, quizzes how many.
CONTROL = [[60, 70], [55], [80, 90, 70], [65], [50, 60], [75]]
VARIANT = [[85], [90, 80], [70, 75], [95], [88, 92], [60, 99], [81]]


@pytest.fixture
def experiment():
    v1 = playbook_import(text=PLAYBOOK, publish=True).version
    v2 = playbook_import(text=PLAYBOOK.replace("minutes: 5", "minutes: 6"), publish=True).version
    experiment = experiment_start(
        experiment=experiment_create(playbook=Playbook.objects.get(slug="quizzed"), name="quiz", variants=[v1])
    )
    for version, learners in ((v2, CONTROL), (v1, VARIANT)):
        arm = experiment.arms.get(version=version)
        for scores in learners:
            learner = LearnerFactory(roles=["agent"])
            learner.enrollments.create(playbook=version.playbook, version=version, enrolled_at=T0)
            ExperimentAssignment.objects.create(
                experiment=experiment, arm=arm, learner=learner, bucket=0, assigned_at=T0
            )
            for minute, score in enumerate(scores):
                at = T0 + timedelta(minutes=minute + 1)
                Event.objects.create(
                    source="key:1",
                    client_id=f"{learner.pk}-{minute}",
                    learner=learner,
                    type="quiz_answered",
                    occurred_at=at,
                    received_at=at,
                    properties={"score": score},
                )
    # A learner of the control with no quiz yet: no average, so not among those counted for quiz_score.
    learner = LearnerFactory(roles=["agent"])
    learner.enrollments.create(playbook=v2.playbook, version=v2, enrolled_at=T0)
    control = experiment.arms.get(is_control=True)
    ExperimentAssignment.objects.create(experiment=experiment, arm=control, learner=learner, bucket=0, assigned_at=T0)
    return experiment


def _means(learners: list[list[int]]) -> list[float]:
    return [sum(scores) / len(scores) for scores in learners]


def test_each_arm_is_compared_on_each_signal_as_scipy_does(experiment):
    results = experiment_results(experiment=experiment)

    control, variant = results.arms
    assert [s.name for s in control.signals] == ["quiz_score", "quizzes"]
    score, count = variant.signals
    assert (control.signals[0].learners, score.learners) == (len(CONTROL), len(VARIANT))
    assert score.mean == pytest.approx(sum(_means(VARIANT)) / len(VARIANT))
    welch = scipy_stats.ttest_ind(_means(VARIANT), _means(CONTROL), equal_var=False)
    interval = welch.confidence_interval(0.95)
    assert score.comparison.p_value == pytest.approx(welch.pvalue)
    assert (score.comparison.low, score.comparison.high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert score.comparison.mann_whitney_p_value == pytest.approx(
        scipy_stats.mannwhitneyu(_means(VARIANT), _means(CONTROL), alternative="two-sided").pvalue
    )
    # A count has a value for every learner, 0 for the one with no quiz.
    control_counts = [len(s) for s in CONTROL] + [0]
    assert control.signals[1].learners == len(CONTROL) + 1
    assert count.comparison.difference == pytest.approx(
        sum(map(len, VARIANT)) / len(VARIANT) - sum(control_counts) / len(control_counts)
    )
    assert count.comparison.mann_whitney_p_value == pytest.approx(
        scipy_stats.mannwhitneyu([len(s) for s in VARIANT], control_counts, alternative="two-sided").pvalue
    )
    assert control.signals[0].comparison is None  # the baseline


def test_the_api_and_the_results_page_show_the_signal_outcomes(client, experiment):
    key, _ = api_key("analytics:read")

    body = client.get("/api/v1/analytics/playbooks/quizzed/experiments", HTTP_AUTHORIZATION=f"Api-Key {key}").json()

    control, variant = body["experiments"][0]["arms"]
    assert [s["name"] for s in variant["signals"]] == ["quiz_score", "quizzes"]
    welch = scipy_stats.ttest_ind(_means(VARIANT), _means(CONTROL), equal_var=False)
    assert variant["signals"][0]["comparison"]["p_value"] == pytest.approx(welch.pvalue)
    assert control["signals"][0] == {
        "name": "quiz_score",
        "learners": len(CONTROL),
        "mean": pytest.approx(sum(_means(CONTROL)) / len(CONTROL)),
        "comparison": None,
    }

    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    page = client.get(reverse("admin:insights_experiment_results", args=[experiment.pk])).content.decode()
    assert "quiz_score: arm" in page and floatformat(welch.pvalue, 4) in page
