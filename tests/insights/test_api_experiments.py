"""The experiments of a playbook in the analytics API: the numbers of each experiment's admin Results page, with the
p-values, intervals and lift scipy gives for the same counts, for a key holding ``analytics:read`` only."""

import math

import pytest
from django.template.defaultfilters import floatformat
from django.urls import reverse
from scipy import stats as scipy_stats

from insights.experiment_results import experiment_results
from insights.services.bandits import bandit_allocate
from insights.services.experiments import experiment_create, experiment_start, experiment_stop
from playbooks.services import learners_reroute
from tests.factories import LearnerFactory, UserFactory, api_key
from tests.insights.conftest import T0
from tests.insights.test_experiments import _outcomes

pytestmark = pytest.mark.django_db

CONTROL_HOURS = [float(h) for h in range(10, 40)]
VARIANT_HOURS = [float(h) for h in range(5, 50)]


@pytest.fixture
def experiments(world):
    """A fixed split, stopped with v1 the winner (60 learners an arm), then a running bandit with one learner."""
    fixed = experiment_start(experiment=experiment_create(playbook=world.playbook, name="fixed", variants=[world.v1]))
    _outcomes(world, fixed, world.v2, completed=30, total=60, hours=CONTROL_HOURS, skipped=20)
    _outcomes(world, fixed, world.v1, completed=45, total=60, hours=VARIANT_HOURS, skipped=10)
    fixed = experiment_stop(experiment=fixed, winner=fixed.arms.get(version=world.v1))
    created = experiment_create(
        playbook=world.playbook, name="bandit", variants=[world.v1], allocation="bandit", floor=0.1
    )
    bandit = experiment_start(experiment=created)
    learners_reroute(learner_ids=[LearnerFactory(roles=["agent"]).pk], now=T0)
    allocation = bandit_allocate(experiment=bandit, seed=5)
    return fixed, bandit, allocation


def _get(client, key: str, slug: str):
    return client.get(f"/api/v1/analytics/playbooks/{slug}/experiments", HTTP_AUTHORIZATION=f"Api-Key {key}")


def test_each_arm_has_the_results_pages_numbers_and_scipys(client, world, experiments, django_assert_max_num_queries):
    fixed, bandit, allocation = experiments
    key, _ = api_key("analytics:read")

    # The key, the playbook, its experiments and the last posteriors; per experiment its arms, assignments,
    # enrolments and module progress.
    with django_assert_max_num_queries(5 + 4 * 2):
        body = _get(client, key, world.playbook.slug).json()

    assert body["playbook"] == world.playbook.slug
    assert [e["name"] for e in body["experiments"]] == ["bandit", "fixed"]  # newest first
    shown = body["experiments"][1]
    assert (shown["status"], shown["allocation"], shown["winner"]) == ("stopped", "fixed", world.v1.number)
    assert (shown["baseline"], shown["significantly_better"]) == ("control (v2)", "v1")
    control, variant = shown["arms"]
    assert (control["learners"], control["completed"], control["completion"]) == (60, 30, None)
    assert (variant["learners"], variant["completed"], variant["weight"]) == (60, 45, 0.5)
    completion = variant["completion"]
    chi2 = scipy_stats.chi2_contingency([[45, 15], [30, 30]], correction=False)
    spread = 1.959963984540054 * math.sqrt(0.75 * 0.25 / 60 + 0.5 * 0.5 / 60)
    assert completion["p_value"] == pytest.approx(chi2.pvalue) and completion["test"] == "chi-squared"
    assert completion["low"] == pytest.approx(0.25 - spread) and completion["high"] == pytest.approx(0.25 + spread)
    assert completion["lift"] == pytest.approx(0.5)
    time = variant["time_to_competency"]
    assert time["p_value"] == pytest.approx(scipy_stats.mannwhitneyu(VARIANT_HOURS, CONTROL_HOURS).pvalue)
    welch = scipy_stats.ttest_ind(VARIANT_HOURS, CONTROL_HOURS, equal_var=False).confidence_interval(0.95)
    assert (time["low"], time["high"]) == (pytest.approx(welch.low), pytest.approx(welch.high))
    assert variant["skips"]["p_value"] == pytest.approx(
        scipy_stats.chi2_contingency([[10, 50], [20, 40]], correction=False).pvalue
    )
    required = fixed.required_per_arm
    assert shown["required_per_arm"] == required and f"60 of the {required} learners" in shown["peek_warning"]
    # The admin's Results page shows these very numbers.
    results = experiment_results(experiment=fixed)
    assert completion["p_value"] == results.arms[1].completion.p_value
    assert shown["warnings"] == results.warnings
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:insights_experiment_results", args=[fixed.pk])).content.decode()
    for number in (completion["p_value"], time["p_value"], variant["skips"]["p_value"]):
        assert floatformat(number, 4) in page
    assert f"{floatformat(completion['low'], 3)} to {floatformat(completion['high'], 3)}" in page


def test_a_bandit_shows_its_weights_and_last_posterior(client, world, experiments):
    _fixed, _bandit, allocation = experiments
    key, _ = api_key("analytics:read")

    shown = _get(client, key, world.playbook.slug).json()["experiments"][0]

    assert (shown["allocation"], shown["floor"], shown["status"]) == ("bandit", 0.1, "running")
    assert [arm["posterior"] for arm in shown["arms"]] == [[row["alpha"], row["beta"]] for row in allocation.arms]
    assert [arm["weight"] for arm in shown["arms"]] == pytest.approx([row["weight"] for row in allocation.arms])
    assert any("bandit" in warning for warning in shown["warnings"])


def test_a_playbook_without_experiments_has_an_empty_list(client, world):
    key, _ = api_key("analytics:read")

    assert _get(client, key, world.playbook.slug).json() == {"playbook": world.playbook.slug, "experiments": []}


def test_other_keys_and_unknown_playbooks_are_refused(client, world, experiments):
    writer, _ = api_key("events:write")
    reader, _ = api_key("analytics:read")

    assert _get(client, writer, world.playbook.slug).status_code == 403
    assert client.get(f"/api/v1/analytics/playbooks/{world.playbook.slug}/experiments").status_code == 401
    assert _get(client, reader, "nope").status_code == 404
