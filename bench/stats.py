"""The few statistics the benchmarks report, in one place: median and max, a percentile, the median run."""

from __future__ import annotations

import math
import statistics


def median_max(values):
    """(median, max) of the values that are not None; (None, None) when there are none."""
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return statistics.median(present), max(present)


def percentile(values, p):
    """The p-th percentile (0-100) by nearest rank on the sorted values; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = max(0, min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1)))))
    return ordered[k]


def median_run(runs, key):
    """The run whose key is the median: the middle one of an odd count, the upper middle one of an even count
    (a real run, never an average of two). ValueError for no runs."""
    if not runs:
        raise ValueError("no runs to take the median of")
    return sorted(runs, key=key)[len(runs) // 2]
