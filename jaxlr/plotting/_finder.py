"""Finder plots: loss against learning rate (matplotlib imported lazily inside the function)."""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

from jaxlr.plotting._figure import finish, place_legend, pyplot, readable_name

__all__ = ["plot_finder", "plot_find"]

# One (colour, line style, marker) per rule, so that rules stay distinguishable when their
# lines coincide; the markers are stacked at the top of the axes, one height per rule.
_RULE_STYLES = {
    "best_final": ("tab:orange", (0, (5, 2)), "v"),
    "horizon": ("tab:pink", (0, (1, 1.5)), "D"),
    "steepest": ("tab:purple", (0, (3, 1, 1, 1)), "^"),
    "valley": ("tab:green", (0, (6, 2, 1, 2)), "s"),
    "minimum_div_10": ("tab:brown", (0, (2, 2)), "o"),
}
_FALLBACK_STYLES = [("tab:olive", (0, (4, 2)), "P"), ("tab:cyan", (0, (1, 2)), "X")]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def finder_title(result: Any) -> str:
    """``"<task>: <method and size>, <optimizer>"``; ``"learning-rate finder"`` stands in for a
    task recorded as a Python function name (``<lambda>``, ``init``)."""
    name = readable_name(getattr(result, "task", "")) or "learning-rate finder"
    if result.method == "parallel":
        what = (f"parallel finder, {result.lrs.shape[0]} rates x {result.num_seeds} seeds x "
                f"{result.num_steps} steps")
    else:
        what = f"range test, {result.num_steps} steps"
    opt = readable_name(getattr(result, "optimizer", ""))
    return f"{name}: {what}" + (f", {opt}" if opt else "")


def plot_finder(result: Any, ax: Any = None, *, rules: Sequence[str] | None = None,
                on: str | None = None, band: str = "minmax", show_raw: bool = True,
                title: str | None = None, path: Any = None) -> Any:
    """Loss against learning rate (log axis) for a :class:`jaxlr.FinderResult`.

    Parallel finder: the seed-mean horizon loss of every candidate (validation when measured)
    with a band across seeds (``band="minmax"`` or ``"se"`` for one standard error), diverged
    candidates marked with a red ``x`` at the top. Range test: the smoothed training loss
    against the lag-corrected rate, the raw losses faintly, validation points if measured.

    On top of the curve: the suggested rate (:attr:`~jaxlr.FinderResult.suggestion`, a solid
    black line), the range :meth:`~jaxlr.FinderResult.suggest_range` returns for
    ``cyclic``/``one_cycle`` (a shaded span; its legend entry says so when the range does not
    contain the suggestion, which the range test's rules allow), and every rule in ``rules``
    (default: all applicable) as a thin line in its own colour and dash pattern with a marker
    at its own height near the top, labelled with its name, so coinciding rules stay visible.

    Args:
      result: a :class:`jaxlr.FinderResult`.
      ax: matplotlib axes to draw into (default: a new figure, legend beside the axes).
      rules: suggestion rules to mark.
      on: ``"train"`` or ``"valid"`` (see :meth:`jaxlr.FinderResult.curve`).
      band: ``"minmax"`` or ``"se"``.
      show_raw: range test: also draw the unsmoothed losses.
      title: axes title (default: the result's ``task``, the finder and its size, the
        optimizer; ``"learning-rate finder"`` when the task is only a function name).
      path: save the figure to this file (``.png``, ``.svg`` or ``.pdf``, parent directories
        created); a figure created here is then closed. Default: nothing is saved.

    Returns:
      The matplotlib axes (also when saved; ``ax.figure`` is the figure).

    Examples:
      >>> ax = plot_finder(result, path="out/finder.png")  # doctest: +SKIP
    """
    owned = ax is None
    if owned:
        _, ax = pyplot().subplots(figsize=(8.5, 4.5), layout="constrained")
    xs: list[float] = []                       # every drawn rate, for the x limits
    if result.method == "parallel":
        rules = rules if rules is not None else ("best_final", "valley", "steepest",
                                                 "minimum_div_10") + (
            ("horizon",) if result.target_steps is not None else ())
        xs += _draw_parallel(ax, result, on, band)
        metric_on = on or ("valid" if result.valid_losses is not None else "train")
    else:
        rules = rules if rules is not None else ("valley", "steepest", "minimum_div_10")
        xs += _draw_range_test(ax, result, show_raw)
        metric_on = "train" if on is None else on
    xs += _draw_suggestions(ax, result, rules, on)
    ax.set_xscale("log")
    fin = np.asarray([x for x in xs if math.isfinite(x) and x > 0])
    if fin.size:
        ax.set_xlim(fin.min() / 1.6, fin.max() * 1.6)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation loss" if metric_on == "valid" else "training loss")
    ax.set_title(finder_title(result) if title is None else title, fontsize=10)
    ax.grid(True, which="major", alpha=0.25)
    place_legend(ax, owned=owned)
    return finish("plot_finder", ax, ax.figure, path, owned=owned)


