"""Finder plots: loss against learning rate (matplotlib imported lazily inside the function)."""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

__all__ = ["plot_finder"]


def _axes(ax: Any):
    if ax is None:
        import matplotlib.pyplot as plt  # falls back to the Agg backend without a display

        _, ax = plt.subplots(figsize=(7, 4.5))
    return ax


def plot_finder(result: Any, ax: Any = None, *, rules: Sequence[str] | None = None,
                on: str | None = None, band: str = "minmax", show_raw: bool = True,
                title: str | None = None) -> Any:
    """Loss against learning rate (log axis) for a :class:`jaxlr.FinderResult`.

    Parallel finder: the seed-mean horizon loss of every candidate (validation when measured)
    with a band across seeds (``band="minmax"`` or ``"se"`` for one standard error), diverged
    candidates marked with a red ``x`` at the top. Range test: the smoothed training loss
    against the lag-corrected rate, the raw losses faintly, validation points if measured.
    Suggestions (``rules``, default: all applicable) are vertical lines; the default rule's
    line is solid.

    Args:
      result: a :class:`jaxlr.FinderResult`.
      ax: matplotlib axes to draw into (default: a new figure).
      rules: suggestion rules to mark.
      on: ``"train"`` or ``"valid"`` (see :meth:`jaxlr.FinderResult.curve`).
      band: ``"minmax"`` or ``"se"``.
      show_raw: range test: also draw the unsmoothed losses.
      title: axes title (default: a summary).

    Returns:
      The matplotlib axes.

    Examples:
      >>> ax = plot_finder(result)         # doctest: +SKIP
      >>> ax.figure.savefig("finder.png")  # doctest: +SKIP
    """
    ax = _axes(ax)
    colours = ["tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink"]
    if result.method == "parallel":
        lrs = result.lrs
        metric_on = on or ("valid" if result.valid_losses is not None else "train")
        y = result.valid_losses if metric_on == "valid" else result.final_losses
        div = result.diverged.any(axis=1)
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
            ax.fill_between(lrs[ok], lo[ok], hi[ok], alpha=0.25, color="tab:blue",
                            label="seed min-max" if band != "se" else "+-1 s.e.")
        ax.plot(lrs[ok], mean[ok], "o-", ms=3, color="tab:blue", label=label)
        if div.any():
            top = np.nanmax(hi[ok]) if ok.any() else 1.0
            ax.plot(lrs[div], np.full(int(div.sum()), top), "x", color="tab:red",
                    label=f"diverged ({int(div.sum())})")
        rules = rules if rules is not None else ("best_final", "valley", "steepest",
                                                 "minimum_div_10") + (
            ("horizon",) if result.target_steps is not None else ())
    else:
        x, yv = result.curve(on="train")
        if show_raw:
            ax.plot(result.lrs, result.losses, color="0.75", lw=0.8, label="raw loss")
        ok = np.isfinite(x) & np.isfinite(yv)
        ax.plot(x[ok], yv[ok], color="tab:blue",
                label=f"smoothed (beta={result.smoothing:g}, lag {result.lag_steps} steps)")
        if result.valid_losses is not None:
            xv, vv = result.curve(on="valid")
            ax.plot(xv, vv, "s--", ms=4, color="tab:cyan", label="validation loss")
        if result.diverged:
            ax.axvline(result.lrs[int(result.diverged_step)], color="tab:red", ls=":",
                       label="diverged")
        rules = rules if rules is not None else ("valley", "steepest", "minimum_div_10")
        fin = np.concatenate([yv[ok], result.losses[np.isfinite(result.losses)]])
        if fin.size:
            lo_y, hi_y = float(np.min(fin)), float(np.percentile(fin, 98))
            start = float(np.median(yv[ok][:10])) if ok.any() else hi_y
            if start > 0:                      # keep the exploding tail from flattening the rest
                hi_y = min(hi_y, 1.5 * start)
            pad = 0.05 * (hi_y - lo_y + 1e-12)
            ax.set_ylim(lo_y - pad, hi_y + pad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i, rule in enumerate(rules):
            lr = result.suggest(rule, on=on) if rule != "best_final" or (
                result.method == "parallel") else math.nan
            if math.isfinite(lr):
                default = rule == result.default_rule
                ax.axvline(lr, color=colours[i % len(colours)], ls="-" if default else "--",
                           lw=1.5 if default else 1.0, label=f"{rule}: {lr:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    if title is None:
        kind = "parallel finder" if result.method == "parallel" else "range test"
        title = f"{kind}: {result.task} / {result.optimizer}"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax
