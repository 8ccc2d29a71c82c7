"""Training-history figures (matplotlib imported lazily inside each function)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_history"]


def _pyplot():
    import matplotlib  # noqa: PLC0415

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        import os  # noqa: PLC0415

        if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def plot_history(history: Any, *, metrics: tuple[str, ...] | None = None, smooth: int = 1,
                 log_lr: bool = False, title: str | None = None):
    """Training loss, validation metrics and learning rate of a :class:`jaxlr.History`.

    Top panel: per-step train loss (optionally smoothed with a running mean of ``smooth``
    steps) and the validation metrics at each evaluation; bottom panel: the learning rate per
    step, with the plateau reductions marked.

    Args:
      history: the :class:`jaxlr.History` returned by :func:`jaxlr.fit`.
      metrics: validation metrics to draw (default: every ``val_*`` metric containing "loss").
      smooth: running-mean window for the train loss.
      log_lr: log scale for the learning rate.
      title: figure title.

    Returns:
      The matplotlib ``Figure``.
    """
    plt = _pyplot()
    fig, (ax, ax_lr) = plt.subplots(2, 1, sharex=True, figsize=(7, 5),
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
    ax.set_ylabel("loss")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    lr = np.asarray(history.train.get("lr", np.zeros(0)), np.float64)
    if lr.size:
        ax_lr.plot(steps, lr, color="C3", lw=1)
    for r in np.asarray(history.reductions):
        ax_lr.axvline(r, color="0.5", ls="--", lw=0.8)
    if log_lr and lr.size and np.all(lr > 0):
        ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_lr.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