def _draw_parallel(ax: Any, result: Any, on: str | None, band: str) -> list[float]:
    lrs = np.asarray(result.lrs, np.float64)
    metric_on = on or ("valid" if result.valid_losses is not None else "train")
    y = np.asarray(result.valid_losses if metric_on == "valid" else result.final_losses,
                   np.float64)
    div = np.asarray(result.diverged, bool).any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(y, axis=1)
        if band == "se" and y.shape[1] > 1:
            se = np.nanstd(y, axis=1, ddof=1) / math.sqrt(y.shape[1])
            lo, hi = mean - se, mean + se
        else:
            lo, hi = np.nanmin(y, axis=1), np.nanmax(y, axis=1)
    ok = ~div & np.isfinite(mean)
    label = f"{metric_on} loss at step {result.num_steps}"
    if y.shape[1] > 1:
        label += f" (mean of {y.shape[1]} seeds)"
        ax.fill_between(lrs[ok], lo[ok], hi[ok], alpha=0.25, color="tab:blue", lw=0,
                        label="seed min-max" if band != "se" else "seed mean +-1 s.e.")
    ax.plot(lrs[ok], mean[ok], "o-", ms=3, color="tab:blue", label=label, zorder=3)
    # Keep a few huge (but finite) losses near the edge of divergence from flattening the
    # curve: clip the axis at 1.5x the loss at initialisation and mark what lies above.
    init = np.asarray(result.losses, np.float64)[..., 0] if np.ndim(result.losses) == 3 else None
    ref = float(np.nanmedian(init)) if init is not None and np.isfinite(init).any() else math.nan
    if ok.any() and math.isfinite(ref) and ref > 0:
        lowest = float(np.nanmin(lo[ok]))
        top = max(1.5 * ref, float(np.nanmax(mean[ok & (mean <= 1.5 * ref)], initial=lowest)))
        if float(np.nanmax(hi[ok])) > top:
            pad = 0.04 * (top - lowest)
            ax.set_ylim(min(lowest, 0.0 if lowest >= 0 else lowest) - pad, top + pad)
            above = ok & (mean > top)
            if above.any():
                ax.plot(lrs[above], np.full(int(above.sum()), top), "^", ms=6,
                        color="tab:blue", mfc="none", clip_on=False,
                        label=f"loss above {top:.3g} ({int(above.sum())})")
    if div.any():
        # at the top edge of the axes (axes-fraction y), whatever the losses' scale
        ax.plot(lrs[div], np.full(int(div.sum()), 0.97), "x", color="tab:red",
                transform=ax.get_xaxis_transform(), label=f"diverged ({int(div.sum())})")
    return lrs.tolist()


def _draw_range_test(ax: Any, result: Any, show_raw: bool) -> list[float]:
    x, yv = result.curve(on="train")
    losses = np.asarray(result.losses, np.float64)
    if show_raw:
        ax.plot(result.lrs, losses, color="0.75", lw=0.8, label="raw loss")
    ok = np.isfinite(x) & np.isfinite(yv)
    ax.plot(x[ok], yv[ok], color="tab:blue", zorder=3,
            label=f"smoothed (beta={result.smoothing:g}, lag {result.lag_steps} steps)")
    if result.valid_losses is not None:
        xv, vv = result.curve(on="valid")
        ax.plot(xv, vv, "s--", ms=4, color="tab:cyan", label="validation loss")
    if result.diverged:
        ax.axvline(result.lrs[int(result.diverged_step)], color="tab:red", ls=":",
                   label="diverged")
    fin = np.concatenate([yv[ok], losses[np.isfinite(losses)]])
    if fin.size:
        lo_y, hi_y = float(np.min(fin)), float(np.percentile(fin, 98))
        start = float(np.median(yv[ok][:10])) if ok.any() else hi_y
        if start > 0:                      # keep the exploding tail from flattening the rest
            hi_y = min(hi_y, 1.5 * start)
        pad = 0.05 * (hi_y - lo_y + 1e-12)
        ax.set_ylim(lo_y - pad, hi_y + pad)
    return [float(np.nanmin(result.lrs)), float(np.nanmax(result.lrs))]


