import numpy as np
import pytest
from scipy.stats import binomtest

from crystalkit.errors import CrystalInputError
from crystalkit.metrics.intervals import bootstrap_interval, wilson_interval


def test_wilson_matches_scipy_reference():
    for k, n in [(0, 5), (4, 21), (11, 36), (21, 21), (190, 379)]:
        ours = wilson_interval(k, n)
        reference = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert ours.low == pytest.approx(reference.low, abs=1e-12)
        assert ours.high == pytest.approx(reference.high, abs=1e-12)
        assert ours.estimate == k / n


def test_wilson_narrows_with_more_trials_and_stays_in_unit_range():
    small, large = wilson_interval(4, 20), wilson_interval(40, 200)
    assert large.high - large.low < small.high - small.low
    edge = wilson_interval(0, 3)
    assert edge.low == pytest.approx(0.0, abs=1e-12) and 0 < edge.high < 1


@pytest.mark.parametrize("k, n", [(3, 0), (-1, 4), (5, 4), (1.5, 4)])
def test_wilson_refuses_impossible_counts(k, n):
    with pytest.raises(CrystalInputError):
        wilson_interval(k, n)


def test_bootstrap_contains_estimate_is_reproducible_and_tracks_spread():
    rng = np.random.default_rng(1)
    narrow, wide = rng.normal(0, 0.1, 50), rng.normal(0, 1.0, 50)
    a, b = bootstrap_interval(narrow, seed=3), bootstrap_interval(narrow, seed=3)
    assert a == b and a.contains(a.estimate)
    assert bootstrap_interval(wide).high - bootstrap_interval(wide).low > 5 * (a.high - a.low)


def test_bootstrap_refuses_empty_and_nan():
    with pytest.raises(CrystalInputError):
        bootstrap_interval([])
    with pytest.raises(CrystalInputError, match="NaN"):
        bootstrap_interval([0.1, float("nan")])


def test_interval_formats_all_three_numbers():
    assert f"{wilson_interval(1, 2):.2f}".count("0.") >= 2
    assert format(wilson_interval(1, 2), ".1%").startswith("50.0% (")
    from crystalkit.metrics.intervals import Interval

    assert f"{Interval(-2.0, -2.9, -1.3):.2f}" == "-2.00 (-2.90 to -1.30)"
