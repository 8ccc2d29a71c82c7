"""Figures for sweep results (matplotlib is imported inside each function)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["plot_pbt_schedule", "plot_sweep", "plot_sweep_curves", "plot_sweep_heatmap"]


def _plt():
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg",) and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _has_display() -> bool:
    import os
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _is_log(result: Any, name: str, values: np.ndarray) -> bool:
    info = result.space.get(name, {}) if isinstance(result.space, dict) else {}
    if "log" in info:
        return bool(info["log"])
    v = values[np.isfinite(values)]
    return bool(v.size and (v > 0).all() and v.max() / v.min() >= 100)


def _numeric_names(result: Any) -> list[str]:
    out = []
    for k, v in result.hparams.items():
        a = np.asarray(v)
        if a.dtype != object and np.unique(a).size > 1:
            out.append(k)
    return out


def plot_sweep(result: Any, metric: str | None = None, *, names: Sequence[str] | None = None,
               axes: Any = None):
    """Metric vs each swept hyperparameter (log x-axis for log-uniform ones; diverged trials
    drawn as red crosses at the top; the best trial starred; CV error bars when available).

    Returns:
      the matplotlib ``Figure``.
    """
    plt = _plt()
    metric = result.metric if metric is None else metric
    names = list(names) if names is not None else _numeric_names(result)
    if not names:
        names = [k for k in result.hparams][:1]
    if axes is None:
        fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    y = np.asarray(result.metrics[metric], np.float64)
    err = result.metrics.get(f"{metric}_stderr")
    div = np.asarray(result.diverged, bool) | ~np.isfinite(y)
    ok = ~div
    top = np.nanmax(y[ok]) if ok.any() else 1.0
    best = result.best_index if ok.any() else None
    for ax, name in zip(axes, names):
        x = np.asarray(result.hparams[name])
        if x.dtype == object:
            cats = sorted(set(map(str, x)))
            x = np.asarray([cats.index(str(v)) for v in x], np.float64)
            ax.set_xticks(range(len(cats)), cats)
        x = x.astype(np.float64)
        if err is not None:
            ax.errorbar(x[ok], y[ok], yerr=np.asarray(err)[ok], fmt="o", ms=4, alpha=0.7,
                        label="trials (±1 SE)")
        else:
            ax.plot(x[ok], y[ok], "o", ms=4, alpha=0.7, label="trials")
        if div.any():
            ax.plot(x[div], np.full(div.sum(), top), "x", color="tab:red", label="diverged")
        if best is not None:
            ax.plot([x[best]], [y[best]], "*", ms=14, color="tab:orange", label="best")
        if _is_log(result, name, x):
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{result.strategy} sweep: {len(result)} trials")
    fig.tight_layout()
    return fig


def plot_sweep_heatmap(result: Any, x: str | None = None, y: str | None = None,
                       metric: str | None = None, *, ax: Any = None):
    """2-D heatmap of ``metric`` over two swept hyperparameters (mean over the others; a grid
    gives cells, random trials a scatter coloured by the metric)."""
    plt = _plt()
    metric = result.metric if metric is None else metric
    names = _numeric_names(result)
    if x is None or y is None:
        if len(names) < 2:
            from jaxlr._utils._validation import fail
            fail("plot_sweep_heatmap", f"needs two swept numeric hyperparameters; got {names}.")
        x, y = (x or names[0]), (y or [n for n in names if n != (x or names[0])][0])
    xs = np.asarray(result.hparams[x], np.float64)
    ys = np.asarray(result.hparams[y], np.float64)
    v = np.asarray(result.metrics[metric], np.float64).copy()
    v[np.asarray(result.diverged, bool)] = np.nan
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    else:
        fig = ax.figure
    ux, uy = np.unique(xs), np.unique(ys)
    if ux.size * uy.size <= 4 * len(xs) and ux.size > 1 and uy.size > 1 and \
            ux.size * uy.size <= len(xs):
        grid = np.full((uy.size, ux.size), np.nan)
        for i, xv in enumerate(ux):
            for j, yv in enumerate(uy):
                sel = (xs == xv) & (ys == yv)
                if sel.any() and np.isfinite(v[sel]).any():
                    grid[j, i] = np.nanmean(v[sel])
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(ux.size), [f"{a:.3g}" for a in ux], rotation=45, fontsize=7)
        ax.set_yticks(range(uy.size), [f"{a:.3g}" for a in uy], fontsize=7)
        for j in range(uy.size):
            for i in range(ux.size):
                if np.isfinite(grid[j, i]):
                    ax.text(i, j, f"{grid[j, i]:.3g}", ha="center", va="center", fontsize=6,
                            color="w")
    else:
        im = ax.scatter(xs, ys, c=v, cmap="viridis", s=30)
        if _is_log(result, x, xs):
            ax.set_xscale("log")
        if _is_log(result, y, ys):
            ax.set_yscale("log")
    fig.colorbar(im, ax=ax, label=metric)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{metric} over {x} x {y}")
    fig.tight_layout()
    return fig


def plot_sweep_curves(result: Any, curve: str = "train_loss", *, top: int | None = None,
                      ax: Any = None):
    """Per-trial curves (e.g. training loss per step), the best trial highlighted."""
    plt = _plt()
    if curve not in result.curves:
        from jaxlr._utils._validation import fail
        fail("plot_sweep_curves", f"unknown curve {curve!r}; the curves are "
             f"{', '.join(sorted(result.curves)) or '(none)'}.")
    c = np.asarray(result.curves[curve], np.float64)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    order = np.argsort(result.scores() * (1 if result.mode == "min" else -1))
    order = order[:top] if top is not None else order
    for i in order:
        ax.plot(c[i], lw=0.7, alpha=0.5, color="tab:red" if result.diverged[i] else "tab:blue")
    b = result.best_index
    ax.plot(c[b], lw=2, color="tab:orange", label=f"best (trial {b})")
    finite = c[np.isfinite(c)]
    if finite.size and finite.min() > 0:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(curve)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_pbt_schedule(result: Any, *, ax: Any = None):
    """The learning rate of every PBT member per interval (thin) and the discovered schedule of
    the best lineage (thick)."""
    plt = _plt()
    info = result.extra.get("pbt")
    if info is None:
        from jaxlr._utils._validation import fail
        fail("plot_pbt_schedule", "the result has no PBT data (strategy="
             f"{result.strategy!r}).", hint="Run sweep_task(..., strategy='pbt').")
    lrs = np.asarray(info["lr_history"], np.float64)
    steps = np.asarray(info["best_schedule_steps"], np.float64)
    interval = float(info["interval"])
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    edges = np.append(steps, steps[-1] + interval)
    for i in range(lrs.shape[1]):
        ax.stairs(lrs[:, i], edges, color="0.6", lw=0.6, alpha=0.6, baseline=None)
    ax.stairs(np.asarray(info["best_schedule"], np.float64), edges, color="tab:orange", lw=2.5,
              baseline=None,
              label="best lineage (discovered schedule)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(info.get("lr_name") or "learning rate")
    ax.set_title("population-based training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
