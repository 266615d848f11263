"""Percentiles from a histogram of log-spaced buckets (the DDSketch idea), so that rollups can add up durations and
latencies without keeping every value, and a percentile over any slice is read from a few hundred rows.

A value ``v >= 1`` falls in bucket ``ceil(log(v) / log(GAMMA))``; the bucket reports ``2 * GAMMA**i / (GAMMA + 1)``,
within ``(GAMMA - 1) / (GAMMA + 1)`` (under 1 %) of every value in it. Values below 1 (a latency under a
millisecond) fall in ``ZERO_BUCKET`` and report 0.
"""

import math
from collections.abc import Iterable

GAMMA = 1.02
RELATIVE_ACCURACY = (GAMMA - 1) / (GAMMA + 1)
ZERO_BUCKET = -1
_LOG_GAMMA = math.log(GAMMA)


def bucket_of(value: float) -> int:
    if value < 1:
        return ZERO_BUCKET
    # The epsilon keeps exact powers of GAMMA in their own bucket despite rounding in log().
    return max(0, math.ceil(math.log(value) / _LOG_GAMMA - 1e-9))


def bucket_value(bucket: int) -> float:
    return 0.0 if bucket == ZERO_BUCKET else 2 * GAMMA**bucket / (GAMMA + 1)


def percentile(counts: Iterable[tuple[int, int]], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 1) of ``(bucket, count)`` pairs: the value at rank
    ``ceil(q * n)`` in sorted order, to within RELATIVE_ACCURACY; None when there are no values."""
    ordered = sorted((bucket, count) for bucket, count in counts if count)
    total = sum(count for _bucket, count in ordered)
    if not total:
        return None
    rank, seen = max(1, math.ceil(q * total)), 0
    for bucket, count in ordered:
        seen += count
        if seen >= rank:
            return bucket_value(bucket)
    raise AssertionError("unreachable: the ranks add up to the total")
