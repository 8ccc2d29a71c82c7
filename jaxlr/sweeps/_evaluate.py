"""Vectorised evaluation of many configurations: every trial of a static group in one program.

``sweep(train_fn, space, ...)`` samples (or enumerates) configurations, groups them by their
static entries (an optimizer name, a number of steps: anything that changes the program), and runs
each group as the population layer's lanes (vmap, equal chunks, the trial axis sharded over the
mesh's ``"trials"`` axis). Trials never interact: a trial's numbers are those of training that
configuration alone (to float32 rounding across vmap widths, see :mod:`jaxlr.population`), and a
diverged trial changes no other.

Compiled programs are cached on the *structure* (the per-trial function compared by value, the
static entries, the layout), never on the evaluator object: a repeated sweep with freshly built
but equal functions reuses them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np

from jaxlr import engine, population
from jaxlr._utils._static import ByValue, value_key
from jaxlr._utils._validation import check_choice, check_steps, fail, shorten
from jaxlr.sweeps import _space as space_lib
from jaxlr.sweeps._result import SweepResult, _default_mode, _pyval

__all__ = ["Evaluator", "sweep", "trial_keys", "columns", "pick_metric", "make_result",
           "split_output", "static_names_of"]


def split_output(fn_name: str, out: Any) -> tuple[dict, dict]:
    """(metrics, curves) of one trial's output ``{"metric": scalar, ..., "curves": {...}}``."""
    if not isinstance(out, Mapping):
        out = {"objective": out}
    metrics, curves = {}, {}
    for k, v in out.items():
        if k == "curves":
            if not isinstance(v, Mapping):
                fail(fn_name, f"`train_fn` returned curves={type(v).__name__}; it must be a dict "
                     "of name -> 1-D array.", error=TypeError)
            curves.update(v)
        else:
            metrics[k] = v
    return metrics, curves


def _check_output_shapes(fn_name: str, shapes: Any) -> None:
    metrics, curves = split_output(fn_name, shapes)
    if not metrics:
        fail(fn_name, "`train_fn` returned no metrics; return a dict such as "
             "{'loss': scalar}.")
    for k, v in metrics.items():
        if not hasattr(v, "shape") or v.shape != ():
            shape = getattr(v, "shape", type(v).__name__)
            fail(fn_name, f"`train_fn` must return scalar metrics; metric {k!r} has shape "
                 f"{shape}.", hint="Reduce it (e.g. jnp.mean) or return per-step values under "
                 "the 'curves' key: {'loss': final, 'curves': {'loss': per_step}}.")
    for k, v in curves.items():
        if len(getattr(v, "shape", ())) != 1:
            fail(fn_name, f"curve {k!r} must be 1-D (one value per step); got shape "
                 f"{getattr(v, 'shape', None)}.")


def trial_keys(fn_name: str, key: Any, n: int, seeds: str) -> tuple[jax.Array, bool]:
    """``(keys, common)``: one key shared by every trial (``"common"``) or one each."""
    check_choice(fn_name, "seeds", seeds, ("common", "independent"))
    key = engine.as_key(fn_name, key)
    if seeds == "independent":
        return jax.random.split(key, n), False
    return key, True


@dataclasses.dataclass(frozen=True, eq=False)
class _Group(ByValue):
    """The static structure of one group's program (compared by value)."""

    fn_name: str
    train_fn: Callable[..., Any]
    fixed: tuple[tuple[str, Any], ...]       # the group's static entries
    with_data: bool
    common: bool
    layout: population.Layout

    def __jaxlr_value_key__(self) -> Any:
        return (self.fn_name, self.train_fn, self.fixed, self.with_data, self.common,
                self.layout)