def _draw_suggestions(ax: Any, result: Any, rules: Sequence[str], on: str | None
                      ) -> list[float]:
    xs: list[float] = []
    if result.all_diverged:
        return xs
    blend = ax.get_xaxis_transform()           # x in data, y in axes fraction
    lr = float(_quiet(result.suggest, on=on))
    lo, hi = _quiet(result.suggest_range)
    if math.isfinite(lo) and math.isfinite(hi):
        label = f"suggest_range(): {lo:.3g} .. {hi:.3g}"
        if math.isfinite(lr) and not (lo * (1 - 1e-9) <= lr <= hi * (1 + 1e-9)):
            label += "\n(does not contain the suggestion)"
        ax.axvspan(lo, hi, color="tab:green", alpha=0.13, lw=0, label=label, zorder=0)
        xs += [lo, hi]
    if math.isfinite(lr):
        ax.axvline(lr, color="k", lw=2.0, alpha=0.8, zorder=4,
                   label=f"suggested {lr:.3g} ({result.default_rule})")
        xs.append(lr)
    fallback = iter(_FALLBACK_STYLES * 4)
    for i, rule in enumerate(rules):
        if rule == "best_final" and result.method != "parallel":
            continue
        r = float(_quiet(result.suggest, rule, on=on))
        if not math.isfinite(r):
            continue
        colour, dashes, marker = _RULE_STYLES.get(rule) or next(fallback)
        height = 0.90 - 0.065 * i             # one height per rule: coinciding ones stack
        ax.plot([r, r], [0.0, height], transform=blend, color=colour, ls=dashes, lw=1.1,
                marker=marker, markevery=[1], ms=7, mec="k", mew=0.5, zorder=5,
                label=f"{rule}: {r:.3g}")
        ax.annotate(rule, (r, height), xycoords=blend, xytext=(5, -3),
                    textcoords="offset points", fontsize=7, color=colour, zorder=5)
        xs.append(r)
    return xs


def plot_find(result: Any, ax: Any = None, *, title: str | None = None, path: Any = None) -> Any:
    """Loss against learning rate for every rung of a :class:`jaxlr.finder.FindResult`.

    One line per rung (its horizon in the legend; seed-mean loss, validation when measured),
    diverged rates as red ``x`` at the top, the rates within 5 % and 1 % of the best at the
    longest rung as two shaded spans, the suggestion as a solid black line and the stability
    margin as a dotted red line at the nearest diverged rate (labelled with the factor).

    Args:
      result: a :class:`jaxlr.finder.FindResult`.
      ax: matplotlib axes to draw into (default: a new figure).
      title: axes title (default: the task, the rungs and the planned run).
      path: save the figure to this file (PNG/SVG/PDF); a figure created here is then closed.

    Returns:
      The matplotlib axes.
    """
    owned = ax is None
    if owned:
        _, ax = pyplot().subplots(figsize=(8.5, 4.5), layout="constrained")
    xs: list[float] = []
    cmap = pyplot().get_cmap("viridis")
    n = len(result.rungs)
    for i, r in enumerate(result.rungs):
        lrs = np.asarray(r.lrs, np.float64)
        y = result.rung_losses(i)
        ok = np.isfinite(y)
        colour = cmap(0.15 + 0.7 * i / max(n - 1, 1))
        ax.plot(lrs[ok], y[ok], "o-", ms=3.5, lw=1.4, color=colour,
                label=f"rung {i}: {r.num_steps} steps ({r.num_steps / result.target_steps:.0%})")
        if (~ok).any():
            ax.plot(lrs[~ok], np.full((~ok).sum(), 1.0), "x", color="tab:red", ms=6,
                    transform=ax.get_xaxis_transform(), clip_on=False,
                    label="diverged" if i == 0 else None)
        xs += list(lrs)
    for band, alpha, name in ((result.band_5pct, 0.12, "5%"), (result.band_1pct, 0.25, "1%")):
        if band is not None:
            ax.axvspan(band[0], band[1], color="tab:blue", alpha=alpha,
                       label=f"within {name} of the best (longest rung)")
    if math.isfinite(result.suggestion):
        ax.axvline(result.suggestion, color="black", lw=1.6,
                   label=f"suggestion {result.suggestion:.3g}")
        xs.append(result.suggestion)
        if math.isfinite(result.stability_margin):
            d = result.suggestion * result.stability_margin
            ax.axvline(d, color="tab:red", lw=1.2, ls=":",
                       label=f"nearest diverged rate (margin x{result.stability_margin:.2g})")
    ax.set_xscale("log")
    fin = np.asarray([x for x in xs if math.isfinite(x) and x > 0])
    if fin.size:
        ax.set_xlim(fin.min() / 1.6, fin.max() * 1.6)
    ax.set_xlabel("learning rate (peak of the schedule)")
    ax.set_ylabel("validation loss" if result.metric == "valid_loss" else "training loss")
    r0 = result.rungs[0]
    name = readable_name(getattr(r0, "task", "")) or "jaxlr.find"
    ax.set_title(title if title is not None else (
        f"{name}: {n} rungs x {result.num_seeds} seeds for a {result.target_steps}-step run, "
        f"{result.compute:.1f} full runs"), fontsize=10)
    ax.grid(True, which="major", alpha=0.25)
    place_legend(ax, owned=owned)
    return finish("plot_find", ax, ax.figure, path, owned=owned)
