"""What a sweep returns: :class:`SweepResult` (tables, JSON/CSV/pandas export, plots, refit)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np

from jaxlr import plotting
from jaxlr._utils._validation import check_choice, fail, shorten

# ----------------------------------------------------------------------------------------------
# results


def _default_mode(metric: str) -> str:
    m = metric.lower()
    return "max" if ("acc" in m or "auc" in m or "f1" in m or "score" in m) else "min"


def _pyval(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


@dataclasses.dataclass
class SweepResult:
    """Hyperparameters, metrics, curves and divergence flags of every trial of a sweep.

    Attributes:
      hparams: name -> array ``[num_trials]`` (numpy; static entries are object arrays).
      metrics: name -> float array ``[num_trials]`` (final metrics; with cross-validation the
        mean over folds, and ``<name>_stderr`` the standard error).
      curves: name -> array ``[num_trials, T]`` (per-step training loss, ...; NaN-padded when
        groups have different lengths).
      diverged: bool ``[num_trials]``: the trial produced a non-finite loss or parameters (its
        state was frozen at the last finite values; it is never selected).
      metric: the metric used to rank trials; ``mode``: ``"min"`` or ``"max"``.
      space: description of each hyperparameter (kind, bounds, ``log`` axis) for plots.
      fold_metrics: with cross-validation, name -> ``[num_trials, folds]``.
      strategy: how the trials were chosen (``"random"``, ``"grid"``, ``"pbt"``, ...).
      extra: strategy-specific data (successive-halving rungs, the PBT schedule, ...).
    """

    hparams: dict
    metrics: dict
    curves: dict
    diverged: np.ndarray
    metric: str
    mode: str = "min"
    space: dict = dataclasses.field(default_factory=dict)
    fold_metrics: dict | None = None
    strategy: str = "random"
    extra: dict = dataclasses.field(default_factory=dict)
    spec: Any = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.metric not in self.metrics:
            fail("SweepResult", f"unknown metric name {shorten(self.metric)}; the metrics are "
                 f"{', '.join(sorted(self.metrics))}.")
        check_choice("SweepResult", "mode", self.mode, ("min", "max"))

    def __len__(self) -> int:
        return int(self.diverged.shape[0])

    # ---- selection
    def scores(self, metric: str | None = None) -> np.ndarray:
        """Metric per trial, +inf (min) / -inf (max) for diverged or non-finite trials."""
        metric = self._metric(metric)
        v = np.asarray(self.metrics[metric], np.float64).copy()
        bad = self.diverged | ~np.isfinite(v)
        if "eligible" in self.extra:  # successive halving: only the final rung
            bad = bad | ~np.asarray(self.extra["eligible"], bool)
        v[bad] = np.inf if self.mode == "min" else -np.inf
        return v

    def _metric(self, metric: str | None) -> str:
        metric = self.metric if metric is None else metric
        if metric not in self.metrics:
            fail("SweepResult", f"unknown metric name {shorten(metric)}; the metrics are "
                 f"{', '.join(sorted(self.metrics))}.")
        return metric

    def select(self, rule: str = "best", *, prefer: str | Callable | None = None,
               prefer_mode: str = "max") -> int:
        """Index of the selected trial.

        Args:
          rule: ``"best"`` (best metric) or ``"one_se"``: among trials whose mean is within one
            standard error of the best (needs ``<metric>_stderr``, i.e. cross-validation), the
            one preferred by ``prefer`` (Breiman et al. 1984; Hastie et al., ESL 7.10).
          prefer: the hyperparameter that orders trials from simplest/most regularised (e.g.
            ``"weight_decay"``), or a function ``record -> sort key`` (smaller is preferred).
          prefer_mode: with a name, ``"max"`` prefers the largest value, ``"min"`` the smallest.
        """
        check_choice("SweepResult.select", "rule", rule, ("best", "one_se"))
        s = self.scores()
        if not np.isfinite(s).any():
            fail("SweepResult.select", "every trial diverged or has a non-finite "
                 f"{shorten(self.metric)}; nothing can be selected.",
                 hint="Lower the learning-rate range.")
        sign = 1.0 if self.mode == "min" else -1.0
        best = int(np.argmin(sign * s))
        if rule == "best":
            return best
        se_name = f"{self.metric}_stderr"
        if se_name not in self.metrics:
            fail("SweepResult.select", f"rule='one_se' needs standard errors ({shorten(se_name)}); "
                 "this sweep has none.", hint="Run it with folds=k (cross-validation).")
        if prefer is None:
            fail("SweepResult.select", "rule='one_se' needs `prefer`: which hyperparameter "
                 "makes a configuration simpler; got prefer=None.",
                 hint="e.g. prefer='weight_decay' (prefer_mode='max').")
        check_choice("SweepResult.select", "prefer_mode", prefer_mode, ("min", "max"))
        threshold = s[best] + sign * float(self.metrics[se_name][best])
        ok = np.flatnonzero(sign * s <= sign * threshold)
        records = self.records()
        if callable(prefer):
            keyf = lambda i: prefer(records[i])  # noqa: E731
        else:
            if prefer not in self.hparams:
                fail("SweepResult.select", f"unknown hyperparameter prefer={shorten(prefer)}; the "
                     f"hyperparameters are {', '.join(self.hparams)}.")
            col = np.asarray(self.hparams[prefer], np.float64)
            keyf = (lambda i: -col[i]) if prefer_mode == "max" else (lambda i: col[i])  # noqa
        return int(min(ok, key=lambda i: (keyf(i), sign * s[i])))

    @property
    def best_index(self) -> int:
        """Index of the best non-diverged trial by ``metric``."""
        return self.select("best")

    def config(self, index: int) -> dict[str, Any]:
        """The hyperparameters of trial ``index`` as plain Python values."""
        return {k: _pyval(np.asarray(v)[index]) for k, v in self.hparams.items()}

    @property
    def best_config(self) -> dict[str, Any]:
        """Hyperparameters of the best trial (plain Python values)."""
        return self.config(self.best_index)

    @property
    def best_metrics(self) -> dict[str, float]:
        i = self.best_index
        return {k: float(v[i]) for k, v in self.metrics.items()}

    # ---- tables and export
    def records(self) -> list[dict[str, Any]]:
        """One dict per trial: ``trial``, hyperparameters, metrics, ``diverged``."""
        out = []
        for i in range(len(self)):
            r = {"trial": i}
            r.update(self.config(i))
            r.update({k: float(v[i]) for k, v in self.metrics.items()})
            r["diverged"] = bool(self.diverged[i])
            out.append(r)
        return out

    def to_pandas(self):
        """The records as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("SweepResult.to_pandas needs pandas (`pip install pandas`); "
                              "use .records() or .to_csv() without it.") from e
        return pd.DataFrame(self.records())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (curves included)."""
        return {
            "strategy": self.strategy, "metric": self.metric, "mode": self.mode,
            "space": self.space,
            "hparams": {k: [_pyval(x) for x in np.asarray(v).tolist()]
                        for k, v in self.hparams.items()},
            "metrics": {k: _nan_list(v) for k, v in self.metrics.items()},
            "curves": {k: [_nan_list(r) for r in np.asarray(v)] for k, v in self.curves.items()},
            "diverged": np.asarray(self.diverged).tolist(),
            "fold_metrics": None if self.fold_metrics is None else {
                k: [_nan_list(r) for r in np.asarray(v)] for k, v in self.fold_metrics.items()},
            "extra": _json_tree(self.extra),
            "best_index": self.best_index if np.isfinite(self.scores()).any() else None,
        }

    def to_json(self, path: str | None = None) -> str:
        """Writes (if ``path``) and returns the JSON text of :meth:`to_dict`."""
        text = json.dumps(self.to_dict())
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str) -> "SweepResult":
        """Reads a result written by :meth:`to_json` (a path or the JSON text)."""
        text = text_or_path
        if not text_or_path.lstrip().startswith("{"):
            with open(text_or_path) as f:
                text = f.read()
        d = json.loads(text)
        arr = lambda v: np.asarray([np.nan if x is None else x for x in v], np.float64)  # noqa
        hp = {}
        for k, v in d["hparams"].items():
            a = np.asarray(v)
            hp[k] = np.asarray(v, dtype=object) if a.dtype.kind in "OUS" else a
        return cls(
            hparams=hp, metrics={k: arr(v) for k, v in d["metrics"].items()},
            curves={k: np.asarray([arr(r) for r in v]) for k, v in d["curves"].items()},
            diverged=np.asarray(d["diverged"], bool), metric=d["metric"], mode=d["mode"],
            space=d["space"], strategy=d["strategy"], extra=d.get("extra", {}),
            fold_metrics=None if d.get("fold_metrics") is None else {
                k: np.asarray([arr(r) for r in v]) for k, v in d["fold_metrics"].items()})

    def to_csv(self, path: str | None = None) -> str:
        """Writes (if ``path``) and returns the records as CSV text."""
        recs = self.records()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(recs[0]))
        w.writeheader()
        w.writerows(recs)
        if path is not None:
            with open(path, "w", newline="") as f:
                f.write(buf.getvalue())
        return buf.getvalue()

    def table(self, top: int | None = 10, metrics: Sequence[str] | None = None) -> str:
        """A plain-text table of the ``top`` trials, best first (``diverged``: yes/no)."""
        order = np.argsort(self.scores() * (1 if self.mode == "min" else -1), kind="stable")
        if top is not None:
            order = order[:top]
        mnames = list(metrics) if metrics is not None else list(self.metrics)
        cols = ["trial"] + list(self.hparams) + mnames + ["diverged"]
        rows = []
        for i in order:
            r = [str(i)]
            for k in self.hparams:
                v = np.asarray(self.hparams[k])[i]
                r.append(f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v))
            r += [f"{float(self.metrics[m][i]):.4f}" for m in mnames]
            r.append("yes" if self.diverged[i] else "no")
            rows.append(r)
        widths = [max(len(c), *(len(r[j]) for r in rows)) if rows else len(c)
                  for j, c in enumerate(cols)]
        fmt = lambda r: "  ".join(x.rjust(w) for x, w in zip(r, widths))  # noqa: E731
        return "\n".join([fmt(cols), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])

    def summary(self, top: int = 5) -> str:
        """A few lines for people (also ``str()``): strategy, trials, metric and mode, the best
        configuration and its score, the diverged count, then the :meth:`table` of the ``top``
        best trials (``top=0``: no table)."""
        nd = int(np.asarray(self.diverged, bool).sum())
        lines = [(f"SweepResult - {self.strategy} sweep: {len(self)} trials, ranked by "
                  f"{self.metric} ({self.mode}), {nd} diverged")]
        if np.isfinite(self.scores()).any():
            i = self.best_index
            cfg = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in self.config(i).items())
            lines.append(f"  best: trial {i}, {self.metric} "
                         f"{float(self.metrics[self.metric][i]):.4g} ({cfg})")
        else:
            lines.append("  best: none (every trial diverged or has a non-finite "
                         f"{self.metric})")
        if top:
            lines += ["", self.table(top=top)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        nd = int(np.asarray(self.diverged, bool).sum())
        text = (f"SweepResult(strategy={self.strategy!r}, trials={len(self)}, "
                f"metric={self.metric!r}, mode={self.mode!r}")
        if np.isfinite(self.scores()).any():
            i = self.best_index
            text += f", best={float(self.metrics[self.metric][i]):.4g} (trial {i})"
        return text + f", diverged={nd})"

    # ---- plots and refit
    def plot(self, kind: str = "metric", *, path: Any = None, **kwargs):
        """Plots via :mod:`jaxlr.plotting`: ``kind`` in ``"metric"`` (metric vs each
        hyperparameter), ``"heatmap"`` (two hyperparameters), ``"curves"`` (per-step curves,
        best trials labelled), ``"pbt"``. ``path=`` saves the figure (PNG/SVG/PDF) and closes
        it; the Figure is returned either way."""
        fns = {"metric": plotting.plot_sweep, "heatmap": plotting.plot_sweep_heatmap,
               "curves": plotting.plot_sweep_curves, "pbt": plotting.plot_pbt_schedule}
        check_choice("SweepResult.plot", "kind", kind, tuple(fns))
        return fns[kind](self, path=path, **kwargs)

    def refit(self, config: Mapping[str, Any] | int | None = None, *, key: Any,
              steps: int | None = None):
        """Retrains a configuration (default: the best) on the whole training set.

        Only for results of :func:`sweep_task`; see :func:`jaxlr.refit`.
        """
        if self.spec is None:
            fail("SweepResult.refit", "this result has no task attached (it came from "
                 "jaxlr.sweep with a custom train_fn).", hint="Use jaxlr.sweep_task, or "
                 "retrain the configuration with your own function.")
        if config is None:
            config = self.best_config
        elif isinstance(config, (int, np.integer)):
            config = self.config(int(config))
        return self.spec.refit(config, key=key, steps=steps)


def _nan_list(v: Any) -> list:
    a = np.asarray(v, np.float64)
    return [None if not np.isfinite(x) else float(x) for x in a.ravel()]


def _json_tree(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _json_tree(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_tree(v) for v in x]
    if isinstance(x, (np.ndarray, jax.Array)):
        a = np.asarray(x)
        if a.dtype.kind == "f":
            return np.where(np.isfinite(a), a, np.nan).tolist() if a.ndim else (
                float(a) if np.isfinite(a) else None)
        return a.tolist()
    return _pyval(x)