def _group_program(g: _Group, dyn: dict, keys: jax.Array, data: Any) -> Any:
    fixed = dict(g.fixed)

    def one(member, keys, data):
        d = member[0]
        k = keys if g.common else member[1]
        hp = {**d, **fixed}
        return g.train_fn(hp, k, data) if g.with_data else g.train_fn(hp, k)

    members = (dyn,) if g.common else (dyn, keys)
    out = population.lanes(one, members, (keys, data), lay=g.layout)
    # validated at trace time on the per-trial shapes (no extra trace of train_fn)
    _check_output_shapes(g.fn_name, jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), out))
    return out


_group_jit = jax.jit(_group_program, static_argnums=0)


class Evaluator:
    """Runs a per-trial function over columns of hyperparameters, grouped by static entries.

    Args:
      fn_name: the entry point (for messages).
      train_fn: ``train_fn(hparams, key[, data]) -> metrics``.
      static_names: hyperparameters whose values change the program (grouped).
      chunk_size: trials vmapped at once (equal chunks).
      mesh: see :func:`jaxlr.population.resolve_mesh`.
      data: a pytree passed to ``train_fn`` as its third argument (replicated).
    """

    def __init__(self, fn_name: str, train_fn: Callable, static_names: Sequence[str], *,
                 chunk_size: int | None = None, mesh: Any = None, data: Any = None):
        if not callable(train_fn):
            fail(fn_name, f"`train_fn` must be callable; got {shorten(train_fn)}.",
                 error=TypeError)
        if chunk_size is not None:
            check_steps(fn_name, chunk_size=chunk_size, minimum=1)
        self.fn_name = fn_name
        self.train_fn = train_fn
        self.static_names = tuple(static_names)
        self.data = data
        self.chunk_size = chunk_size
        self.mesh = mesh
        self.groups_run: list[tuple] = []

    @property
    def num_programs(self) -> int:
        """Distinct static groups this evaluator ran (one program each, per group width)."""
        return len({value_key((g.fixed, g.common)) for g in self.groups_run})

    def __call__(self, cols: Mapping[str, Any], keys: jax.Array,
                 common: bool) -> tuple[dict, dict]:
        """``(metrics name -> [N], curves name -> [N, T])`` as numpy arrays.

        ``keys``: one PRNG key per trial, or (``common``) one key shared by every trial
        (common random numbers: init and batches computed once for the group).
        """
        names = list(cols)
        n = len(np.asarray(next(iter(cols.values())), dtype=object))
        dyn_names = [k for k in names if k not in self.static_names]
        if self.static_names:
            rows = list(zip(*[list(np.asarray(cols[k], dtype=object))
                              for k in self.static_names]))
        else:
            rows = [()] * n
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(rows):
            groups.setdefault(tuple(_pyval(x) for x in s), []).append(i)
        metrics: dict[str, np.ndarray] = {}
        parts: list[tuple[np.ndarray, dict]] = []
        for static, idx in groups.items():
            idx_arr = np.asarray(idx)
            lay = population.layout(self.fn_name, len(idx), chunk_size=self.chunk_size,
                                    mesh=self.mesh)
            g = _Group(self.fn_name, self.train_fn, tuple(zip(self.static_names, static)),
                       self.data is not None, common, lay)
            self.groups_run.append(g)
            dyn = {k: np.asarray(cols[k])[idx_arr] for k in dyn_names}
            k_in = keys if common else keys[idx_arr]
            members = population.pad((dyn,) if common else (dyn, k_in), lay)
            members, shared = population.place(members, (k_in if common else None,
                                                         self.data), lay)
            out = _group_jit(g, members[0], shared[0] if common else members[1], shared[1])
            out = population.unpad(population.to_host(out), lay)
            m, c = split_output(self.fn_name, out)
            for k, v in m.items():
                col = metrics.setdefault(k, np.full(n, np.nan, np.float64))
                col[idx_arr] = np.asarray(v, np.float64)
            parts.append((idx_arr, {k: np.asarray(v) for k, v in c.items()}))
        curves: dict[str, np.ndarray] = {}
        for name in {k for _, c in parts for k in c}:
            t = max(c[name].shape[1] for _, c in parts if name in c)
            arr = np.full((n, t), np.nan, np.float64)
            for idx_arr, c in parts:
                if name in c:
                    arr[idx_arr, :c[name].shape[1]] = c[name]
            curves[name] = arr
        return metrics, curves


