"""pgjax.tools.stats against closed forms, and its stratified bootstrap against the exact
bootstrap distribution, enumerated by a slow loop over every resample of a small input."""

import itertools

import numpy as np
import pytest

from pgjax.tools import stats


def test_iqm_closed_forms():
    # n = 8: the lowest two and the highest two dropped
    assert stats.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)
    # an outlier in the top quarter moves the mean but not the IQM
    assert stats.iqm([0, 1, 2, 3, 4, 5, 6, 1e9]) == pytest.approx(3.5)
    # a run collapsed to 0 among 16 that reached 500 (the failure that IQM hides)
    assert stats.iqm([0.0] + [500.0] * 15) == 500.0
    # symmetric about its centre: the IQM is the centre
    assert stats.iqm([-3.0, -1.0, 0.0, 2.0, 7.0, 1.0, -2.0, 3.0, -7.0]) == pytest.approx(
        np.mean([-2.0, -1.0, 0.0, 1.0, 2.0])
    )
    # vectorised over rows
    np.testing.assert_allclose(stats.iqm(np.array([[1, 2, 3, 4.0], [4, 4, 4, 4.0]])), [2.5, 4.0])


def test_interval_of_constant_runs_is_a_point():
    got = stats.stratified_interval([np.full(5, 3.0), np.full(7, 3.0)])
    assert got == (3.0, 3.0, 3.0)


def test_stratification_keeps_each_task_whole():
    # task A always 0, task B always 1, as many runs each: every stratified resample has
    # the same pooled IQM (0.5); resampling the pool without strata would not
    got = stats.stratified_interval([np.zeros(8), np.ones(8)], np.mean)
    assert got == (0.5, 0.5, 0.5)
    pooled = stats.stratified_interval([np.concatenate([np.zeros(8), np.ones(8)])], np.mean)
    assert pooled.low < 0.45 and pooled.high > 0.55


def test_interval_of_the_mean_matches_the_normal_one():
    # many runs: the percentile bootstrap of the mean is the normal interval, 1.96 s / sqrt(n)
    x = np.random.default_rng(1).normal(10.0, 2.0, size=400)
    point, low, high = stats.stratified_interval([x], np.mean, resamples=4000)
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    assert point == pytest.approx(x.mean())
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert (low + high) / 2 == pytest.approx(x.mean(), abs=0.1 * half)


def exact_bootstrap(tasks, statistic):
    """Every stratified resample of ``tasks`` (each task's runs drawn with replacement, in
    order: n_t ** n_t equally likely draws per task) and its statistic, by brute force."""
    values = []
    per_task = [list(itertools.product(t, repeat=len(t))) for t in tasks]
    for draw in itertools.product(*per_task):
        values.append(statistic(np.concatenate([np.asarray(d) for d in draw])))
    return np.asarray(values)


def is_quantile(exact, value, p, slack):
    """``value`` is a ``p``-quantile of the distribution of ``exact``, to ``slack`` in
    probability (and to rounding in value: the two sides sum in another order)."""
    below, at_most = np.mean(exact < value - 1e-9), np.mean(exact <= value + 1e-9)
    return below <= p + slack and at_most >= p - slack


@pytest.mark.parametrize("statistic", [stats.iqm, np.mean, np.median])
def test_stratified_interval_against_the_exact_bootstrap(statistic):
    tasks = [np.array([0.1, 0.7, 0.4]), np.array([2.0, -1.0, 0.5]), np.array([0.3, 0.9])]
    exact = exact_bootstrap(tasks, lambda x: statistic(x, axis=-1))  # 27 * 27 * 4 resamples
    point, low, high = stats.stratified_interval(tasks, statistic, resamples=20000, seed=3)
    assert point == pytest.approx(statistic(np.concatenate(tasks)))
    # each end is a 2.5% / 97.5% quantile of the exact distribution (an atom may cover it)
    slack = 0.006  # Monte Carlo error of 20000 resamples at p = 0.025: about 0.0011 per sd
    assert is_quantile(exact, low, 0.025, slack) and is_quantile(exact, high, 0.975, slack)


def test_single_run_has_no_interval():
    point, low, high = stats.stratified_interval([np.array([4.0])])
    assert point == 4.0 and np.isnan(low) and np.isnan(high)


def test_performance_profile_closed_form():
    tasks = [np.array([0.1, 0.5, 0.9]), np.array([1.2, 1.2])]
    got = stats.performance_profile(tasks, [0.0, 0.5, 1.0, 1.2])
    # task 1: 3/3, 2/3 (strictly above), 0, 0; task 2: 1, 1, 1, 0 (1.2 is not above 1.2)
    np.testing.assert_allclose(got, [(1 + 1) / 2, (1 / 3 + 1) / 2, (0 + 1) / 2, 0.0])
    profile = stats.profile_interval(tasks, np.linspace(-1, 2, 31))
    assert np.all(np.diff(profile.point) <= 0)
    assert np.all(profile.low <= profile.point + 1e-12)
    assert np.all(profile.point <= profile.high + 1e-12)


def test_profile_interval_against_the_exact_bootstrap():
    tasks = [np.array([0.2, 0.8, 0.5]), np.array([1.5, 0.1, 0.6])]
    tau = np.array([0.3, 0.55])
    got = stats.profile_interval(tasks, tau, resamples=20000, seed=1)
    for i, t in enumerate(tau):
        # a pooled mean of indicators is each task's mean averaged, as the tasks hold as many
        exact = exact_bootstrap(tasks, lambda x, t=t: np.mean(x > t))
        assert is_quantile(exact, got.low[i], 0.025, 0.006)
        assert is_quantile(exact, got.high[i], 0.975, 0.006)


def test_probability_of_improvement_closed_forms():
    x, y = [np.array([3.0, 4.0])], [np.array([1.0, 2.0])]
    assert stats.probability_of_improvement(x, y) == 1.0
    assert stats.probability_of_improvement(y, x) == 0.0
    assert stats.probability_of_improvement(x, x) == 0.5  # ties count one half
    assert stats.probability_of_improvement([np.array([1.0, 2.0])], [np.array([1.5])]) == 0.5
    # averaged over tasks: one task won, one lost, one tied at the middle
    two = [np.array([5.0]), np.array([0.0]), np.array([1.0, 3.0])]
    other = [np.array([1.0]), np.array([2.0]), np.array([2.0])]
    assert stats.probability_of_improvement(two, other) == pytest.approx((1 + 0 + 0.5) / 3)
    rng = np.random.default_rng(0)
    a = [rng.normal(size=5), rng.normal(size=6)]
    b = [rng.normal(size=4), rng.normal(size=3)]
    total = stats.probability_of_improvement(a, b) + stats.probability_of_improvement(b, a)
    assert total == pytest.approx(1.0)
    got = stats.improvement_interval(a, b, resamples=500)
    assert got.low <= got.point <= got.high


def test_refusals_name_the_input():
    with pytest.raises(ValueError, match=r"tasks\[1\]: runs \[2\] are not finite"):
        stats.stratified_interval([np.ones(3), np.array([1.0, 2.0, np.nan])])
    with pytest.raises(ValueError, match=r"tasks\[0\]: shape \(0,\)"):
        stats.performance_profile([np.array([])], [0.0])
    with pytest.raises(ValueError, match="no tasks"):
        stats.stratified_interval([])
    with pytest.raises(ValueError, match="x_tasks has 1 tasks and y_tasks 2"):
        stats.probability_of_improvement([np.ones(2)], [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match=r"confidence=1\.5"):
        stats.stratified_interval([np.ones(3)], confidence=1.5)
