"""Tests of the learning-rate suggestion rules (pure numpy)."""

import bisect
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jaxlr
from jaxlr.finder._suggest import (best_final, horizon_extrapolation, longest_decrease,
                                suggest_lr)

LRS = np.logspace(-5, 0, 26)


def _lis_strict(values):
    """Length of the longest strictly increasing subsequence (patience sorting)."""
    tails = []
    for v in values:
        i = bisect.bisect_left(tails, v)
        tails[i:i + 1] = [v]
    return len(tails)


@given(st.lists(st.integers(0, 6), min_size=1, max_size=30))
def test_longest_decrease_matches_patience_sorting(values):
    y = np.array(values, float)
    end, length = longest_decrease(y)
    assert length == _lis_strict([-v for v in values])
    assert 0 <= end < len(values)


def test_valley_is_the_fastai_index_into_a_single_descent():
    y = np.concatenate([np.full(5, 3.0), np.linspace(2.9, 0.5, 12), np.linspace(0.6, 5, 9)])
    s = suggest_lr(LRS, y, "valley")
    # descent: index 4 (last 3.0) .. 16, length L=13; fastai's point start + L//3 + L//6
    assert s.index == 4 + 13 // 3 + 13 // 6 and s.lr == LRS[s.index] and s.rule == "valley"


def test_steepest_and_minimum_on_a_known_curve():
    x = np.log10(LRS)
    y = 2.0 - np.tanh(2.0 * (x + 3.0)) + 0.5 * np.maximum(x + 1.0, 0.0) ** 2
    s = suggest_lr(LRS, y, "steepest")
    assert math.isclose(s.lr, 1e-3, rel_tol=1e-9)
    m = suggest_lr(LRS, y, "minimum_div_10")
    assert m.lr_point == LRS[int(np.argmin(y))] and math.isclose(m.lr, m.lr_point / 10)


def test_curve_is_cut_at_divergence_and_skips_apply():
    y = np.array([3.0, 2.9, 2.5, 1.0, 0.4, 0.2, np.nan, 0.0, 0.0, 0.0])
    lrs = LRS[:10]
    assert suggest_lr(lrs, y, "minimum_div_10").index == 5     # the later 0.0 are unseen
    assert suggest_lr(lrs, y, "steepest", skip_start=3).index >= 3
    assert suggest_lr(lrs[:6], y[:6], "minimum_div_10", skip_end=3).index == 2


def test_too_few_points_gives_nan_and_a_warning():
    with pytest.warns(RuntimeWarning, match="usable point"):
        s = suggest_lr(LRS[:4], [1.0, np.inf, 0.5, 0.2], "valley")
    assert math.isnan(s.lr) and s.index == -1


@given(st.lists(st.integers(0, 50), min_size=5, max_size=26),
       st.floats(0.1, 100.0), st.floats(-50.0, 50.0),
       st.sampled_from(["steepest", "valley", "minimum_div_10"]))
def test_rules_are_invariant_to_positive_affine_loss_changes(values, a, b, rule):
    y = np.array(values, float)
    lrs = LRS[: len(values)]
    s1 = suggest_lr(lrs, y, rule)
    s2 = suggest_lr(lrs, a * y + b, rule)
    if rule != "steepest":                     # steepest is affected by rounding ties only
        assert s1.index == s2.index
    assert lrs[0] / 10 <= s1.lr <= lrs[-1]


def test_best_final_one_standard_error_rule():
    lrs = np.array([1e-3, 3e-3, 1e-2, 3e-2, 1e-1])
    final = np.array([[1.0, 1.1, 1.05], [0.60, 0.62, 0.61], [0.50, 0.52, 0.51],
                      [0.515, 0.52, 0.51], [0.9, 0.3, 0.6]])
    div = np.zeros_like(final, bool)
    se = dict(one_standard_error=True)
    assert best_final(lrs, final, div, **se).lr == 3e-2     # near-equal and stable: larger
    assert best_final(lrs, final, div).lr == 1e-2           # default: the argmin
    final[1] = [0.505, 0.515, 0.51]
    assert best_final(lrs, final, div, prefer="smaller", **se).lr == 3e-3
    div[3, 1] = True                                        # a diverged seed: not stable
    assert best_final(lrs, final, div, **se).lr == 1e-2
    assert best_final(lrs, final[:, :1], div[:, :1] & False, **se).lr == 1e-2  # 1 seed: argmin
    with pytest.warns(RuntimeWarning, match="diverged"):
        assert math.isnan(best_final(lrs, final, np.ones_like(div)).lr)
    with pytest.raises(ValueError, match="prefer='largest'"):
        best_final(lrs, final, div, one_standard_error=True, prefer="largest")


