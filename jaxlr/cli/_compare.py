"""``jaxlr compare``: train one task with several learning-rate schedules, one figure.

Each schedule is trained for ``steps`` updates on ``seeds`` seeds (vectorised: one compiled
program per schedule, via :func:`jaxlr.sweep_task` over a ``seed`` grid; the seeds change the
initialisation and the batch order). Host only.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np


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

    def plot(self, *, smooth: int = 15):
        """Two panels: training loss (moving average, mean over seeds; raw faintly) and rate."""
        from jaxlr.cli._common import pyplot

        plt = pyplot()
        fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                        gridspec_kw={"height_ratios": [2.2, 1]})
        steps = np.arange(self.steps)
        for i, label in enumerate(self.labels):
            mean = np.nanmean(self.losses[i], axis=0)
            (line,) = ax.plot(steps, moving_average(mean[None], smooth)[0], label=label, lw=1.6)
            ax.plot(steps, mean, color=line.get_color(), alpha=0.25, lw=0.6)
            ax_lr.plot(steps, self.lrs[i], color=line.get_color(), lw=1.4)
        ax.set_yscale("log")
        ax.set_ylabel("training loss")
        ax.set_title(f"{self.task}: {self.optimizer}, {self.seeds} seed(s)")
        ax.legend(fontsize="small")
        ax.grid(True, alpha=0.3)
        ax_lr.set_ylabel("learning rate")
        ax_lr.set_xlabel("step")
        ax_lr.grid(True, alpha=0.3)
        fig.tight_layout()
        return fig


def compare_schedules(task: Any, schedules: Sequence[Any], labels: Sequence[str], *,
                      optimizer: str = "adam", steps: int, seeds: int = 1, seed: int = 0,
                      progress: Any = None) -> CompareResult:
    """Trains ``task`` with each schedule (see the module docstring)."""
    import jax
    import jax.numpy as jnp

    import jaxlr
    from jaxlr.schedules._config import _evaluate

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
        lrs.append(np.asarray(_evaluate(sched, jnp.arange(int(steps), dtype=jnp.int32))))
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
