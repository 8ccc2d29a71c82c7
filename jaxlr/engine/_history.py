"""What ``fit`` records: :class:`History`."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

@dataclasses.dataclass
class History:
    """What ``fit`` recorded (plain numpy arrays; JSON-exportable with :meth:`to_dict`).

    Attributes:
      steps: int array [num_steps]; the (0-based) index of each recorded train step.
      train: name -> array [num_steps] of per-step train metrics (``loss``, ``lr``,
        ``grad_norm``, ``update_norm``, ``finite`` and any aux metrics).
      eval_steps: int array [num_evals]; number of train steps done at each evaluation.
      eval: name -> array [num_evals] (``val_loss``, ``val_accuracy``, ...).
      eval_time: float array [num_evals]; seconds since the start of ``fit`` (its ``clock``).
      reductions: int array; ``eval_steps`` at which the plateau controller reduced the rate.
      lr_scale: float array [num_evals]; the plateau scale after each evaluation (1 without).
      stop_reason: ``"completed"``, ``"nonfinite"``, ``"early_stopping"``, ``"time_budget"``
        or ``"data_exhausted"``.
      nonfinite_step: index of the step whose loss/gradient was not finite (else ``None``);
        the returned state is the one before it.
      best_step: ``eval_steps`` value of the best monitored evaluation (early stopping).
      resumed_from: step restored from a checkpoint (else ``None``).
      elapsed: total seconds of the run (its ``clock``).
      task: a short description of the problem (plot titles).
    """

    steps: np.ndarray
    train: dict[str, np.ndarray]
    eval_steps: np.ndarray
    eval: dict[str, np.ndarray]
    eval_time: np.ndarray
    reductions: np.ndarray
    lr_scale: np.ndarray
    stop_reason: str = "completed"
    nonfinite_step: int | None = None
    best_step: int | None = None
    resumed_from: int | None = None
    elapsed: float = 0.0
    task: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (lists of Python numbers)."""

        def conv(x):
            if isinstance(x, dict):
                return {k: conv(v) for k, v in x.items()}
            if isinstance(x, np.ndarray):
                return x.tolist()
            return x

        return {f.name: conv(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def plot(self, **kwargs: Any):
        """Loss, validation metrics and learning rate against steps (``jaxlr.plotting``)."""
        from jaxlr.plotting._train import plot_history  # noqa: PLC0415

        return plot_history(self, **kwargs)