def test_bad_arguments():
    with pytest.raises(ValueError, match=re.escape("rule='best'")):
        suggest_lr(LRS, LRS, "best")
    with pytest.raises(ValueError, match="same length"):
        suggest_lr(LRS, LRS[:3], "valley")
    with pytest.raises(ValueError, match="increasing"):
        suggest_lr(LRS[::-1], LRS, "valley")
    assert jaxlr.finder.suggest_lr is suggest_lr


def _drifting(lrs, steps, exponent, best_at_t=0.1, t_ref=100.0, seeds=2):
    """Seed curves whose best rate is best_at_t * (t / t_ref)^exponent (quadratic in log lr)."""
    best = best_at_t * (steps / t_ref) ** exponent
    c = (np.log(lrs)[:, None] - np.log(best)[None, :]) ** 2
    noise = 1e-3 * np.arange(seeds)[None, :, None]        # seeds differ by a constant only
    return c[:, None, :] + noise


def test_horizon_extrapolation_follows_the_measured_drift_within_theory_bounds():
    lrs = np.logspace(-4, 1, 51)
    steps = np.arange(10, 101, 10)
    div = np.zeros((51, 2), bool)
    # a best rate falling like t^-0.75 (inside [-1, -1/2]) is extrapolated with that slope
    s = horizon_extrapolation(lrs, _drifting(lrs, steps, -0.75), steps, div, target_steps=1600)
    assert s.rule == "horizon" and math.isclose(s.lr_point, 0.1, rel_tol=1e-6)
    assert math.isclose(s.lr, 0.1 * 16 ** -0.75, rel_tol=1e-3)
    # no drift within the run: the noise-floor floor t^(-1/2) applies ...
    flat = _drifting(lrs, steps, 0.0)
    assert math.isclose(horizon_extrapolation(lrs, flat, steps, div, 1600).lr, 0.1 / 4,
                        rel_tol=1e-3)
    # ... unless the bounds allow the measured slope only
    s = horizon_extrapolation(lrs, flat, steps, div, 1600, slope_bounds=(-1.0, 0.0))
    assert math.isclose(s.lr, 0.1, rel_tol=1e-3)
    # a fast drift is clipped at 1/t; the early transient (t < T/4) is not fitted
    fast = _drifting(lrs, steps, -3.0)
    fast[:, :, :2] = _drifting(lrs, steps[:2], 5.0)
    assert math.isclose(horizon_extrapolation(lrs, fast, steps, div, 1600).lr, 0.1 / 16,
                        rel_tol=1e-3)


def test_horizon_extrapolation_skips_diverged_candidates_and_checks_input():
    lrs = np.logspace(-4, 1, 51)
    steps = np.array([50, 100])
    curves = _drifting(lrs, steps, -0.5)
    div = np.zeros((51, 2), bool)
    i = int(np.argmin(np.abs(lrs - 0.1)))
    div[i - 3:i + 4, 1] = True                      # one seed diverged around the best rate
    s = horizon_extrapolation(lrs, curves, steps, div, 400)
    assert not (lrs[i - 3] <= s.lr_point <= lrs[i + 3])
    with pytest.warns(RuntimeWarning, match="horizon"):
        assert math.isnan(horizon_extrapolation(lrs, curves, steps, div | True, 400).lr)
    with pytest.raises(ValueError, match="target_steps=0"):
        horizon_extrapolation(lrs, curves, steps, div, 0)
    with pytest.raises(ValueError, match="shape"):
        horizon_extrapolation(lrs, curves[:, :, :1], steps, div, 400)
