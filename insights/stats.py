"""The statistics of experiments and bandits: pure functions over counts and samples (scipy and numpy), no ORM, so
that each can be checked against a textbook value."""

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

# numpy and scipy are imported inside the functions that use them: the assignment hash runs at every enrolment, in
# every process, and importing scipy with the app would cost each web and worker process some 70 MB and a second.


# Below this expected count in any cell of a 2x2 table the chi-squared approximation is poor: Fisher's exact test.
MIN_EXPECTED = 5


def assignment_bucket(*, experiment: str, learner: str) -> float:
    """Where a learner falls in [0, 1) for an experiment: the same in every process and after every restart (a
    cryptographic hash, not Python's salted ``hash``), and independent between experiments."""
    digest = hashlib.sha256(f"{experiment}\x00{learner}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def arm_for_bucket(bucket: float, weights: Sequence[float]) -> int:
    """The arm whose slice of [0, 1) holds ``bucket``, slices sized by ``weights`` (normalised)."""
    total = sum(weights)
    edge = 0.0
    for index, weight in enumerate(weights):
        edge += weight / total
        if bucket < edge:
            return index
    return len(weights) - 1  # rounding: the last edge may fall a hair under 1


def sample_size_per_arm(*, baseline: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Learners per arm to detect a change of ``effect`` (absolute) from the ``baseline`` rate with a two-sided test
    at ``alpha`` and this ``power``: n = (z₁₋α/₂ + z₁₋β)² · (p₁q₁ + p₂q₂) / (p₁ − p₂)² (normal approximation)."""
    from scipy import stats

    treated = baseline + effect
    if not (0 < baseline < 1 and 0 < treated < 1 and effect != 0):
        raise ValueError("The baseline and the baseline plus the effect must both be rates strictly between 0 and 1.")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    variance = baseline * (1 - baseline) + treated * (1 - treated)
    return math.ceil(z**2 * variance / effect**2)


@dataclass(frozen=True)
class RateComparison:
    rate: float
    control_rate: float
    difference: float  # rate − control rate
    low: float  # confidence interval of the difference
    high: float
    lift: float | None  # difference / control rate
    p_value: float
    test: str


def compare_rates(
    successes: int, total: int, control_successes: int, control_total: int, *, alpha: float = 0.05
) -> RateComparison | None:
    """A rate against the control's: chi-squared on the 2x2 table (Fisher's exact test when an expected count is
    under 5), the difference with its Wald interval, and the lift. None while either side has no learner."""
    from scipy import stats

    if not total or not control_total:
        return None
    table = [[successes, total - successes], [control_successes, control_total - control_successes]]
    column = successes + control_successes
    grand = total + control_total
    if column in (0, grand):
        p_value, test = 1.0, "none (every learner had the same outcome)"
    elif min(r * c / grand for r in (total, control_total) for c in (column, grand - column)) < MIN_EXPECTED:
        p_value, test = float(stats.fisher_exact(table).pvalue), "Fisher's exact"
    else:
        p_value, test = float(stats.chi2_contingency(table, correction=False).pvalue), "chi-squared"
    rate, control_rate = successes / total, control_successes / control_total
    spread = float(stats.norm.ppf(1 - alpha / 2)) * math.sqrt(
        rate * (1 - rate) / total + control_rate * (1 - control_rate) / control_total
    )
    difference = rate - control_rate
    lift = difference / control_rate if control_rate else None
    return RateComparison(rate, control_rate, difference, difference - spread, difference + spread, lift, p_value, test)


@dataclass(frozen=True)
class TimeComparison:
    median: float
    control_median: float
    difference: float  # of the means
    low: float | None  # Welch's confidence interval of the difference of the means (None: no spread to measure)
    high: float | None
    p_value: float  # Mann-Whitney U, two-sided: times are skewed, the rank test does not assume normality
    welch_p_value: float | None


def compare_times(sample: Sequence[float], control: Sequence[float], *, alpha: float = 0.05) -> TimeComparison | None:
    """Times (e.g. to competency) against the control's; None until each side has two."""
    import numpy
    from scipy import stats

    if len(sample) < 2 or len(control) < 2:
        return None
    rank = stats.mannwhitneyu(sample, control, alternative="two-sided")
    low = high = welch_p = None
    if len(set(sample)) > 1 or len(set(control)) > 1:  # Welch needs some spread on at least one side
        welch = stats.ttest_ind(sample, control, equal_var=False)
        interval = welch.confidence_interval(1 - alpha)
        low, high, welch_p = _finite(interval.low), _finite(interval.high), _finite(welch.pvalue)
    return TimeComparison(
        median=float(numpy.median(sample)),
        control_median=float(numpy.median(control)),
        difference=float(numpy.mean(sample) - numpy.mean(control)),
        low=low,
        high=high,
        p_value=float(rank.pvalue),
        welch_p_value=welch_p,
    )


@dataclass(frozen=True)
class MeanComparison:
    """A signal's value per learner against the control's: the difference of the means with Welch's interval and
    p-value, and Mann-Whitney's p-value (no assumption about the values' distribution)."""

    mean: float
    control_mean: float
    difference: float
    low: float | None  # None when neither side has any spread
    high: float | None
    p_value: float | None  # Welch's
    mann_whitney_p_value: float


def compare_means(sample: Sequence[float], control: Sequence[float], *, alpha: float = 0.05) -> MeanComparison | None:
    """None until each side has two values."""
    import numpy
    from scipy import stats

    if len(sample) < 2 or len(control) < 2:
        return None
    rank = stats.mannwhitneyu(sample, control, alternative="two-sided")
    low = high = welch_p = None
    if len(set(sample)) > 1 or len(set(control)) > 1:
        welch = stats.ttest_ind(sample, control, equal_var=False)
        interval = welch.confidence_interval(1 - alpha)
        low, high, welch_p = _finite(interval.low), _finite(interval.high), _finite(welch.pvalue)
    mean, control_mean = float(numpy.mean(sample)), float(numpy.mean(control))
    return MeanComparison(mean, control_mean, mean - control_mean, low, high, welch_p, float(rank.pvalue))


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# Enough posterior draws that a weight's Monte Carlo error (at most 0.5 / √draws) stays under half a point.
THOMPSON_DRAWS = 10_000


def thompson_weights(
    posteriors: Sequence[tuple[int, int]], *, floor: float, seed: int, draws: int = THOMPSON_DRAWS
) -> list[float]:
    """The share of new learners per arm under Thompson sampling: the chance that each arm's Beta(alpha, beta)
    posterior draws the highest rate (estimated from ``draws`` joint draws seeded by ``seed``), squeezed so that every
    arm keeps at least ``floor``: weight = floor + (1 − k·floor) · P(best). The weights add up to 1."""
    import numpy

    if floor < 0 or floor * len(posteriors) > 1:
        raise ValueError(f"A floor of {floor} for {len(posteriors)} arms leaves no room: at most 1 / arms.")
    rng = numpy.random.default_rng(seed)
    samples = numpy.column_stack([rng.beta(alpha, beta, size=draws) for alpha, beta in posteriors])
    best = numpy.bincount(samples.argmax(axis=1), minlength=len(posteriors)) / draws
    spare = 1 - floor * len(posteriors)
    return [floor + spare * float(share) for share in best]
