"""Plotting functions for schedules (matplotlib imported lazily inside each function)."""

from __future__ import annotations

from typing import Any, Sequence

from jaxlr import schedules as schedules_lib
from jaxlr._utils import _validation as validation
from jaxlr.plotting._figure import finish, pyplot

# Several schedules on one axes often coincide over whole phases (a shared warm-up, a common
# peak): each gets its own dash pattern and is drawn above the one before, so a later
# (dashed) line over an earlier (solid) one leaves both visible.
_LINESTYLES = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)), (0, (3, 1)),
              (0, (1, 3)))

__all__ = ["plot_schedule"]


def plot_schedule(schedules: Any, total_steps: int, *, ax: Any = None,
                  labels: Sequence[str] | None = None, log_scale: bool = False,
                  title: str | None = None, path: Any = None) -> Any:
    """Draws one schedule, or several on the same axes for comparison.

    Args:
      schedules: a schedule (or callable ``step -> value``) or a list of them.
      total_steps: number of steps to draw (``0 .. total_steps - 1``).
      ax: matplotlib ``Axes`` to draw on; a new figure is created when ``None``.
      labels: one legend label per schedule (default: each schedule's ``repr``, shortened).
      log_scale: logarithmic y axis.
      title: axes title (default: none).
      path: save the figure to this file (``.png``, ``.svg`` or ``.pdf``, parent directories
        created); a figure created here is then closed. Default: nothing is saved.

    Returns:
      The matplotlib ``Axes`` (also when saved).

    Examples:
      >>> import jaxlr
      >>> from jaxlr.plotting import plot_schedule
      >>> ax = plot_schedule([jaxlr.cosine_decay(1.0, 50), jaxlr.linear(1.0, 0.0, 50)], 60)
      >>> len(ax.get_lines())
      2
    """
    import jax.numpy as jnp
    import numpy as np


    if isinstance(schedules, (list, tuple)):
        items = list(schedules)
    else:
        items = [schedules]
    if not items:
        validation.fail("plot_schedule", "`schedules` is empty; pass a schedule or a list.")
    items = [schedules_lib.as_schedule("plot_schedule", f"schedules[{i}]", s) for i, s in enumerate(items)]
    validation.check_steps("plot_schedule", minimum=1, total_steps=total_steps)
    if labels is not None and len(labels) != len(items):
        validation.fail("plot_schedule", f"`labels` must have one entry per schedule "
                                          f"({len(items)}); got labels={labels!r}.")
    owned = ax is None
    if owned:
        _, ax = pyplot().subplots(figsize=(6, 3.5), layout="constrained")
    steps = jnp.arange(int(total_steps), dtype=jnp.int32)
    for i, s in enumerate(items):
        values = np.asarray(s(steps))
        if labels is not None:
            label = labels[i]
        else:
            label = repr(s)
            label = label if len(label) <= 60 else label[:57] + "..."
        ax.plot(np.asarray(steps), values, label=label, ls=_LINESTYLES[i % len(_LINESTYLES)],
                lw=1.6 if i == 0 else 1.3, zorder=2 + i)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log_scale:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return finish("plot_schedule", ax, ax.figure, path, owned=owned)
