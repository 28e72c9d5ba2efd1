"""The aggregate statistics of issue 13: IQM rows and the stratified bootstrap, against slow, obvious loops."""

import numpy as np

from deepq.experiments import stats


def test_iqm_rows_matches_the_scalar_iqm_by_hand():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 100.0, 5.0, 6.0, 7.0], [3.0, 1.0, 2.0, 9.0, 9.0, 9.0, 9.0, 9.0]])
    assert stats.iqm_rows(x).tolist() == [stats.iqm(row) for row in x.tolist()]
    assert stats.iqm_rows(x)[0] == (3 + 4 + 5 + 6) / 4  # 8 values: the 2 lowest and 2 highest dropped


def test_stratified_bootstrap_equals_a_slow_loop_with_the_same_draws():
    rng = np.random.default_rng(1)
    tasks = [rng.normal(100, 20, size=5), rng.normal(300, 50, size=3)]  # two tasks, 5 and 3 runs
    point, low, high = stats.stratified_bootstrap_ci(tasks, reps=500, seed=7)
    draws = np.random.default_rng(7)
    index = [draws.integers(0, len(t), size=(500, len(t))) for t in tasks]  # the same draws, task by task
    slow = []
    for b in range(500):
        pooled = [tasks[t][index[t][b, j]] for t in range(len(tasks)) for j in range(len(tasks[t]))]
        slow.append(stats.iqm(pooled))  # each task's runs resampled from that task only, then pooled
    assert point == stats.iqm(np.concatenate(tasks).tolist())
    assert np.isclose(low, np.percentile(slow, 2.5)) and np.isclose(high, np.percentile(slow, 97.5))
    assert low <= point <= high


def test_a_curve_gets_one_interval_per_point_and_constant_scores_a_zero_width_one():
    curve = np.array([[0.0, 10.0, 500.0], [0.0, 20.0, 500.0], [0.0, 30.0, 500.0], [0.0, 40.0, 500.0]])  # 4 runs
    point, low, high = stats.stratified_bootstrap_ci([curve], reps=300)
    assert point.shape == low.shape == high.shape == (3,)
    assert point[0] == low[0] == high[0] == 0.0 and point[2] == low[2] == high[2] == 500.0
    assert low[1] < point[1] < high[1] and point[1] == 25.0
    again = stats.stratified_bootstrap_ci([curve], reps=300)
    assert np.array_equal(again[1], low)  # seeded: the same figure every time