def static_names_of(space: Mapping[str, Any], extra: Sequence[str] = ()) -> list[str]:
    names = [k for k, v in space.items() if space_lib.is_static(v)]
    return names + [k for k in extra if k in space and k not in names]


def columns(fn_name: str, space: Any, num_trials: int | None, key: jax.Array, method: str,
            grid_points: int | Mapping[str, int] | None):
    """(columns, description, static names) of the trials to run."""
    if isinstance(space, space_lib.Grid):
        if num_trials is not None and num_trials != len(space):
            fail(fn_name, f"a grid has {len(space)} trials; got num_trials={num_trials}.",
                 hint="Leave num_trials unset for a grid.")
        static = [k for k, v in space.columns.items() if np.asarray(v).dtype == object]
        return dict(space.columns), dict(space.space), static
    space = space_lib._dims(fn_name, space)
    if method == "grid":
        g = space_lib.grid(space, num=grid_points)
        if num_trials is not None and num_trials != len(g):
            fail(fn_name, f"the grid has {len(g)} trials; got num_trials={num_trials}.",
                 hint="Leave num_trials unset for a grid.")
        return columns(fn_name, g, None, key, method, grid_points)
    if num_trials is None:
        fail(fn_name, "`num_trials` is required for sampled spaces; got num_trials=None.",
             hint="Pass num_trials=16, or use jaxlr.grid(...) for a grid.", error=TypeError)
    if isinstance(num_trials, bool) or not isinstance(num_trials, (int, np.integer)):
        fail(fn_name, f"`num_trials` must be an int; got num_trials={shorten(num_trials)}.",
             error=TypeError)
    if num_trials < 1:
        fail(fn_name, f"`num_trials` must be >= 1; got num_trials={num_trials!r}.")
    check_choice(fn_name, "method", method, ("random", "halton", "sobol", "grid"))
    cols = space_lib.sample(space, int(num_trials), key=key, method=method)
    cols = {k: (v if isinstance(v, np.ndarray) and v.dtype == object else np.asarray(v))
            for k, v in cols.items()}
    return cols, space_lib.describe(space), static_names_of(space)


def pick_metric(fn_name: str, metrics: Mapping[str, Any], metric: str | None) -> str:
    metrics = {k: v for k, v in metrics.items() if k not in ("diverged", "diverged_step")}
    if metric is None:
        for cand in ("valid_loss", "loss", "objective"):
            if cand in metrics:
                return cand
        if len(metrics) == 1:
            return next(iter(metrics))
        fail(fn_name, f"several metrics were returned ({', '.join(sorted(metrics))}); say "
             "which one ranks the trials.", hint="Pass metric='...'.")
    if metric not in metrics:
        fail(fn_name, f"unknown metric name metric={shorten(metric)}; the trials return "
             f"{', '.join(sorted(metrics))}.")
    return metric


