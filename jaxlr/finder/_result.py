"""What a finder returns: :class:`FinderResult` (suggestion rules, export, plots)."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from typing import Any

import numpy as np

from jaxlr import plotting
from jaxlr.finder import _suggest
from jaxlr._utils._validation import check_choice, check_positive, fail

# --------------------------------------------------------------------------------------------
# Results.
# --------------------------------------------------------------------------------------------


def estimate_lag(raw: np.ndarray, smoothed: np.ndarray, beta: float) -> int:
    """The shift (in updates) that best aligns the smoothed curve with the raw one.

    ``argmin_d mean_k (smoothed[k + d] - raw[k])**2`` over ``d = 0 .. ceil(beta / (1 - beta))``
    on the finite part of the run. The EMA's nominal lag (the mean age of its inputs) is
    ``sum j beta^j / sum beta^j``, up to ``beta / (1 - beta)`` updates (49 for 0.98), but the
    features the rules look for (the onset and the bottom of the descent) are sharp, and a sharp
    feature is delayed much less than that: the alignment measures the delay the curve actually
    shows (typically 2-7 updates at ``beta=0.98`` over 100 updates).
    """
    if beta <= 0.0:
        return 0
    bad = ~np.isfinite(raw) | ~np.isfinite(smoothed)
    n = int(np.argmax(bad)) if bad.any() else int(raw.shape[0])
    max_d = min(int(math.ceil(beta / (1.0 - beta))), max(n - 3, 0))
    if max_d <= 0:
        return 0
    errs = [float(np.mean((smoothed[d:n] - raw[: n - d]) ** 2)) for d in range(max_d + 1)]
    return int(np.argmin(errs))


def _json_value(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        if x.dtype == bool:
            return x.tolist()
        if np.issubdtype(x.dtype, np.floating):
            return [_json_value(v) for v in x] if x.ndim else _json_value(float(x))
        return x.tolist()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, (np.floating,)):
        return _json_value(float(x))
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


def json_text(d: dict[str, Any], path: Any = None, **kwargs: Any) -> str:
    """``d`` as JSON text (``kwargs`` to :func:`json.dumps`), also written to ``path``."""
    text = json.dumps(d, **kwargs)
    if path is not None:
        with open(path, "w") as f:
            f.write(text)
    return text


def _check_slope_bounds(bounds: Any) -> tuple[float, float]:
    fn = "FinderResult.suggest"
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        fail(fn, f"`slope_bounds` must be a pair (low, high) of numbers; got "
             f"slope_bounds={bounds!r}.", error=TypeError)
    if not (-1.0 <= lo <= hi <= 0.0):
        fail(fn, f"`slope_bounds` must satisfy -1 <= low <= high <= 0 (the best rate never "
             f"grows with the horizon and falls at most like 1/t); got slope_bounds={bounds!r}.")
    return lo, hi


@dataclasses.dataclass
class FinderResult:
    """What a finder measured, with the suggestion rules and plots.

    Shapes use ``C`` candidates, ``S`` seeds, ``T = num_steps`` and ``E`` validation points.

    Attributes:
      method: ``"parallel"`` (:func:`parallel_lr_find`) or ``"range_test"`` (:func:`lr_find`).
      lrs: parallel: the ``[C]`` candidate (peak) rates; range test: the ``[T]`` rate applied at
        each update.
      losses: raw training loss of every update, NaN after divergence: ``[C, S, T]`` or ``[T]``.
      smoothed: debiased-EMA smoothed ``losses``, same shape.
      final_losses: smoothed training loss at the horizon ``[C, S]`` (NaN if diverged); range
        test: ``[]``.
      valid_losses: parallel: validation loss at the horizon ``[C, S]`` (``None`` without
        validation data); range test: ``[E]`` validation losses after ``valid_steps`` updates.
      valid_curve: parallel: ``[C, S, E]`` validation losses after ``valid_steps`` updates
        (``eval_every``), else ``None``.
      valid_steps: ``[E]`` number of updates done at each validation point, or ``None``.
      diverged: ``[C, S]`` (range test ``[]``) bool.
      diverged_step: the update at which a lane diverged, -1 if it did not; same shape.
      effective_lrs: range test: ``[T]`` lag-corrected rate of each smoothed point,
        ``lrs[k - lag_steps]`` (NaN for the first ``lag_steps``); ``None`` for the parallel
        finder.
      num_steps: updates per run (the horizon).
      batch_size: examples per update.
      optimizer: description of the optimizer factory.
      schedule: description of the schedule shape (``"constant"`` when none).
      smoothing: the EMA coefficient ``beta`` (0 = none).
      divergence_threshold: see the module docstring.
      min_lr, max_lr: the bounds searched.
      step_mode: range test ramp, ``"exp"`` or ``"linear"``; ``None`` for the parallel finder.
      warmup_steps: linear warm-up steps inside every candidate run.
      task: description of the problem.
      lag_steps: range test: the smoothing delay measured on this run (:func:`estimate_lag`).
      target_steps: parallel finder: the length of the training run the suggestion is for
        (``parallel_lr_find(target_steps=)``), or ``None``.
    """

    method: str
    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    final_losses: np.ndarray
    valid_losses: np.ndarray | None
    valid_curve: np.ndarray | None
    valid_steps: np.ndarray | None
    diverged: np.ndarray
    diverged_step: np.ndarray
    effective_lrs: np.ndarray | None
    num_steps: int
    batch_size: int
    optimizer: str
    schedule: str
    smoothing: float
    divergence_threshold: float
    min_lr: float
    max_lr: float
    step_mode: str | None = None
    warmup_steps: int = 0
    task: str = ""
    lag_steps: int = 0
    target_steps: int | None = None

    # -- summaries ---------------------------------------------------------------------------

    @property
    def num_seeds(self) -> int:
        return int(self.final_losses.shape[1]) if self.method == "parallel" else 1

    @property
    def all_diverged(self) -> bool:
        """True when no lane produced a usable measurement."""
        if self.method == "parallel":
            return bool(np.all(self.diverged.any(axis=1)))
        return bool(self.diverged) and int(self.diverged_step) <= 2

    @property
    def default_rule(self) -> str:
        """The rule behind :attr:`suggestion`.

        ``horizon`` for the parallel finder when the training length is known
        (``parallel_lr_find(target_steps=)``), else ``best_final``; ``steepest`` for the range
        test. See :attr:`suggestion` for the evidence.
        """
        if self.method == "parallel":
            return "horizon" if self.target_steps is not None else "best_final"
        return "steepest"

    @property
    def suggestion(self) -> float:
        """The recommended learning rate (rule :attr:`default_rule`); NaN if all diverged.

        Evidence (``scripts/eval_finder.py``, README tables): 96 cases = 6 (task, optimizer)
        pairs (digits MLP + Adam, digits MLP + SGD momentum, diabetes regression + Adam,
        teacher-student + Adam; held out from the design of the rules: teacher-student and
        diabetes with SGD momentum) x finder seeds, finders of 100 (and 200) updates, against
        the grid-optimal rate of a 1500-update run (33 rates, 9 seeds from 3 independent grid
        searches) with a constant rate or warm-up + cosine decay (the finder then runs the same
        shape). On the validation loss at the end of the run; within 2x / the suggested rate
        diverges in some long run / median excess loss over the optimum's:

        * parallel, ``target_steps`` given -> ``horizon`` (the best rate's drift along the run,
          extrapolated to ``target_steps`` with an exponent in SGD theory's noise-limited range
          ``[-1, -1/2]``): 28% / 4% / 6.2%, the safest rule and the lowest excess loss. The
          measured drift alone (``slope_bounds=(-1, 0)``) is within 2x more often (47%) but
          suggests a rate that diverges over the long run in 28% of the cases: short runs do
          not see the instabilities of large Adam rates that start after 200-600 updates.
        * parallel, no ``target_steps`` -> ``best_final`` (argmin of the seed-mean validation
          loss at the finder's horizon, one-standard-error rule preferring the smaller rate):
          33% / 26% / 19.2%; on the best validation loss along the run (early stopping /
          checkpoint selection) it is the best rule, 53% within 2x.
        * range test -> ``steepest`` on the lag-corrected smoothed curve: 25% / 5% / 30.2%;
          torch-lr-finder's steepest point on the same cases: 31% / 23% / 36.8%.

        None of the rules reaches the 80%-within-2x goal; for constant-rate runs neither does
        a second grid search with fresh seeds (58% within 2x of the other seeds' optimum), so
        there that criterion measures the noise of the target as much as the rule.
        """
        return self.suggest()

    @property
    def message(self) -> str:
        """A one-line human summary (what the CLI prints)."""
        if self.all_diverged:
            return (f"all {self.lrs.shape[0] if self.method == 'parallel' else 1} runs diverged "
                    f"between {self.min_lr:.3g} and {self.max_lr:.3g}: no suggestion. Lower "
                    "min_lr/max_lr (or check the loss and the data).")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lr = self.suggest()
        if self.method == "parallel":
            nd = int(self.diverged.any(axis=1).sum())
            return (f"suggested learning rate {lr:.3g} ({self.default_rule}); {nd} of "
                    f"{self.lrs.shape[0]} candidates diverged.")
        return f"suggested learning rate {lr:.3g} ({self.default_rule})."

    # -- suggestions -------------------------------------------------------------------------

    def _metric(self, on: str | None) -> tuple[str, np.ndarray]:
        if on is None:
            on = "valid" if self.valid_losses is not None else "train"
        check_choice("FinderResult.suggest", "on", on, ("train", "valid"))
        if on == "valid" and self.valid_losses is None:
            fail("FinderResult.suggest", "on='valid' needs validation losses; run the finder "
                 "with `valid_data` (and `eval_every` for the range test).")
        if self.method == "parallel":
            return on, self.valid_losses if on == "valid" else self.final_losses
        return on, self.valid_losses if on == "valid" else self.smoothed

    def curve(self, *, on: str | None = None, lag_correction: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
        """The ``(lrs, losses)`` curve that the curve rules read.

        Parallel finder: candidate rates and the seed-mean horizon loss (validation if
        available, ``on="train"`` for the smoothed training loss); a candidate with a diverged
        seed is NaN. Range test: the smoothed training loss at the lag-corrected rates
        (``lag_correction=False``: at the applied rates), or ``on="valid"`` the validation
        losses at the rate of the last update before each.
        """
        if self.method == "range_test" and on is None:
            on = "train"
        on, y = self._metric(on)
        if self.method == "parallel":
            d = self.diverged.any(axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m = np.where(d, np.nan, np.nanmean(y, axis=1))
            return self.lrs, m
        if on == "valid":
            return self.lrs[np.asarray(self.valid_steps) - 1], y
        x = self.effective_lrs if lag_correction and self.effective_lrs is not None else self.lrs
        return x, y

    def suggest_point(self, rule: str | None = None, *, on: str | None = None,
                      skip_start: int | None = None, skip_end: int | None = None,
                      lag_correction: bool = True, one_standard_error: bool = True,
                      prefer: str = "smaller", target_steps: int | None = None,
                      slope_bounds: tuple[float, float] = (-1.0, -0.5)
                      ) -> _suggest.Suggestion:
        """Like :meth:`suggest` but returns the full :class:`~jaxlr.finder._suggest.Suggestion`."""
        rule = self.default_rule if rule is None else rule
        check_choice("FinderResult.suggest", "rule", rule, _suggest.RULES + ("horizon",))
        if self.all_diverged:
            return _suggest._none(rule, self.message)
        if rule == "horizon":
            target_steps = self.target_steps if target_steps is None else target_steps
            if self.method != "parallel" or target_steps is None:
                fail("FinderResult.suggest", "rule='horizon' extrapolates the parallel "
                     "finder's best rate to `target_steps` updates; it needs the parallel "
                     f"finder and `target_steps=` (got method={self.method!r}, "
                     f"target_steps={target_steps!r}).")
            on, _ = self._metric(on)
            if on == "valid" and self.valid_curve is not None:
                curves, steps = self.valid_curve, np.asarray(self.valid_steps)
            else:
                steps = np.unique(np.linspace(0, self.num_steps, 11).astype(int)[1:])
                curves = self.smoothed[:, :, steps - 1]
            bounds = _check_slope_bounds(slope_bounds)
            return _suggest.horizon_extrapolation(self.lrs, curves, steps, self.diverged,
                                                  int(target_steps), slope_bounds=bounds)
        if rule == "best_final":
            if self.method != "parallel":
                fail("FinderResult.suggest", "rule='best_final' compares candidates at the "
                     "horizon and needs the parallel finder; for the range test use "
                     "'valley', 'steepest' or 'minimum_div_10'.")
            _, y = self._metric(on)
            return _suggest.best_final(self.lrs, y, self.diverged,
                                       one_standard_error=one_standard_error, prefer=prefer)
        x, y = self.curve(on=on, lag_correction=lag_correction)
        if self.method == "range_test" and (on in (None, "train")):
            first = self.lag_steps if lag_correction else 0
            s0 = self.num_steps // 10 if skip_start is None else skip_start
            s1 = 5 if skip_end is None else skip_end
            return _suggest.suggest_lr(x, y, rule, skip_start=max(s0, first), skip_end=s1)
        return _suggest.suggest_lr(x, y, rule, skip_start=skip_start or 0,
                                   skip_end=skip_end or 0)

    def suggest(self, rule: str | None = None, **kwargs: Any) -> float:
        """The learning rate suggested by ``rule`` (default :attr:`default_rule`).

        Args:
          rule: ``"valley"``, ``"steepest"``, ``"minimum_div_10"`` or (parallel finder only)
            ``"best_final"``; see :mod:`jaxlr.finder._suggest` for definitions and sources.
          on: ``"train"`` or ``"valid"`` (default: validation when measured, except the range
            test's curve rules, which default to the smoothed training loss).
          skip_start, skip_end: points dropped from the range test's curve (defaults
            ``num_steps // 10`` and 5, as fastai).
          lag_correction: read the range test's smoothed curve at lag-corrected rates.
          one_standard_error: apply ``best_final``'s one-standard-error rule across seeds
            (no effect with one seed).
          prefer: with the one-standard-error rule, ``"smaller"`` (default: the smallest
            near-equal rate) or ``"larger"`` (the largest *stable* near-equal rate); see
            :attr:`default_rule` for the evidence behind the default.
          target_steps: for ``rule="horizon"`` (parallel finder, opt-in): the length of the
            training run to extrapolate the best rate to (see
            :func:`jaxlr.finder._suggest.horizon_extrapolation`); it reads the validation curve
            (``eval_every``) when recorded, else the smoothed training loss at every tenth
            of the run.
          slope_bounds: for ``rule="horizon"``: bounds ``(low, high)`` of the fitted drift
            exponent, ``-1 <= low <= high <= 0`` (default ``(-1, -0.5)``, SGD theory's
            noise-limited range; ``(-1, 0)``: the measured drift only, more often within 2x
            of the long run's optimum but more often unstable over it, see :attr:`suggestion`).

        Returns:
          A float; NaN (with a ``RuntimeWarning``) when every run diverged.
        """
        return self.suggest_point(rule, **kwargs).lr

    def suggestions(self) -> dict[str, float]:
        """Every applicable rule's suggestion (NaN where a rule has too few points)."""
        rules = _suggest.RULES if self.method == "parallel" else _suggest.CURVE_RULES
        if self.method == "parallel" and self.target_steps is not None:
            rules = rules + ("horizon",)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {r: self.suggest(r) for r in rules}

    def suggest_range(self, *, div: float = 4.0) -> tuple[float, float]:
        """See :func:`suggest_range`."""
        return suggest_range(self, div=div)

    # -- export -------------------------------------------------------------------------------

    #: Per-update arrays, exported only with ``to_dict(curves=True)``.
    CURVE_FIELDS = ("losses", "smoothed", "effective_lrs", "valid_curve")

    def to_dict(self, *, curves: bool = False) -> dict[str, Any]:
        """A JSON-able dict (arrays as nested lists, NaN/inf as ``None``) plus suggestions.

        By default a summary: the settings, the rates, the horizon losses of every candidate
        and seed (``final_losses``, ``valid_losses``, ``valid_steps``), ``diverged`` /
        ``diverged_step``, every rule's suggestion and :meth:`suggest_range` (a few KB for the
        CLI's 32 rates x 3 seeds x 200 steps). ``curves=True`` adds the per-update curves
        (:attr:`CURVE_FIELDS`: ``losses``, ``smoothed``, ``effective_lrs``, ``valid_curve``),
        which is what makes the full export large (about 1 MB for that run).
        ``out["curves"]`` records which it is.
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in self.CURVE_FIELDS and not curves:
                continue
            v = getattr(self, f.name)
            out[f.name] = _json_value(np.asarray(v)) if isinstance(v, np.ndarray) else (
                _json_value(v))
        out["curves"] = bool(curves)
        out["suggestion"] = _json_value(float(self._quiet_suggestion()))
        out["default_rule"] = self.default_rule
        out["suggestions"] = {k: _json_value(v) for k, v in self.suggestions().items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out["suggest_range"] = [_json_value(float(v)) for v in self.suggest_range()]
        band = self._near_best_band()
        out["near_best"] = None if band is None else [_json_value(v) for v in band]
        out["all_diverged"] = self.all_diverged
        out["message"] = self.message
        return out

    def _quiet_suggestion(self) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self.suggestion

    def to_json(self, path: str | None = None, *, curves: bool = False, **kwargs: Any) -> str:
        """The :meth:`to_dict` (``curves``: see there) as JSON text; also written to ``path``
        when given. ``kwargs`` go to :func:`json.dumps` (e.g. ``indent=2``)."""
        return json_text(self.to_dict(curves=curves), path, **kwargs)

    # -- display ------------------------------------------------------------------------------

    def plot(self, ax: Any = None, *, path: Any = None, **kwargs: Any) -> Any:
        """Loss against learning rate with the suggestion, the range and every rule marked
        (see :func:`jaxlr.plotting.plot_finder`); ``path=`` saves the figure (PNG/SVG/PDF)."""
        return plotting.plot_finder(self, ax=ax, path=path, **kwargs)

    def _near_best_band(self) -> tuple[float, float] | None:
        """``(lowest, highest)`` candidate rate whose seed-mean horizon loss is within one
        standard error of the best candidate's (parallel finder, more than one seed)."""
        if self.method != "parallel" or self.num_seeds < 2 or self.all_diverged:
            return None
        _, y = self._metric(None)
        y = np.asarray(y, np.float64)
        ok = ~np.asarray(self.diverged, bool).any(axis=1) & np.isfinite(y).all(axis=1)
        if not ok.any():
            return None
        mean = np.where(ok, y.mean(axis=1), np.inf)
        b = int(np.argmin(mean))
        se = float(y[b].std(ddof=1) / math.sqrt(y.shape[1]))
        near = np.flatnonzero(ok & (mean <= mean[b] + se))
        lrs = np.asarray(self.lrs, np.float64)
        return float(lrs[near].min()), float(lrs[near].max())

    def summary(self) -> str:
        """A few lines for people: what ran, the suggestion and its rule, the range for
        ``cyclic``/``one_cycle``, every rule, the near-best band, divergence (also ``str()``)."""
        g = lambda v: "nan" if not math.isfinite(v) else f"{v:.3g}"  # noqa: E731
        task = self.task or "?"
        if self.method == "parallel":
            what = (f"parallel finder: {self.lrs.shape[0]} candidates x {self.num_seeds} "
                    f"seeds x {self.num_steps} steps")
        else:
            what = f"range test: {self.num_steps} steps ({self.step_mode or 'exp'} ramp)"
        lines = [f"FinderResult - {what}",
                 (f"  task {task}, optimizer {self.optimizer}, schedule {self.schedule}, "
                  f"batch {self.batch_size}"),
                 f"  rates searched: {g(self.min_lr)} .. {g(self.max_lr)}"]
        if self.all_diverged:
            lines.append(f"  {self.message}")
            return "\n".join(lines)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = self.suggest_range()
            rules = self.suggestions()
        lr = self._quiet_suggestion()
        lines.append(f"  suggestion: {g(lr)} (rule {self.default_rule})")
        note = ""
        if math.isfinite(lr) and math.isfinite(lo) and not (
                lo * (1 - 1e-9) <= lr <= hi * (1 + 1e-9)):
            note = " (does not contain the suggestion)"
        lines.append(f"  range for cyclic / one_cycle: {g(lo)} .. {g(hi)}{note}")
        lines.append("  rules: " + ", ".join(f"{k} {g(v)}" for k, v in rules.items()))
        band = self._near_best_band()
        if band is not None:
            lines.append(f"  near-best rates (within 1 s.e. of the best): {g(band[0])} .. "
                         f"{g(band[1])}")
        if self.method == "parallel":
            d = np.asarray(self.diverged, bool).any(axis=1)
            first = f", from {g(float(np.asarray(self.lrs)[d].min()))}" if d.any() else ""
            lines.append(f"  diverged: {int(d.sum())} of {d.shape[0]} candidates{first}")
        elif bool(self.diverged):
            lines.append(f"  diverged at step {int(self.diverged_step)} (rate "
                         f"{g(float(self.lrs[int(self.diverged_step)]))})")
        else:
            lines.append("  diverged: no")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        shape = f"{self.lrs.shape[0]} lrs x {self.num_seeds} seeds" if (
            self.method == "parallel") else "1 ramp"
        lr = self._quiet_suggestion() if not self.all_diverged else math.nan
        return (f"FinderResult(method={self.method!r}, {shape} x {self.num_steps} steps, "
                f"lrs {self.min_lr:.3g}..{self.max_lr:.3g}, suggestion={lr:.3g} "
                f"({self.default_rule}))")


def suggest_range(result: FinderResult, *, div: float = 4.0) -> tuple[float, float]:
    """``(min_lr, max_lr)`` bounds for :func:`jaxlr.cyclic` and :func:`jaxlr.one_cycle`.

    Smith's recipe (Smith 2017 §3.3; Smith & Topin 2019): the maximum is the rate where the
    loss stops improving, the minimum a third to a quarter of it (``div``). Range test: the
    maximum is the (lag-corrected) rate at the lowest smoothed loss. Parallel finder: the
    largest stable rate within one standard error of the best horizon loss (``best_final``).

    Returns:
      ``(max / div, max)``; ``(nan, nan)`` when every run diverged.

    Examples:
      >>> lo, hi = suggest_range(result)            # doctest: +SKIP
      >>> sched = jaxlr.one_cycle(hi, total_steps=1000, div_factor=hi / lo)  # doctest: +SKIP
    """
    check_positive("suggest_range", div=div)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if result.method == "parallel":
            hi = result.suggest("best_final")
        else:
            hi = result.suggest_point("minimum_div_10").lr_point
    if not math.isfinite(hi):
        warnings.warn(f"suggest_range: {result.message}", RuntimeWarning, stacklevel=2)
        return math.nan, math.nan
    return hi / float(div), hi


