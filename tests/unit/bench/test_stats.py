"""bench/stats.py: the median and max, percentiles and the median run the benchmarks report."""

import math
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "bench"))

from stats import median_max, median_run, percentile  # noqa: E402


@pytest.mark.parametrize(("values", "expected"), [
    ([3.0, 1.0, 2.0], (2.0, 3.0)),
    ([4.0, 1.0, 3.0, 2.0], (2.5, 4.0)),  # an even count: the mean of the middle two
    ([None, 1.5, None, 0.5], (1.0, 1.5)),  # None (not measured) is left out
    ([7], (7, 7)),
])
def test_median_max(values, expected):
    assert median_max(values) == expected


@pytest.mark.parametrize("values", [[], [None, None]])
def test_median_max_of_nothing_is_none(values):
    assert median_max(values) == (None, None)


def test_percentile_by_nearest_rank_of_unsorted_values():
    values = list(range(100, 0, -1))  # 100 .. 1
    assert percentile(values, 50) == 51  # rank round(0.5 * 99) = 50 (of 0..99)
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 100
    assert values[0] == 100  # the input is left as it was


def test_percentile_of_one_and_of_none():
    assert percentile([2.5], 99) == 2.5
    assert math.isnan(percentile([], 50))


def test_median_run_is_a_real_run():
    runs = [(30, "c"), (10, "a"), (20, "b")]
    assert median_run(runs, key=lambda r: r[0]) == (20, "b")
    assert median_run(runs[:2], key=lambda r: r[0]) == (30, "c")  # even count: the upper middle one
    assert median_run([(5, "x")], key=lambda r: r[0]) == (5, "x")


def test_median_run_of_no_runs():
    with pytest.raises(ValueError, match="no runs"):
        median_run([], key=len)
