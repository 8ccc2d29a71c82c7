"""What ``fit`` records: :class:`History`."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxlr import plotting

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

    def plot(self, *, path: Any = None, **kwargs: Any):
        """Loss, validation metrics and learning rate against steps (see
        :func:`jaxlr.plotting.plot_history`); ``path=`` saves the figure (PNG/SVG/PDF) and
        closes it, e.g. ``history.plot(path="run/history.png")`` in a script."""
        return plotting.plot_history(self, path=path, **kwargs)

    # -- display (never prints arrays) -------------------------------------------------------

    def _final_and_best(self, values: Any, steps: Any, name: str):
        """``(final, final_step, best, best_step)`` over the finite values (or ``None``)."""
        v = np.asarray(values, np.float64).ravel()
        s = np.asarray(steps).ravel()
        ok = np.isfinite(v)
        if not ok.any() or s.shape != v.shape:
            return None
        last = int(np.flatnonzero(ok)[-1])
        maximise = any(t in name.lower() for t in ("acc", "auc", "f1", "score"))
        b = int(np.nanargmax(np.where(ok, v, -np.inf)) if maximise else
                np.nanargmin(np.where(ok, v, np.inf)))
        return float(v[last]), int(s[last]), float(v[b]), int(s[b])

    def _num_steps(self) -> int:
        return int(np.asarray(self.steps).shape[0])

    def summary(self) -> str:
        """A few lines for people (also ``str()``): steps run and why it stopped, final and
        best train loss and validation metrics with their steps, the learning-rate range,
        plateau reductions and the elapsed time. Steps count updates done (1-based)."""
        g = lambda v: f"{v:.4g}"  # noqa: E731
        n = self._num_steps()
        head = f"History: {n} steps, stopped: {self.stop_reason}"
        if self.resumed_from is not None:
            head += f" (resumed from step {self.resumed_from})"
        lines = [head + f", {self.elapsed:.3g} s"]
        if self.nonfinite_step is not None:
            lines.append(f"  non-finite loss/gradient at step {self.nonfinite_step + 1}; the "
                         "state returned is the one before it")
        steps = np.asarray(self.steps) + 1
        for name in ("loss",) + tuple(k for k in self.train if k not in (
                "loss", "lr", "finite", "grad_norm", "update_norm")):
            if name in self.train:
                fb = self._final_and_best(self.train[name], steps, name)
                if fb is not None:
                    lines.append(f"  train {name}: final {g(fb[0])} (step {fb[1]}), best "
                                 f"{g(fb[2])} (step {fb[3]})")
        for name, values in self.eval.items():
            fb = self._final_and_best(values, self.eval_steps, name)
            if fb is not None:
                lines.append(f"  {name}: final {g(fb[0])} (step {fb[1]}), best {g(fb[2])} "
                             f"(step {fb[3]})")
        if self.best_step is not None:
            lines.append(f"  best monitored evaluation at step {self.best_step}")
        lr = np.asarray(self.train.get("lr", np.zeros(0)), np.float64)
        lr = lr[np.isfinite(lr)]
        if lr.size:
            text = f"  learning rate: {g(lr.min())} .. {g(lr.max())}, final {g(lr[-1])}"
            nred = int(np.asarray(self.reductions).size)
            if nred:
                text += f"; {nred} plateau reduction(s)"
            lines.append(text)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        parts = [f"steps={self._num_steps()}", f"stop_reason={self.stop_reason!r}"]
        for name, values, steps in (("loss", self.train.get("loss"), self.steps),
                                    ("val_loss", self.eval.get("val_loss"), self.eval_steps)):
            if values is not None:
                fb = self._final_and_best(values, steps, name)
                if fb is not None:
                    parts.append(f"final_{name}={fb[0]:.4g}")
        parts.append(f"elapsed={self.elapsed:.3g}s")
        return f"History({', '.join(parts)})"
