"""Figures for sweep results (matplotlib is imported inside each function)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from jaxlr._utils._validation import fail
from jaxlr.plotting._figure import finish, pyplot, spans_decades

__all__ = ["plot_pbt_schedule", "plot_sweep", "plot_sweep_curves", "plot_sweep_heatmap"]


def _plt():
    return pyplot()


def _is_log(result: Any, name: str, values: np.ndarray) -> bool:
    """The space's ``log`` flag for ``name`` when it has one, else whether the positive
    values span more than a decade."""
    info = result.space.get(name, {}) if isinstance(result.space, dict) else {}
    if isinstance(info, dict) and "log" in info:
        return bool(info["log"])
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return bool(v.size and (v > 0).all() and spans_decades(v))


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.3g}"
    return str(v)


def _config_label(result: Any, i: int, names: Sequence[str]) -> str:
    """``name=value`` of the hyperparameters that vary across trials (all if none vary)."""
    cfg = result.config(i)
    shown = [k for k in names if k in cfg] or list(cfg)
    return ", ".join(f"{k}={_fmt(cfg[k])}" for k in shown)


def _varying_names(result: Any) -> list[str]:
    out = []
    for k, v in result.hparams.items():
        a = np.asarray(v)
        if len({str(x) for x in a.tolist()}) > 1:
            out.append(k)
    return out


def _best_or_none(result: Any) -> int | None:
    return result.best_index if np.isfinite(result.scores()).any() else None


def _title(result: Any, what: str) -> str:
    nd = int(np.asarray(result.diverged, bool).sum())
    return (f"{what}: {result.strategy} sweep, {len(result)} trials, {result.metric} "
            f"({result.mode})" + (f", {nd} diverged" if nd else ""))


def _numeric_names(result: Any) -> list[str]:
    out = []
    for k, v in result.hparams.items():
        a = np.asarray(v)
        if a.dtype != object and np.unique(a).size > 1:
            out.append(k)
    return out


def plot_sweep(result: Any, metric: str | None = None, *, names: Sequence[str] | None = None,
               axes: Any = None, title: str | None = None, path: Any = None):
    """Metric vs each swept hyperparameter, one panel each.

    Log x-axis for a hyperparameter the space marks ``log`` (or, without a space entry, whose
    values span more than a decade); log y-axis when the metric spans more than a decade.
    Diverged trials are red crosses at the top, the best trial a star (its value in the
    legend), cross-validation error bars when available.

    Args:
      result: a :class:`jaxlr.SweepResult`.
      metric: the metric on the y-axis (default: the result's ranking metric).
      names: the hyperparameters, one panel each (default: every swept numeric one).
      axes: matplotlib axes, one per name (default: a new figure).
      title: figure title (default: strategy, trials, metric and mode, diverged count).
      path: save the figure to this file (``.png``, ``.svg`` or ``.pdf``, parent directories
        created); a figure created here is then closed. Default: nothing is saved.

    Returns:
      The matplotlib ``Figure`` (also when saved).
    """
    plt = _plt()
    metric = result.metric if metric is None else metric
    names = list(names) if names is not None else _numeric_names(result)
    if not names:
        names = [k for k in result.hparams][:1]
    owned = axes is None
    if owned:
        fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names) + 0.5, 3.4),
                                 squeeze=False, layout="constrained")
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    y = np.asarray(result.metrics[metric], np.float64)
    err = result.metrics.get(f"{metric}_stderr")
    div = np.asarray(result.diverged, bool) | ~np.isfinite(y)
    ok = ~div
    best = _best_or_none(result) if ok.any() else None
    log_y = bool(ok.any() and (y[ok] > 0).all() and spans_decades(y[ok]))
    for ax, name in zip(axes, names):
        x = np.asarray(result.hparams[name])
        if x.dtype == object:
            cats = sorted(set(map(str, x)))
            x = np.asarray([cats.index(str(v)) for v in x], np.float64)
            ax.set_xticks(range(len(cats)), cats)
        x = x.astype(np.float64)
        if err is not None:
            ax.errorbar(x[ok], y[ok], yerr=np.asarray(err)[ok], fmt="o", ms=4, alpha=0.7,
                        label="trials (+-1 s.e.)")
        else:
            ax.plot(x[ok], y[ok], "o", ms=4, alpha=0.7, label=f"trials ({int(ok.sum())})")
        if div.any():
            # at the top edge of the axes, whatever the metric's scale
            ax.plot(x[div], np.full(int(div.sum()), 0.96), "x", color="tab:red",
                    transform=ax.get_xaxis_transform(), label=f"diverged ({int(div.sum())})")
        if best is not None:
            ax.plot([x[best]], [y[best]], "*", ms=14, color="tab:orange", mec="k", mew=0.5,
                    label=f"best: {metric} {y[best]:.4g}", zorder=4)
        if _is_log(result, name, x):
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title is None:
        title = _title(result, f"{metric} per trial")
    fig.suptitle(title, fontsize=10)
    return finish("plot_sweep", fig, fig, path, owned=owned)


def plot_sweep_heatmap(result: Any, x: str | None = None, y: str | None = None,
                       metric: str | None = None, *, ax: Any = None, title: str | None = None,
                       path: Any = None):
    """2-D heatmap of ``metric`` over two swept hyperparameters (mean over the others; a grid
    gives cells, random trials a scatter coloured by the metric, with log axes as in
    :func:`plot_sweep`), with a colorbar.

    Args:
      result: a :class:`jaxlr.SweepResult`.
      x, y: the two hyperparameters (default: the first two swept numeric ones).
      metric: the colour (default: the ranking metric).
      ax: matplotlib axes (default: a new figure).
      title: axes title (default: ``"<metric> over <x> x <y>"`` and the sweep).
      path: save the figure to this file (``.png``, ``.svg`` or ``.pdf``, parent directories
        created); a figure created here is then closed. Default: nothing is saved.

    Returns:
      The matplotlib ``Figure`` (also when saved).
    """
    plt = _plt()
    metric = result.metric if metric is None else metric
    names = _numeric_names(result)
    if x is None or y is None:
        if len(names) < 2:
            fail("plot_sweep_heatmap", f"needs two swept numeric hyperparameters; got {names}.")
        x, y = (x or names[0]), (y or [n for n in names if n != (x or names[0])][0])
    xs = np.asarray(result.hparams[x], np.float64)
    ys = np.asarray(result.hparams[y], np.float64)
    v = np.asarray(result.metrics[metric], np.float64).copy()
    v[np.asarray(result.diverged, bool)] = np.nan
    owned = ax is None
    if owned:
        fig, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
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
        div = np.asarray(result.diverged, bool)
        if div.any():
            ax.scatter(xs[div], ys[div], marker="x", color="tab:red", s=30,
                       label=f"diverged ({int(div.sum())})")
            ax.legend(fontsize=8)
        if _is_log(result, x, xs):
            ax.set_xscale("log")
        if _is_log(result, y, ys):
            ax.set_yscale("log")
    fig.colorbar(im, ax=ax, label=metric)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title if title is not None else
                 f"{metric} over {x} x {y}\n({result.strategy} sweep, {len(result)} trials)",
                 fontsize=10)
    return finish("plot_sweep_heatmap", fig, fig, path, owned=owned)


def plot_sweep_curves(result: Any, curve: str = "train_loss", *, top: int | None = 5,
                      ax: Any = None, title: str | None = None, path: Any = None):
    """Per-trial curves (e.g. the training loss per step) with the best trials labelled.

    The ``top`` best trials by the ranking metric are drawn in colour (darkest = best) and
    labelled in the legend with their configuration and metric; every other trial is a light
    grey line, diverged ones light red. Log y-axis when the positive curves span more than a
    decade.

    Args:
      result: a :class:`jaxlr.SweepResult`.
      curve: which of ``result.curves``.
      top: how many of the best trials to highlight and label (``None``: all).
      ax: matplotlib axes (default: a new figure, legend beside the axes).
      title: axes title (default: the curve, the sweep and the ranking metric).
      path: save the figure to this file (``.png``, ``.svg`` or ``.pdf``, parent directories
        created); a figure created here is then closed. Default: nothing is saved.

    Returns:
      The matplotlib ``Figure`` (also when saved).
    """
    plt = _plt()
    if curve not in result.curves:
        fail("plot_sweep_curves", f"unknown curve {curve!r}; the curves are "
             f"{', '.join(sorted(result.curves)) or '(none)'}.")
    c = np.asarray(result.curves[curve], np.float64)
    owned = ax is None
    if owned:
        fig, ax = plt.subplots(figsize=(10.5, 4.2), layout="constrained")
    else:
        fig = ax.figure
    scores = result.scores()
    sign = 1.0 if result.mode == "min" else -1.0
    order = [int(i) for i in np.argsort(sign * scores, kind="stable") if np.isfinite(scores[i])]
    k = len(order) if top is None else max(0, min(int(top), len(order)))
    highlighted = order[:k]
    div = np.asarray(result.diverged, bool)
    names = _varying_names(result)
    steps = np.arange(c.shape[1]) + 1
    rest = [i for i in range(len(result)) if i not in set(highlighted)]
    first_grey = first_red = True
    for i in rest:                                  # the background, drawn first
        if div[i]:
            ax.plot(steps, c[i], color="tab:red", alpha=0.35, lw=0.7, ls="--", zorder=1,
                    label=f"diverged ({int(div.sum())})" if first_red else None)
            first_red = False
        else:
            ax.plot(steps, c[i], color="0.75", lw=0.7, zorder=1,
                    label=f"other trials ({sum(1 for j in rest if not div[j])})"
                    if first_grey else None)
            first_grey = False
    cmap = plt.get_cmap("viridis")
    metric = np.asarray(result.metrics[result.metric], np.float64)
    for rank, i in reversed(list(enumerate(highlighted))):     # the best on top
        colour = cmap(0.85 * rank / max(k - 1, 1))
        ax.plot(steps, c[i], color=colour, lw=2.2 if rank == 0 else 1.3, zorder=10 - rank,
                label=f"#{rank + 1} trial {i}: {_config_label(result, i, names)} "
                      f"({result.metric} {metric[i]:.4g})")
    finite = c[np.isfinite(c)]
    if finite.size and finite.min() > 0 and spans_decades(finite):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(curve)
    ax.grid(alpha=0.3)
    if title is None:
        title = _title(result, curve) + (f"; best {k} highlighted" if k else "")
    ax.set_title(title, fontsize=10)
    # legend: best first, then the background entries
    handles, labels = ax.get_legend_handles_labels()
    pairs = sorted(zip(handles, labels), key=lambda hl: (not hl[1].startswith("#"), hl[1]))
    if pairs:
        kw = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0} if (
            owned) else {"loc": "best"}
        ax.legend([h for h, _ in pairs], [lbl for _, lbl in pairs], fontsize=7, **kw)
    return finish("plot_sweep_curves", fig, fig, path, owned=owned)


def plot_pbt_schedule(result: Any, *, ax: Any = None, path: Any = None):
    """The learning rate of every PBT member per interval (thin) and the discovered schedule of
    the best lineage (thick).

    Args:
      result: a :class:`jaxlr.SweepResult` of ``strategy="pbt"``.
      ax: matplotlib axes (default: a new figure).
      path: save the figure to this file (``.png``, ``.svg`` or ``.pdf``, parent directories
        created); a figure created here is then closed. Default: nothing is saved.

    Returns:
      The matplotlib ``Figure`` (also when saved).
    """
    plt = _plt()
    info = result.extra.get("pbt")
    if info is None:
        fail("plot_pbt_schedule", "the result has no PBT data (strategy="
             f"{result.strategy!r}).", hint="Run sweep_task(..., strategy='pbt').")
    lrs = np.asarray(info["lr_history"], np.float64)
    steps = np.asarray(info["best_schedule_steps"], np.float64)
    interval = float(info["interval"])
    owned = ax is None
    if owned:
        fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    else:
        fig = ax.figure
    edges = np.append(steps, steps[-1] + interval)
    for i in range(lrs.shape[1]):
        ax.stairs(lrs[:, i], edges, color="0.6", lw=0.6, alpha=0.6, baseline=None,
                  label=f"members ({lrs.shape[1]})" if i == 0 else None)
    ax.stairs(np.asarray(info["best_schedule"], np.float64), edges, color="tab:orange", lw=2.5,
              baseline=None,
              label="best lineage (discovered schedule)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(info.get("lr_name") or "learning rate")
    ax.set_title(f"population-based training: {lrs.shape[1]} members, "
                 f"{lrs.shape[0]} intervals", fontsize=10)
    ax.legend(fontsize=8)
    return finish("plot_pbt_schedule", fig, fig, path, owned=owned)
