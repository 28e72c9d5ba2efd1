"""Statistics over seeds, against values worked out by hand."""

import math

import pytest

from deepq.experiments.stats import iqm, mean_ci, median_with_never, t975


def test_mean_ci_is_the_student_t_interval():
    ci = mean_ci([1.0, 2.0, 3.0])  # mean 2, sample std 1, half-width t(0.975, 2) * 1 / sqrt(3)
    assert (ci.mean, ci.std, ci.n) == (2.0, 1.0, 3)
    assert ci.low == pytest.approx(2.0 - 4.303 / math.sqrt(3))
    assert ci.high == pytest.approx(2.0 + 4.303 / math.sqrt(3))
    one = mean_ci([5.0])
    assert one.mean == 5.0 and math.isnan(one.low) and math.isnan(one.std)
    assert t975(9) == 2.262 and t975(500) == 1.96


def test_iqm_drops_a_quarter_at_each_end():
    assert iqm([0.0, 10.0, 20.0, 1000.0]) == 15.0  # n=4: drop 1 each end
    assert iqm([3.0, 1.0, 2.0]) == 2.0  # n=3: nothing dropped, plain mean
    assert iqm([0, 1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(sum([2, 3, 4, 5, 6]) / 5)  # n=9: drop 2 each end
    assert math.isnan(iqm([]))


def test_median_counts_never_as_infinitely_late():
    assert median_with_never([3.0, 1.0, 2.0]) == 2.0
    assert median_with_never([1.0, 3.0, None, None, 5.0]) == 5.0
    assert median_with_never([1.0, None]) == math.inf
    assert median_with_never([1.0, 3.0, 5.0, None]) == 4.0
