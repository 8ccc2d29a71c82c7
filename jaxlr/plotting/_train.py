"""Training-history figures (matplotlib imported lazily inside each function)."""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxlr.plotting._figure import finish, pyplot

__all__ = ["plot_history"]


def plot_history(history: Any, *, metrics: tuple[str, ...] | None = None, smooth: int = 1,
                 log_lr: bool = False, title: str | None = None, path: Any = None):
    """Training loss, validation metrics and learning rate of a :class:`jaxlr.History`.

    Top panel: per-step train loss (optionally smoothed with a running mean of ``smooth``
    steps) and the validation metrics at each evaluation; bottom panel: the learning rate per
    step, with the plateau reductions (dashed), the best monitored evaluation (dotted) and a
    non-finite step (red) marked.

    Args:
      history: the :class:`jaxlr.History` returned by :func:`jaxlr.fit`.
      metrics: validation metrics to draw (default: every ``val_*`` metric containing "loss").
      smooth: running-mean window for the train loss.
      log_lr: log scale for the learning rate (e.g. after several plateau reductions; zeros
        are drawn at the axis floor).
      title: figure title (default: steps run and why the run stopped).
      path: save the figure to this file (``.png``, ``.svg`` or ``.pdf``, parent directories
        created) and close it. Default: nothing is saved (the figure stays open).

    Returns:
      The matplotlib ``Figure`` (also when saved).

    Examples:
      >>> state, history = jaxlr.fit(...)                       # doctest: +SKIP
      >>> history.plot(path="runs/history.png")                 # doctest: +SKIP
    """
    plt = pyplot()
    fig, (ax, ax_lr) = plt.subplots(2, 1, sharex=True, figsize=(7, 5), layout="constrained",
                                    gridspec_kw={"height_ratios": [2, 1]})
    steps = np.asarray(history.steps) + 1
    loss = np.asarray(history.train.get("loss", np.zeros(0)), np.float64)
    if loss.size:
        if smooth > 1 and loss.size >= smooth:
            kernel = np.ones(smooth) / smooth
            sm = np.convolve(loss, kernel, mode="valid")
            ax.plot(steps[smooth - 1:], sm, label=f"train loss (mean of {smooth})", lw=1)
        else:
            ax.plot(steps, loss, label="train loss", lw=1)
    names = metrics if metrics is not None else [k for k in history.eval if "loss" in k]
    for k in names:
        if k in history.eval:
            ax.plot(history.eval_steps, history.eval[k], "o-", ms=3, label=k)
    if history.best_step is not None:
        ax.axvline(history.best_step, color="0.3", ls=":", lw=1.0,
                   label=f"best evaluation (step {history.best_step})")
    if history.nonfinite_step is not None:
        ax.axvline(history.nonfinite_step + 1, color="tab:red", ls="-", lw=1.0, alpha=0.7,
                   label=f"non-finite (step {history.nonfinite_step + 1})")
    ax.set_ylabel("loss")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    lr = np.asarray(history.train.get("lr", np.zeros(0)), np.float64)
    if lr.size:
        ax_lr.plot(steps, lr, color="C3", lw=1)
    for i, r in enumerate(np.asarray(history.reductions).ravel()):
        ax_lr.axvline(r, color="0.5", ls="--", lw=0.8,
                      label="plateau reduction" if i == 0 else None)
    if log_lr and lr.size and np.any(lr > 0):
        ax_lr.set_yscale("log")
        pos = lr[np.isfinite(lr) & (lr > 0)]
        if pos.size:                                # zeros at the floor
            ax_lr.set_ylim(bottom=max(pos.min(), pos.max() * 1e-6) / 1.5)
    if np.asarray(history.reductions).size:
        ax_lr.legend(loc="best", fontsize="small")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_lr.grid(alpha=0.3)
    if title is None:
        n = int(np.asarray(history.steps).shape[0])
        title = f"training history: {n} steps ({history.stop_reason})"
    fig.suptitle(title, fontsize=11)
    return finish("plot_history", fig, fig, path, owned=True)
