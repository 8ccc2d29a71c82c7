"""Learning-rate suggestion rules for the finders (host-side numpy; never compiled).

Every rule reads a *curve*: learning rates in increasing order and the loss measured at each of
them. For the range test (:func:`jaxlr.lr_find`) the curve is the smoothed training (or
validation) loss against the learning rate applied during the ramp; for the parallel finder
(:func:`jaxlr.parallel_lr_find`) it is the loss at the horizon of each candidate, averaged over
seeds. Points after the first non-finite loss are dropped (the run had diverged there), so the
rules never see NaN and never raise on an all-diverged result: they return NaN and say why.

Rules and their sources:

================== ==========================================================================
rule               definition (source)
================== ==========================================================================
``steepest``       argmin of d loss / d log(lr) by central differences (Smith 2017 §3.3: "the
                   learning rate where the loss falls fastest"; torch-lr-finder's
                   ``suggest_lr`` uses index differences, fastai's ``steep`` forward ones),
                   searched within the main descent into the minimum (:func:`main_descent`)
                   so that noise on the initial plateau is not taken for the descent
``valley``         fastai's default: the longest decreasing sequence of the curve, index
                   ``start + ⌊L/3⌋ + ⌊L/6⌋`` into it (about its midpoint; ESRI's rule)
``minimum_div_10`` one tenth of the learning rate at the minimum loss (fastai's ``minimum``)
``best_final``     parallel finder only: argmin over candidates of the seed-mean horizon loss;
                   optionally the one-standard-error rule (Breiman et al. 1984; Hastie et al.
                   2009 §7.10) picks the largest *stable* (or the smallest) candidate within
                   one standard error of the best
``horizon``        parallel finder only, opt-in (needs ``target_steps``): the best rate's drift
                   with the horizon, measured along the run and extrapolated as a power law to
                   the target horizon (:func:`horizon_extrapolation`; short-horizon bias, Wu et
                   al. 2018)
================== ==========================================================================
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np

from jaxlr._utils._validation import check_choice, fail

__all__ = ["RULES", "Suggestion", "best_final", "horizon_extrapolation", "suggest_lr"]

RULES = ("steepest", "valley", "minimum_div_10", "best_final")
CURVE_RULES = ("steepest", "valley", "minimum_div_10")


class Suggestion(NamedTuple):
    """A suggested learning rate and the curve point that produced it (for plots).

    Attributes:
      lr: the suggested learning rate (NaN when no usable point was left).
      lr_point: the curve's learning rate at the chosen point (differs from ``lr`` for
        ``minimum_div_10``).
      loss: the curve's loss at ``lr_point``.
      index: index of the chosen point in the curve given to the rule (-1 when none).
      rule: the rule's name.
    """

    lr: float
    lr_point: float
    loss: float
    index: int
    rule: str


def _none(rule: str, why: str) -> Suggestion:
    warnings.warn(f"{rule}: no learning rate can be suggested: {why}", RuntimeWarning,
                  stacklevel=3)
    return Suggestion(math.nan, math.nan, math.nan, -1, rule)


def finite_prefix(lrs: np.ndarray, losses: np.ndarray) -> int:
    """Number of leading points before the first non-finite loss (the run diverged there)."""
    bad = ~np.isfinite(losses)
    return int(np.argmax(bad)) if bad.any() else int(losses.shape[0])


def longest_decrease(losses: np.ndarray) -> tuple[int, int]:
    """(end, length) of the longest strictly decreasing subsequence (first maximal end).

    ``lds[i]`` is the length of the longest subsequence ``j_1 < ... < i`` along which the loss
    strictly decreases (fastai's ``valley`` dynamic programme, O(n^2), vectorised per row).
    """
    n = losses.shape[0]
    lds = np.ones(n, np.int64)
    for i in range(1, n):
        prev = losses[:i] > losses[i]
        if prev.any():
            lds[i] = lds[:i][prev].max() + 1
    end = int(np.argmax(lds))
    return end, int(lds[end])


def main_descent(losses: np.ndarray, fraction: float = 0.9) -> tuple[int, int]:
    """``(first, last)`` indices of the descent into the curve's minimum.

    ``last`` is the argmin; ``first`` the last point before it still above
    ``min + fraction * (start - min)``, where ``start`` is the median of the first tenth of the
    curve (its initial plateau). Noise on the plateau (a short early dip of the smoothed loss)
    thus cannot be taken for the descent.
    """
    n = losses.shape[0]
    last = int(np.argmin(losses))
    start = float(np.median(losses[: max(n // 10, 1)]))
    level = losses[last] + fraction * (start - losses[last])
    above = np.flatnonzero(losses[: last + 1] >= level)
    first = int(above.max()) if above.size else 0
    return first, last


def suggest_lr(lrs: Any, losses: Any, rule: str = "valley", *, skip_start: int = 0,
               skip_end: int = 0) -> Suggestion:
    """Applies a curve rule (``steepest``, ``valley``, ``minimum_div_10``) to a loss curve.

    Args:
      lrs: learning rates, increasing, shape ``[n]``.
      losses: loss at each learning rate, shape ``[n]``; the curve is cut at the first
        non-finite value (divergence).
      rule: ``"steepest"``, ``"valley"`` or ``"minimum_div_10"`` (see the module table).
        ``best_final`` needs per-seed results: use ``FinderResult.suggest``.
      skip_start: points dropped from the start before the rule runs (fastai drops
        ``num_steps // 10``, torch-lr-finder 10).
      skip_end: points dropped from the end (fastai and torch-lr-finder drop 5).

    Returns:
      A :class:`Suggestion`; its ``lr`` is NaN (with a ``RuntimeWarning``) when fewer than 3
      usable points remain.

    Examples:
      >>> import numpy as np
      >>> lrs = np.logspace(-4, 0, 9)
      >>> losses = np.array([2.0, 1.9, 1.6, 1.0, 0.5, 0.3, 0.25, 0.6, 3.0])
      >>> round(suggest_lr(lrs, losses, "steepest").lr, 6)
      0.003162
      >>> round(suggest_lr(lrs, losses, "minimum_div_10").lr, 6)
      0.01
      >>> suggest_lr(lrs, losses, "valley").index
      3
    """
    check_choice("suggest_lr", "rule", rule, CURVE_RULES)
    x = np.asarray(lrs, np.float64).reshape(-1)
    y = np.asarray(losses, np.float64).reshape(-1)
    if x.shape != y.shape:
        fail("suggest_lr", f"`lrs` and `losses` must have the same length; got {x.shape[0]} "
             f"and {y.shape[0]}.")
    n = finite_prefix(x, y)
    stop = max(n - skip_end, 0) if n == x.shape[0] else n  # a diverged curve is already cut
    start = min(skip_start, stop)
    x, y = x[start:stop], y[start:stop]
    if np.any(~np.isfinite(x)) or np.any(x <= 0):
        fail("suggest_lr", "`lrs` must be finite and > 0.")
    if x.shape[0] > 1 and np.any(np.diff(x) <= 0):
        fail("suggest_lr", "`lrs` must be strictly increasing.")
    if x.shape[0] < 3:
        return _none(rule, f"only {x.shape[0]} usable point(s) remain after skipping "
                     f"{skip_start} at the start, {skip_end} at the end and the diverged "
                     "tail (need 3). Widen the range, lower `min_lr` or run more steps.")
    if rule == "steepest":
        g = np.gradient(y, np.log(x))
        lo, hi = main_descent(y)
        i = lo + int(np.argmin(g[lo:hi + 1]))
        return Suggestion(float(x[i]), float(x[i]), float(y[i]), i + start, rule)
    if rule == "minimum_div_10":
        i = int(np.argmin(y))
        return Suggestion(float(x[i] / 10.0), float(x[i]), float(y[i]), i + start, rule)
    end, length = longest_decrease(y)
    first = end - length + 1
    i = first + length // 3 + length // 6
    return Suggestion(float(x[i]), float(x[i]), float(y[i]), i + start, rule)


def best_final(lrs: Any, final: Any, diverged: Any, *, one_standard_error: bool = False,
               prefer: str = "larger") -> Suggestion:
    """The ``best_final`` rule of the parallel finder.

    ``final`` is ``[candidates, seeds]`` horizon losses, ``diverged`` the matching mask. The
    best candidate minimises the mean over seeds among candidates with no diverged seed (the
    default). With the one-standard-error rule (and more than one seed) every candidate whose
    mean is within one standard error of the best's (``std / sqrt(seeds)``, ``ddof=1``) is
    *near-equal*. ``prefer="larger"`` returns the largest near-equal rate if it is also
    *stable*: none of its seeds diverged and its own mean plus standard error stays within two
    standard errors of the best's mean (a larger rate at the same loss trains faster; the
    stability condition keeps away from the noisy edge of divergence). ``prefer="smaller"``
    returns the smallest near-equal rate (conservative: a short run's best rate tends to be
    larger than a long run's, see the README's evidence table).

    Examples:
      >>> import numpy as np
      >>> lrs = np.array([1e-3, 1e-2, 1e-1])
      >>> final = np.array([[1.0, 1.1], [0.50, 0.52], [0.51, 0.52]])
      >>> div = np.zeros((3, 2), bool)
      >>> best_final(lrs, final, div).lr
      0.01
      >>> best_final(lrs, final, div, one_standard_error=True).lr
      0.1
    """
    check_choice("best_final", "prefer", prefer, ("larger", "smaller"))
    x = np.asarray(lrs, np.float64).reshape(-1)
    f = np.asarray(final, np.float64)
    d = np.asarray(diverged, bool)
    if f.ndim == 1:
        f, d = f[:, None], d[:, None]
    ok = ~d.any(axis=1) & np.isfinite(f).all(axis=1)
    if not ok.any():
        return _none("best_final", f"all {x.shape[0]} candidates diverged (or have non-finite "
                     "losses). Lower `min_lr`/`max_lr`.")
    with np.errstate(invalid="ignore"):
        mean = np.where(ok, f.mean(axis=1), np.inf)
    b = int(np.argmin(mean))
    s = f.shape[1]
    if not one_standard_error or s < 2:
        return Suggestion(float(x[b]), float(x[b]), float(mean[b]), b, "best_final")
    with np.errstate(invalid="ignore"):
        se = np.where(ok, f.std(axis=1, ddof=1) / math.sqrt(s), np.inf)
    near = ok & (mean <= mean[b] + se[b])
    if prefer == "larger":
        near &= (mean + se <= mean[b] + 2.0 * se[b]) & (x >= x[b])
        i = int(np.flatnonzero(near).max()) if near.any() else b
    else:
        near &= x <= x[b]
        i = int(np.flatnonzero(near).min()) if near.any() else b
    return Suggestion(float(x[i]), float(x[i]), float(mean[i]), i, "best_final")


def _subgrid_argmin(x: np.ndarray, y: np.ndarray) -> float:
    """Argmin of ``y`` refined by a parabola in ``log x`` through it and its neighbours."""
    i = int(np.argmin(y))
    lx = np.log(x)
    if 0 < i < y.shape[0] - 1 and np.all(np.isfinite(y[i - 1:i + 2])):
        a, b, _ = np.polyfit(lx[i - 1:i + 2], y[i - 1:i + 2], 2)
        if a > 0:
            return float(np.exp(np.clip(-b / (2 * a), lx[i - 1], lx[i + 1])))
    return float(x[i])


def horizon_extrapolation(lrs: Any, curves: Any, steps: Any, diverged: Any, target_steps: int,
                          *, min_fraction: float = 0.25,
                          slope_bounds: tuple[float, float] = (-1.0, -0.5)) -> Suggestion:
    """The ``horizon`` rule: extrapolates the best rate's drift to a longer training run.

    A short run favours larger rates than a long one (short-horizon bias, Wu et al. 2018): the
    loss of a constant rate ``lr`` after ``t`` updates behaves like ``D / (lr t) + c lr`` (an
    optimisation term that fades with ``lr t`` plus a noise floor proportional to ``lr``), whose
    best rate falls like ``t^(-1/2)``; overfitting makes it fall faster. The exponent is
    problem-dependent, so it is *measured* on the run: at every recorded step ``t >=
    min_fraction * T`` the best candidate ``lr*(t)`` (seed-mean loss, diverged candidates
    excluded, refined by a parabola in ``log lr``) is found, a line ``log lr* = a + b log t`` is
    fitted by least squares, its slope is clipped to ``slope_bounds``, and the rule returns
    ``lr*(T) * (target_steps / T)^b``. The default bounds ``[-1, -1/2]`` are the range that
    SGD theory gives for the best constant rate in the noise-limited regime: ``t^(-1/2)`` for
    convex Lipschitz losses (``D / (G sqrt(t))``), ``~log(t) / t`` for strongly convex ones.
    The floor ``-1/2`` matters because within a short run the best rate often does not move
    yet (its loss is still dominated by the optimisation term); the measured slope is used
    when it is steeper (e.g. overfitting: the validation optimum falls fast). Where the best
    rate is limited by stability (curvature) rather than by noise, e.g. SGD with momentum near
    ``2 (1 + momentum) / sharpness``, the long-run optimum does not fall and this rule is too
    low. The trade-off, measured on 96 cases (README evidence): these bounds are within 2x of
    the long run's grid optimum in 28% of the cases, but the suggested rate is unstable over
    the long run in only 4% and the median excess loss is 6.2%; the measured slope alone
    (``slope_bounds=(-1, 0)``) is within 2x in 47% but unstable in 28% (11.3% excess).

    Args:
      lrs: ``[C]`` candidate rates, increasing.
      curves: ``[C, S, K]`` loss of every candidate and seed after ``steps[k]`` updates
        (validation losses every ``eval_every`` updates, or the smoothed training loss).
      steps: ``[K]`` updates done at each recorded point, increasing; the last is ``T``.
      diverged: ``[C, S]`` mask; a candidate with a diverged seed is excluded.
      target_steps: the length of the training run the rate is for (>= 1).
      min_fraction: points before ``min_fraction * T`` are not fitted (the early transient).
      slope_bounds: bounds of the fitted exponent ``b`` (``(-1, 0)``: the measured drift
        only).

    Returns:
      A :class:`Suggestion` (``rule="horizon"``, ``index`` the candidate nearest ``lr*(T)``).

    Examples:
      >>> import numpy as np
      >>> lrs = np.logspace(-3, 0, 31)
      >>> steps = np.array([25, 50, 100])
      >>> # a loss whose best rate is 0.1 * (t / 100)^(-1/2)
      >>> best = 0.1 * (steps / 100.0) ** -0.5
      >>> curves = (np.log(lrs)[:, None] - np.log(best)[None, :]) ** 2
      >>> s = horizon_extrapolation(lrs, curves[:, None, :], steps, np.zeros((31, 1), bool),
      ...                           target_steps=400)
      >>> round(s.lr, 3)
      0.05

    References:
      Wu, Ren, Liao, Grosse, "Understanding Short-Horizon Bias in Stochastic Meta-Optimization",
      ICLR 2018.
    """
    x = np.asarray(lrs, np.float64).reshape(-1)
    f = np.asarray(curves, np.float64)
    t = np.asarray(steps, np.float64).reshape(-1)
    d = np.asarray(diverged, bool)
    if f.ndim == 2:
        f, d = f[:, None, :], d.reshape(-1, 1)
    if not isinstance(target_steps, (int, np.integer)) or target_steps < 1:
        fail("horizon_extrapolation", f"`target_steps` must be an int >= 1; got "
             f"target_steps={target_steps!r}.", hint="Pass the length of your training run.")
    if f.shape != (x.shape[0], d.shape[1], t.shape[0]):
        fail("horizon_extrapolation", f"`curves` must have shape [candidates, seeds, steps] = "
             f"{(x.shape[0], d.shape[1], t.shape[0])}; got {f.shape}.")
    ok = ~d.any(axis=1)
    use = np.flatnonzero(t >= min_fraction * t[-1])
    pts = []
    with np.errstate(invalid="ignore"):
        for k in use:
            y = np.where(ok & np.isfinite(f[:, :, k]).all(axis=1), f[:, :, k].mean(axis=1),
                         np.inf)
            if np.isfinite(y).any():
                pts.append((t[k], _subgrid_argmin(x, y)))
    if not pts or not np.isfinite(pts[-1][1]) or pts[-1][0] != t[-1]:
        return _none("horizon", "no candidate has a finite loss at the horizon. Lower "
                     "`min_lr`/`max_lr`.")
    lt = np.log([p[0] for p in pts])
    ll = np.log([p[1] for p in pts])
    b = float(np.polyfit(lt, ll, 1)[0]) if len(pts) >= 2 else 0.0
    b = float(np.clip(b, *slope_bounds))
    lr_t = float(np.exp(ll[-1]))
    lr = float(lr_t * (float(target_steps) / float(t[-1])) ** b)
    i = int(np.argmin(np.abs(np.log(x) - np.log(lr_t))))
    loss = float(np.mean(f[i, :, -1]))
    return Suggestion(lr, lr_t, loss, i, "horizon")
