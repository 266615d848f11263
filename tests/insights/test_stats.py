"""The experiments' statistics against textbook and hand-computed values, and the assignment hash: the same in any
process, balanced over many learners."""

import hashlib
import math
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from scipy.integrate import quad

from insights.stats import (
    arm_for_bucket,
    assignment_bucket,
    compare_rates,
    compare_times,
    sample_size_per_arm,
    thompson_weights,
)


def test_the_sample_size_is_the_textbook_one():
    # Chow, Shao & Wang, Sample Size Calculations in Clinical Research, two proportions: 0.65 against 0.85, α 0.05
    # two-sided, power 0.8 → 70 per group.
    assert sample_size_per_arm(baseline=0.65, effect=0.20, alpha=0.05, power=0.8) == 70


def test_the_sample_size_reaches_the_power_asked_and_one_less_does_not():
    baseline, effect = 0.30, 0.05
    n = sample_size_per_arm(baseline=baseline, effect=effect, alpha=0.05, power=0.9)
    p1, p2 = baseline, baseline + effect

    def power(size: int) -> float:  # normal approximation, Φ via erf
        z = effect / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / size) - 1.959963984540054
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))

    assert power(n) >= 0.9 > power(n - 1)


def test_a_rate_comparison_equals_the_chi_squared_by_hand():
    a, b, c, d = 60, 40, 45, 55  # variant: 60 of 100 completed; control: 45 of 100
    n = a + b + c + d
    chi2 = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    p_by_hand = math.erfc(math.sqrt(chi2 / 2))  # chi-squared with one degree of freedom
    spread = 1.959963984540054 * math.sqrt(0.6 * 0.4 / 100 + 0.45 * 0.55 / 100)

    result = compare_rates(60, 100, 45, 100)

    assert result.test == "chi-squared"
    assert math.isclose(result.p_value, p_by_hand, rel_tol=1e-9)
    assert math.isclose(result.difference, 0.15) and math.isclose(result.lift, 0.15 / 0.45)
    assert math.isclose(result.low, 0.15 - spread) and math.isclose(result.high, 0.15 + spread)


def test_small_tables_use_fishers_exact_test_as_for_the_lady_tasting_tea():
    result = compare_rates(3, 4, 1, 4)  # Fisher's tea: 3 of 4 cups right against 1 of 4

    assert result.test == "Fisher's exact"
    assert math.isclose(result.p_value, 17 / 35)  # (1 + 16) of the 70 tables are as extreme


def test_no_difference_when_every_learner_had_the_same_outcome():
    assert compare_rates(10, 10, 8, 8).p_value == 1.0
    assert compare_rates(0, 10, 0, 8).p_value == 1.0
    assert compare_rates(1, 1, 0, 0) is None


def test_times_compare_by_mann_whitney_with_welchs_interval_by_hand():
    variant, control = [3.0, 4.0, 5.0, 9.0, 11.0], [6.0, 8.0, 10.0, 12.0, 14.0, 20.0]
    u = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in variant for y in control)
    m1, m2 = sum(variant) / 5, sum(control) / 6
    v1 = sum((x - m1) ** 2 for x in variant) / 4 / 5
    v2 = sum((y - m2) ** 2 for y in control) / 5 / 6
    df = (v1 + v2) ** 2 / (v1**2 / 4 + v2**2 / 5)  # Welch-Satterthwaite
    spread = scipy_stats.t.ppf(0.975, df) * math.sqrt(v1 + v2)

    result = compare_times(variant, control)

    assert math.isclose(result.difference, m1 - m2)
    assert math.isclose(result.low, m1 - m2 - spread) and math.isclose(result.high, m1 - m2 + spread)
    assert result.median == 5.0 and result.control_median == 11.0
    assert math.isclose(result.p_value, scipy_stats.mannwhitneyu(variant, control).pvalue)
    assert u == scipy_stats.mannwhitneyu(variant, control).statistic
    assert compare_times([1.0], control) is None


def test_the_bucket_is_a_sha256_of_the_experiment_and_the_learner():
    digest = hashlib.sha256(b"experiment:7\x00alice").digest()

    assert assignment_bucket(experiment="experiment:7", learner="alice") == int.from_bytes(digest[:8], "big") / 2**64


def test_the_bucket_is_the_same_in_another_process():
    code = "from insights.stats import assignment_bucket as b; print(repr(b(experiment='experiment:3', learner='bob')))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    assert float(other) == assignment_bucket(experiment="experiment:3", learner="bob")


def test_assignment_is_balanced_over_100000_learners():
    weights = [1.0, 1.0, 2.0]  # a half for the third arm
    counts = Counter(
        arm_for_bucket(assignment_bucket(experiment="experiment:1", learner=f"learner-{n}"), weights)
        for n in range(100_000)
    )

    # A share's standard error here is about 0.0015: 0.01 is over six of them.
    for arm, share in enumerate([0.25, 0.25, 0.5]):
        assert abs(counts[arm] / 100_000 - share) < 0.01


@given(bucket=st.floats(min_value=0, max_value=1, exclude_max=True), weights=st.lists(st.floats(0.01, 10), min_size=1))
def test_the_arm_is_the_slice_holding_the_bucket(bucket, weights):
    arm = arm_for_bucket(bucket, weights)
    total = sum(weights)

    assert 0 <= arm < len(weights)
    assert sum(weights[:arm]) / total <= bucket + 1e-9
    assert arm == len(weights) - 1 or bucket < sum(weights[: arm + 1]) / total + 1e-9


def _chance_best(posteriors: list[tuple[int, int]], index: int) -> float:
    """P(arm ``index`` draws the highest rate) = ∫ f_i(x) Π_{j≠i} F_j(x) dx, by quadrature."""
    alpha, beta = posteriors[index]
    others = [p for j, p in enumerate(posteriors) if j != index]

    def density(x: float) -> float:
        return scipy_stats.beta.pdf(x, alpha, beta) * math.prod(scipy_stats.beta.cdf(x, a, b) for a, b in others)

    return quad(density, 0, 1, limit=200)[0]


def test_thompson_weights_are_the_chance_of_being_best_above_the_floor():
    posteriors = [(8, 14), (12, 10), (5, 9)]
    floor = 0.05

    weights = thompson_weights(posteriors, floor=floor, seed=3)

    for index, weight in enumerate(weights):
        exact = floor + (1 - 3 * floor) * _chance_best(posteriors, index)
        assert math.isclose(weight, exact, abs_tol=0.85 * 4 * 0.5 / 100)  # 4 σ of 10,000 draws at most
    assert math.isclose(sum(weights), 1)
    assert weights == thompson_weights(posteriors, floor=floor, seed=3)  # a seed gives the same weights


def test_a_clear_loser_keeps_its_floor_and_no_more():
    weights = thompson_weights([(1, 400), (200, 200), (201, 199)], floor=0.05, seed=0)

    assert weights[0] == 0.05 and math.isclose(sum(weights[1:]), 0.95)


def test_a_floor_too_big_for_the_arms_is_refused():
    with pytest.raises(ValueError, match="at most 1 / arms"):
        thompson_weights([(1, 1)] * 3, floor=0.34, seed=0)