def _diverged(metrics: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    div = np.zeros(n, bool)
    if "diverged" in metrics:
        div |= np.asarray(metrics["diverged"]) > 0
    for k, v in metrics.items():
        if k not in ("diverged", "diverged_step"):
            div |= ~np.isfinite(np.asarray(v, np.float64))
    return div


def make_result(fn_name, cols, desc, metrics, curves, metric, mode, strategy,
                **kw) -> SweepResult:
    n = len(next(iter(cols.values())))
    metric = pick_metric(fn_name, metrics, metric)
    mode = _default_mode(metric) if mode is None else mode
    check_choice(fn_name, "mode", mode, ("min", "max"))
    div = _diverged(metrics, n)
    metrics = dict(metrics)
    metrics.pop("diverged", None)
    extra = dict(kw.pop("extra", {}))
    if "diverged_step" in metrics:
        extra["diverged_step"] = metrics.pop("diverged_step").astype(np.int64)
    hp = {k: (np.asarray(v) if np.asarray(v).dtype != object else np.asarray(v, dtype=object))
          for k, v in cols.items()}
    return SweepResult(hparams=hp, metrics=metrics, curves=curves, diverged=div, metric=metric,
                       mode=mode, space=desc, strategy=strategy, extra=extra, **kw)


def sweep(train_fn: Callable[[dict, jax.Array], Any], space: Any, *,
          num_trials: int | None = None, key: Any, method: str = "random",
          metric: str | None = None, mode: str | None = None, seeds: str = "common",
          chunk_size: int | None = None, mesh: Any = None, devices: Any = None,
          grid_points: int | Mapping[str, int] | None = None, data: Any = None) -> SweepResult:
    """Runs ``train_fn`` on many configurations, vectorised in one program per static group.

    For the batteries-included sweep of a task's training run (the training kernel, every
    ``fit`` feature) use :func:`jaxlr.sweep_task`; ``sweep`` vectorises any pure function.

    Args:
      train_fn: pure ``train_fn(hparams, key) -> metrics``: ``hparams`` maps each name of the
        space to a traced scalar (static entries arrive as Python values); ``metrics`` is a
        dict of scalars, optionally with ``"curves"``: a dict of 1-D per-step arrays, and
        ``"diverged"``: a bool flag. Build optimizers and schedules *inside* it from the
        traced values.
      space: a dict space (see :func:`jaxlr.loguniform` & co.), a :func:`jaxlr.grid`, or
        explicit trials ``jaxlr.Grid.from_columns({...})``.
      num_trials: configurations to sample (not for grids).
      key: PRNG key or int seed (required); sampling uses ``fold_in(key, 1)``, trials get
        ``key`` itself (``seeds="common"``: common random numbers, the same init and batches
        for every trial) or one split each (``seeds="independent"``). A ``"seed"``
        hyperparameter can be swept.
      method: ``"random"``, ``"halton"``, ``"sobol"`` or ``"grid"`` (a dict space enumerated
        with ``grid_points`` per continuous dimension).
      metric, mode: the metric that ranks trials (default: ``valid_loss``/``loss``) and
        ``"min"``/``"max"`` (default ``"max"`` for accuracies, else ``"min"``).
      chunk_size: vmap at most this many trials at once (equal chunks), to bound memory.
      mesh: see :func:`jaxlr.population.resolve_mesh` (default: every device along
        ``"trials"``). ``devices``: the older form (a list of devices, or ``"none"``).
      grid_points: points per continuous dimension for ``method="grid"``.
      data: optional pytree (a dataset) passed as ``train_fn(hparams, key, data)``. Pass large
        arrays this way rather than closing over them: closed-over arrays become constants of
        the compiled program, which XLA compiles very slowly.

    Returns:
      a :class:`SweepResult`.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> def train_fn(hp, key):
      ...     x = jax.lax.fori_loop(0, 20, lambda i, x: x - hp["lr"] * 2 * x, jnp.float32(1.0))
      ...     return {"loss": x * x}
      >>> r = jaxlr.sweep(train_fn, jaxlr.grid({"lr": [0.01, 0.1, 0.4]}), key=0)
      >>> r.best_config
      {'lr': 0.4000000059604645}
    """
    fn = "sweep"
    key = engine.as_key(fn, key)
    mesh = population.resolve_mesh(fn, mesh, devices)
    cols, desc, static = columns(fn, space, num_trials, jax.random.fold_in(key, 1), method,
                                 grid_points)
    n = len(next(iter(cols.values())))
    keys, common = trial_keys(fn, key, n, seeds)
    ev = Evaluator(fn, train_fn, static, chunk_size=chunk_size, mesh=mesh, data=data)
    metrics, curves = ev(cols, keys, common)
    return make_result(fn, cols, desc, metrics, curves, metric, mode,
                       "grid" if isinstance(space, space_lib.Grid) or method == "grid"
                       else method)
