"""``jaxlr compare``: train one task with several learning-rate schedules, one figure.

Each schedule is trained for ``steps`` updates on ``seeds`` seeds (vectorised: one compiled
program per schedule, via :func:`jaxlr.sweep_task` over a ``seed`` grid; the seeds change the
initialisation and the batch order). Host only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import jaxlr
from jaxlr.cli._common import pyplot, save_figure

# Distinct line styles and markers for schedules that overlap (see CompareResult.plot).
_LINESTYLES = ("-", (0, (5, 2)), (0, (1, 1.2)), (0, (6, 2, 1, 2)), (0, (3, 1)), (0, (1, 3)))
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _call(schedule, steps):
    """A schedule's values at ``steps``."""
    return schedule(steps)


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average along the last axis (edges use the available points)."""
    width = max(1, min(int(width), x.shape[-1]))
    kernel = np.ones(width) / width
    pad_l, pad_r = width // 2, width - 1 - width // 2
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad_l, pad_r)], mode="edge")
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, xp)


def curve_stats(losses: np.ndarray) -> dict[str, float]:
    """Summaries of per-step training losses ``[seeds, steps]`` (means over seeds).

    * ``early_loss``: mean loss over the first 20% of the steps (how fast it starts).
    * ``final_loss``: mean loss over the last 10% of the steps.
    * ``late_oscillation``: over the last 25% of the steps, the standard deviation of the loss
      around its 21-step moving average divided by the mean of that moving average: how much
      the loss bounces late in training relative to its level (dimensionless).
    """
    t = losses.shape[-1]
    e, f, q = max(1, t // 5), max(1, t // 10), max(2, t // 4)
    trend = moving_average(losses, 21)
    resid = losses - trend
    rel = np.std(resid[:, -q:], axis=-1) / np.maximum(np.mean(trend[:, -q:], axis=-1), 1e-12)
    return {
        "early_loss": float(np.mean(losses[:, :e])),
        "final_loss": float(np.mean(losses[:, -f:])),
        "late_oscillation": float(np.mean(rel)),
    }


@dataclasses.dataclass
class CompareResult:
    """Loss curves of one task trained with several schedules.

    Attributes:
      labels: one label per schedule (the spec strings).
      lrs: ``[K, T]`` learning rate of every update.
      losses: ``[K, S, T]`` training loss of every update (seeds ``S``).
      stats: one dict per schedule: ``early_loss``, ``final_loss``, ``late_oscillation``,
        ``valid_loss`` (and ``valid_accuracy`` for classification), ``diverged`` (seeds).
      task, optimizer, steps, seeds: what was run.
    """

    labels: list[str]
    lrs: np.ndarray
    losses: np.ndarray
    stats: list[dict[str, Any]]
    task: str
    optimizer: str
    steps: int
    seeds: int

    def best(self, key: str = "final_loss") -> int:
        vals = [s[key] if np.isfinite(s[key]) else np.inf for s in self.stats]
        return int(np.argmin(vals))

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "optimizer": self.optimizer, "steps": self.steps,
                "seeds": self.seeds,
                "schedules": [dict(spec=l, **s) for l, s in zip(self.labels, self.stats)],
                "best": self.labels[self.best()],
                "lrs": self.lrs.tolist(), "mean_losses": np.nanmean(self.losses, 1).tolist()}

    def plot(self, *, smooth: int = 15, path: Any = None):
        """Two panels: training loss (moving average of the seed mean; raw faintly) and the
        learning rate of every schedule.

        Schedules often coincide over whole phases (a shared warm-up, the same peak), so each
        gets its own colour, dash pattern and marker (markers staggered between schedules),
        the later ones drawn above the earlier ones with some transparency; the rate panel
        is logarithmic when the positive rates span more than a decade (zeros drawn at its
        floor), so small rates are not flattened onto 0.

        Args:
          smooth: moving-average width (updates) of the loss curves.
          path: save the figure to this file (``.png``, ``.svg`` or ``.pdf``, parent
            directories created) and close it. Default: nothing is saved.

        Returns:
          The matplotlib ``Figure`` (also when saved).
        """

        plt = pyplot()
        fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(8.5, 6), sharex=True,
                                        layout="constrained",
                                        gridspec_kw={"height_ratios": [2.2, 1]})
        steps = np.arange(self.steps)
        k = len(self.labels)
        every = max(1, self.steps // 8)
        for i, label in enumerate(self.labels):
            style = {"color": f"C{i % 10}", "ls": _LINESTYLES[i % len(_LINESTYLES)],
                     "marker": _MARKERS[i % len(_MARKERS)], "ms": 5, "mec": "k", "mew": 0.4,
                     "markevery": (int(i * every / max(k, 1)), every), "zorder": 3 + i}
            mean = np.nanmean(self.losses[i], axis=0)
            nd = int(self.stats[i].get("diverged", 0)) if i < len(self.stats) else 0
            text = label + (f" ({nd} diverged)" if nd else "")
            ax.plot(steps, mean, color=style["color"], alpha=0.2, lw=0.6, zorder=1)
            ax.plot(steps, moving_average(mean[None], smooth)[0], label=text, lw=1.7,
                    alpha=0.9, **style)
            ax_lr.plot(steps, self.lrs[i], lw=1.5, alpha=0.85, **style)
        ax.set_yscale("log")
        ax.set_ylabel(f"training loss (mean of {smooth})")
        ax.set_title(f"jaxlr compare: {self.task}, {self.optimizer}, {self.steps} steps x "
                     f"{self.seeds} seed(s)", fontsize=10)
        ax.legend(fontsize="small", loc="best")
        ax.grid(True, alpha=0.3)
        lrs = np.asarray(self.lrs, np.float64)
        pos = lrs[np.isfinite(lrs) & (lrs > 0)]
        if pos.size >= 2 and pos.max() / pos.min() > 10.0:
            ax_lr.set_yscale("log")
            ax_lr.set_ylim(bottom=max(pos.min(), pos.max() * 1e-6) / 1.5)
        ax_lr.set_ylabel("learning rate")
        ax_lr.set_xlabel("step")
        ax_lr.grid(True, alpha=0.3)
        if path is not None:
            save_figure(fig, Path(path))
        return fig


def compare_schedules(task: Any, schedules: Sequence[Any], labels: Sequence[str], *,
                      optimizer: str = "adam", steps: int, seeds: int = 1, seed: int = 0,
                      progress: Any = None) -> CompareResult:
    """Trains ``task`` with each schedule (see the module docstring)."""
    import jax
    import jax.numpy as jnp


    if hasattr(task, "train") and hasattr(task, "valid") and not hasattr(task, "apply"):
        # A user task (init, loss, data[, valid]).
        spec_task: Any = (task.init, task.loss, task.train, task.valid, task.metrics)
        spec_task = spec_task[:4] if task.metrics is None else spec_task
        if task.valid is None:
            spec_task = spec_task[:3]
    else:
        spec_task = task
    lrs, losses, stats = [], [], []
    space = jaxlr.grid({"seed": list(range(int(seeds)))})
    for sched, label in zip(schedules, labels):
        r = jaxlr.sweep_task(spec_task, space=space, schedule=lambda hp, s=sched: s,
                             optimizer=optimizer, steps=int(steps),
                             batch_size=task.batch_size, key=jax.random.key(seed))
        curve = np.asarray(r.curves["train_loss"], np.float64)
        lrs.append(np.asarray(_call(sched, jnp.arange(int(steps), dtype=jnp.int32))))
        losses.append(curve)
        st = curve_stats(curve)
        for k in ("valid_loss", "valid_accuracy"):
            if k in r.metrics:
                st[k] = float(np.nanmean(r.metrics[k]))
        st["diverged"] = int(np.sum(r.diverged))
        stats.append(st)
        if progress is not None:
            progress.step(f"{label}: final loss {st['final_loss']:.4g}")
    return CompareResult(labels=list(labels), lrs=np.stack(lrs), losses=np.stack(losses),
                         stats=stats, task=getattr(task, "name", "task"), optimizer=optimizer,
                         steps=int(steps), seeds=int(seeds))
