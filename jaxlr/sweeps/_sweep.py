"""Vectorised hyperparameter sweeps: every trial of a group in one compiled program.

``sweep(train_fn, space, ...)`` samples (or enumerates) configurations, groups them by their
static entries (optimizer name, number of steps: anything that changes the program), and runs
each group as ``jax.vmap(train_fn)`` (chunked with ``lax.map`` when asked) with the trial axis
sharded over all devices (``Mesh(devices, ("trials",))``). Trials never interact, so each trial's
numbers are those of training that configuration alone, and a diverged trial changes no other.

``sweep_task(task, ...)`` builds the per-trial training function from a task (data, model, loss),
an optimizer name, a schedule builder and a number of steps, so the common sweeps need no glue;
it also runs k-fold cross-validation (vectorised over folds), successive halving, population
based training and Optuna searches over the same trainer.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from jaxlr.sweeps import _space as space_lib
from jaxlr.sweeps._config import check_sweep_config
from jaxlr.engine._data import batch_indices, check_dataset, take
from jaxlr.population._map import AXIS, _devices, _pad, population_map, tree_isfinite, tree_where
from jaxlr._utils._validation import check_choice, check_steps, fail
from jaxlr.sweeps._result import SweepResult, _default_mode, _pyval

__all__ = ["SweepResult", "sweep", "sweep_task", "task_train_fn", "sweep_from_config",
           "STRATEGIES"]

STRATEGIES = ("grid", "random", "halton", "sobol", "successive_halving", "pbt", "tpe", "gp",
              "cmaes")

# hyperparameter names that change the program structure in sweep_task (always static)
STRUCTURAL = ("optimizer", "schedule", "steps", "batch_size")


# ----------------------------------------------------------------------------------------------
# evaluation of trials: grouping by static structure, vmap / chunking / sharding


def _split_output(fn_name: str, out: Any) -> tuple[dict, dict]:
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
    metrics, curves = _split_output(fn_name, shapes)
    if not metrics:
        fail(fn_name, "`train_fn` returned no metrics; return a dict such as "
             "{'loss': scalar}.")
    for k, v in metrics.items():
        if not hasattr(v, "shape") or v.shape != ():
            shape = getattr(v, "shape", type(v).__name__)
            fail(fn_name, f"`train_fn` must return scalar metrics; metric {k!r} has shape "
                 f"{shape}.", hint="Reduce it (e.g. jnp.mean) or return per-step values under "
                 "the 'curves' key: {'loss': final, 'curves': {'loss': per_step}}.",
                 error=ValueError)
    for k, v in curves.items():
        if len(getattr(v, "shape", ())) != 1:
            fail(fn_name, f"curve {k!r} must be 1-D (one value per step); got shape "
                 f"{getattr(v, 'shape', None)}.")


def _trial_keys(fn_name: str, key: Any, n: int, seeds: str) -> jax.Array:
    check_choice(fn_name, "seeds", seeds, ("common", "independent"))
    if key is None:
        fail(fn_name, "`key` is required (randomness is explicit); got key=None.",
             hint="Pass key=jax.random.key(0).", error=TypeError)
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if seeds == "independent":
        return jax.random.split(key, n)
    return jnp.repeat(key[None], n, axis=0)


class Evaluator:
    """Runs a per-trial function over columns of hyperparameters, grouped by static entries.

    One jitted program per static group (reused across calls of the same width: batches of an
    Optuna search, repeated sweeps). Inside a group: ``vmap`` (or ``lax.map`` chunks of
    ``chunk_size``) with the trial axis sharded over ``devices``.
    """

    def __init__(self, fn_name: str, train_fn: Callable, static_names: Sequence[str], *,
                 chunk_size: int | None = None, devices: Any = None, data: Any = None):
        if not callable(train_fn):
            fail(fn_name, f"`train_fn` must be callable; got {train_fn!r}.", error=TypeError)
        if chunk_size is not None:
            check_steps(fn_name, chunk_size=chunk_size, minimum=1)
        self.fn_name = fn_name
        self.train_fn = train_fn
        self.static_names = tuple(static_names)
        self.data = data
        self.chunk_size = chunk_size
        self.devices = _devices(devices)
        self._programs: dict[Any, Callable] = {}
        self.num_programs = 0

    def _program(self, static: tuple, common: bool = False) -> Callable:
        if (static, common) not in self._programs:
            fixed = dict(zip(self.static_names, static))
            train_fn = self.train_fn

            def one(dyn, key, data=None):
                if data is None:
                    return train_fn({**dyn, **fixed}, key)
                return train_fn({**dyn, **fixed}, key, data)

            chunk = self.chunk_size

            fn_name = self.fn_name

            def run(dyn, keys, data):
                # data is a jit argument, not a closed-over constant: XLA constant-folds large
                # literals very slowly (tens of seconds for a 1 MB dataset under vmap)
                if common:  # one shared key, not batched: init and batches computed once
                    out = population_map(lambda d: one(d, keys, data), dyn, chunk_size=chunk,
                                         jit=False)
                else:
                    out = population_map(lambda d, k: one(d, k, data), dyn, keys,
                                         chunk_size=chunk, jit=False)
                # validated at trace time on the per-trial shapes (no extra trace of train_fn)
                _check_output_shapes(fn_name, jax.tree_util.tree_map(
                    lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), out))
                return out

            self._programs[(static, common)] = (one, jax.jit(run))
            self.num_programs += 1
        return self._programs[(static, common)]

    def __call__(self, columns: Mapping[str, Any], keys: jax.Array | None = None, *,
                 common_key: jax.Array | None = None) -> tuple[dict, dict]:
        """Returns (metrics name -> [N], curves name -> [N, T]) as numpy arrays.

        ``keys``: one PRNG key per trial; or ``common_key``: one key shared by every trial
        (common random numbers; computed once instead of once per trial).
        """
        names = list(columns)
        n = len(np.asarray(next(iter(columns.values())), dtype=object))
        dyn_names = [k for k in names if k not in self.static_names]
        if self.static_names:
            static_rows = list(zip(*[list(np.asarray(columns[k], dtype=object))
                                     for k in self.static_names]))
        else:
            static_rows = [()] * n
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(static_rows):
            groups.setdefault(tuple(_pyval(x) for x in s), []).append(i)
        metrics: dict[str, np.ndarray] = {}
        curves_parts: list[tuple[np.ndarray, dict]] = []
        for static, idx in groups.items():
            idx_arr = np.asarray(idx)
            dyn = {k: jnp.asarray(np.asarray(columns[k])[idx_arr]) for k in dyn_names}
            common = common_key is not None
            one, prog = self._program(static, common)
            if common:
                out = run_population(lambda d, data, k: prog(d, k, data), (dyn,), len(idx),
                                     self.chunk_size, self.devices, (self.data, common_key))
            else:
                out = self._run(prog, dyn, keys[idx_arr], len(idx))
            out = jax.tree_util.tree_map(np.asarray, out)
            m, c = _split_output(self.fn_name, out)
            for k, v in m.items():
                col = metrics.setdefault(k, np.full(n, np.nan, np.float64))
                col[idx_arr] = np.asarray(v, np.float64)
            curves_parts.append((idx_arr, {k: np.asarray(v) for k, v in c.items()}))
        curves: dict[str, np.ndarray] = {}
        for name in {k for _, c in curves_parts for k in c}:
            t = max(c[name].shape[1] for _, c in curves_parts if name in c)
            arr = np.full((n, t), np.nan, np.float64)
            for idx_arr, c in curves_parts:
                if name in c:
                    arr[idx_arr, :c[name].shape[1]] = c[name]
            curves[name] = arr
        return metrics, curves

    def _run(self, prog: Callable, dyn: dict, keys: jax.Array, n: int) -> Any:
        return run_population(prog, (dyn, keys), n, self.chunk_size, self.devices,
                              (self.data,))


def run_population(prog: Callable, args: tuple, n: int, chunk_size: int | None,
                   devices: Sequence[Any], consts: tuple = ()) -> Any:
    """Pads ``args`` (leading axis ``n``) for chunking / sharding, runs ``prog(*args,
    *consts)`` (``consts``: shared arguments such as the dataset, replicated), unpads."""
    target = n
    chunked = chunk_size is not None and chunk_size < n
    d = len(devices)
    if chunked:
        step = math.lcm(chunk_size, d) if d > 1 else chunk_size
        target = int(math.ceil(n / step) * step)
    elif d > 1:
        target = int(math.ceil(n / d) * d)
    args = _pad(args, n, target)
    if d > 1:
        mesh = jax.sharding.Mesh(np.asarray(devices), (AXIS,))
        args = jax.device_put(args, NamedSharding(mesh, PartitionSpec(AXIS)))
    out = prog(*args, *consts)
    return jax.tree_util.tree_map(lambda x: x[:n], out)


def static_names_of(space: Mapping[str, Any], extra: Sequence[str] = ()) -> list[str]:
    names = [k for k, v in space.items() if space_lib.is_static(v)]
    return names + [k for k in extra if k in space and k not in names]


def _columns(fn_name: str, space: Any, num_trials: int | None, key: jax.Array, method: str,
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
        return _columns(fn_name, g, None, key, method, grid_points)
    if num_trials is None:
        fail(fn_name, "`num_trials` is required for sampled spaces; got num_trials=None.",
             hint="Pass num_trials=16, or use jaxlr.grid(...) for a grid.", error=TypeError)
    if isinstance(num_trials, bool) or not isinstance(num_trials, (int, np.integer)):
        fail(fn_name, f"`num_trials` must be an int; got num_trials={num_trials!r}.",
             error=TypeError)
    if num_trials < 1:
        fail(fn_name, f"`num_trials` must be >= 1; got num_trials={num_trials!r}.")
    check_choice(fn_name, "method", method, ("random", "halton", "sobol", "grid"))
    cols = space_lib.sample(space, int(num_trials), key=key, method=method)
    cols = {k: (v if isinstance(v, np.ndarray) and v.dtype == object else np.asarray(v))
            for k, v in cols.items()}
    return cols, space_lib.describe(space), static_names_of(space)


def _pick_metric(fn_name: str, metrics: Mapping[str, Any], metric: str | None) -> str:
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
        fail(fn_name, f"unknown metric name metric={metric!r}; the trials return "
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


def sweep(train_fn: Callable[[dict, jax.Array], Any], space: Any, *,
          num_trials: int | None = None, key: jax.Array, method: str = "random",
          metric: str | None = None, mode: str | None = None, seeds: str = "common",
          chunk_size: int | None = None, devices: Any = None,
          grid_points: int | Mapping[str, int] | None = None, data: Any = None) -> SweepResult:
    """Runs ``train_fn`` on many configurations, vectorised in one program per static group.

    Args:
      train_fn: pure ``train_fn(hparams, key) -> metrics``: ``hparams`` maps each name of the
        space to a traced scalar (static entries arrive as Python values); ``metrics`` is a
        dict of scalars, optionally with ``"curves"``: a dict of 1-D per-step arrays, and
        ``"diverged"``: a bool flag. Build optimizers and schedules *inside* it from the
        traced values.
      space: a dict space (see :func:`jaxlr.loguniform` & co.), a :func:`jaxlr.grid`, or
        explicit trials ``jaxlr.Grid.from_columns({...})``.
      num_trials: configurations to sample (not for grids).
      key: PRNG key; sampling uses ``fold_in(key, 1)``, trials get ``key`` itself
        (``seeds="common"``: common random numbers, the same init and batches for every trial)
        or one split each (``seeds="independent"``). A ``"seed"`` hyperparameter can be swept.
      method: ``"random"``, ``"halton"``, ``"sobol"`` or ``"grid"`` (a dict space enumerated
        with ``grid_points`` per continuous dimension).
      metric, mode: the metric that ranks trials (default: ``valid_loss``/``loss``) and
        ``"min"``/``"max"`` (default ``"max"`` for accuracies, else ``"min"``).
      chunk_size: vmap at most this many trials at once (``lax.map``), to bound memory.
      devices: devices for the trial axis (default all; ``"none"``: the first only).
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
      >>> r = jaxlr.sweep(train_fn, jaxlr.grid({"lr": [0.01, 0.1, 0.4]}), key=jax.random.key(0))
      >>> r.best_config
      {'lr': 0.4000000059604645}
    """
    cols, desc, static = _columns("sweep", space, num_trials, jax.random.fold_in(key, 1)
                                  if key is not None else None, method, grid_points)
    n = len(next(iter(cols.values())))
    keys = _trial_keys("sweep", key, n, seeds)
    ev = Evaluator("sweep", train_fn, static, chunk_size=chunk_size, devices=devices, data=data)
    metrics, curves = ev(cols, keys) if seeds == "independent" else ev(cols, common_key=key)
    return _result("sweep", cols, desc, metrics, curves, metric, mode,
                   "grid" if isinstance(space, space_lib.Grid) or method == "grid" else method)


def _result(fn_name, cols, desc, metrics, curves, metric, mode, strategy, **kw) -> SweepResult:
    n = len(next(iter(cols.values())))
    metric = _pick_metric(fn_name, metrics, metric)
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


# ----------------------------------------------------------------------------------------------
# the built-in trainer behind sweep_task / cross-validation / successive halving / PBT


def _jaxlr_attr(module: str, name: str) -> Any:
    import importlib
    try:
        mod = importlib.import_module(f"jaxlr.{module}")
    except ImportError:  # pragma: no cover
        return None
    return getattr(mod, name, None) if name in getattr(mod, "__all__", dir(mod)) else None


_OPTAX_FALLBACK = {
    "sgd": lambda lr, **kw: optax.sgd(lr, **{k: kw[k] for k in ("momentum",) if k in kw}),
    "momentum": lambda lr, momentum=0.9, **kw: optax.sgd(lr, momentum=momentum),
    "adam": lambda lr, **kw: optax.adam(lr, **{k: kw[k] for k in ("b1", "b2", "eps")
                                                if k in kw}),
    "adamw": lambda lr, **kw: optax.adamw(lr, **{k: kw[k] for k in ("b1", "b2", "eps",
                                                                    "weight_decay") if k in kw}),
    "rmsprop": lambda lr, **kw: optax.rmsprop(lr, **{k: kw[k] for k in ("decay", "eps",
                                                                      "momentum") if k in kw}),
    "adagrad": lambda lr, **kw: optax.adagrad(lr, **{k: kw[k] for k in ("eps",) if k in kw}),
}
OPTIMIZERS = tuple(_OPTAX_FALLBACK)


def build_optimizer(name_or_fn: Any, hparams: Mapping[str, Any],
                    learning_rate: Any) -> optax.GradientTransformation:
    """The optimizer of one trial (built inside the traced trial function)."""
    if callable(name_or_fn) and not isinstance(name_or_fn, str):
        return name_or_fn(hparams, learning_rate)
    name = name_or_fn
    fn = _jaxlr_attr("optim", name)
    if fn is not None:
        sig = inspect.signature(fn)
        kw = {k: v for k, v in hparams.items() if k in sig.parameters and k != "learning_rate"}
        return fn(learning_rate, **kw)
    kw = {k: v for k, v in hparams.items() if k not in ("learning_rate",)}
    opt = _OPTAX_FALLBACK[name](learning_rate, **kw)
    if "weight_decay" in hparams and name != "adamw":
        opt = optax.chain(optax.add_decayed_weights(hparams["weight_decay"]), opt)
    return opt


def _lr_of(hparams: Mapping[str, Any]) -> Any:
    for k in ("learning_rate", "lr", "peak_value", "init_value"):
        if k in hparams:
            return hparams[k]
    return None


def _fallback_schedule(name: str, kw: dict) -> Callable:
    peak = kw.get("peak_value", kw.get("init_value"))
    if name == "constant":
        return lambda step: jnp.asarray(peak, jnp.float32) + 0.0 * step
    warm = kw.get("warmup_steps", 0)
    total = kw.get("total_steps", kw.get("decay_steps"))
    end = kw.get("end_value", 0.0)

    def sched(step):
        t = jnp.asarray(step, jnp.float32)
        w = jnp.asarray(warm, jnp.float32)
        tot = jnp.asarray(total, jnp.float32)
        warm_lr = peak * jnp.minimum(t / jnp.maximum(w, 1.0), 1.0)
        frac = jnp.clip((t - w) / jnp.maximum(tot - w, 1.0), 0.0, 1.0)
        cos_lr = end + (peak - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
        return jnp.where(t < w, warm_lr, cos_lr).astype(jnp.float32)

    return sched


def build_schedule(schedule: Any, hparams: Mapping[str, Any], steps: int) -> Any:
    """The learning rate (a scalar or a schedule) of one trial."""
    if schedule is None:
        return _lr_of(hparams)
    if callable(schedule) and not isinstance(schedule, str):
        return schedule(hparams)
    name = schedule
    fn = _jaxlr_attr("schedules", name)
    lr = _lr_of(hparams)
    defaults = {"peak_value": lr, "init_value": lr, "total_steps": steps, "decay_steps": steps}
    if fn is None:
        if name not in ("constant", "warmup_cosine", "cosine_decay"):
            fail("sweep_task", f"unknown schedule {name!r}.",
                 hint="Pass a function hparams -> schedule, or a jaxlr schedule builder name.")
        kw = {**defaults, **hparams}
        return _fallback_schedule(name, kw)
    sig = inspect.signature(fn)
    kw = {}
    for p in sig.parameters.values():
        if p.name in hparams:
            kw[p.name] = hparams[p.name]
        elif p.name in defaults and p.default is inspect.Parameter.empty:
            kw[p.name] = defaults[p.name]
        elif p.name in ("total_steps", "decay_steps") and p.name in defaults:
            kw[p.name] = defaults[p.name]
    return fn(**kw)


def resync_hyperparams(carried: Any, fresh: Any) -> Any:
    """Replaces the hyperparameters stored in jaxlr optimizer states of ``carried`` with those
    of ``fresh`` (a state just built from the current hparams), keeping counters and moments.

    jaxlr optimizers read their hyperparameters from the state; a carried state (successive
    halving rungs, PBT exploit/explore) must follow the trial's current hparams.
    """
    hyper = _jaxlr_attr("optim", "HyperState")
    if hyper is None:
        return carried
    is_h = lambda x: isinstance(x, hyper)  # noqa: E731
    fresh_h = [x for x in jax.tree_util.tree_leaves(fresh, is_leaf=is_h) if is_h(x)]
    if not fresh_h:
        return carried
    it = iter(fresh_h)
    return jax.tree_util.tree_map(
        lambda x: x._replace(hyperparams=next(it).hyperparams) if is_h(x) else x, carried,
        is_leaf=is_h)


class TrainCarry(NamedTuple):
    """Per-trial training state threaded through rungs / PBT intervals."""

    params: Any
    opt_state: Any
    step: jax.Array           # shape=(), int32
    diverged: jax.Array       # shape=(), bool
    diverged_step: jax.Array  # shape=(), int32 (-1 while finite)
    data_key: jax.Array       # PRNG key of the batch order


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Everything :func:`sweep_task` needs to train one configuration (host-side, static)."""

    init: Callable
    loss: Callable
    metrics: Callable | None
    train: Any
    valid: Any
    batch_size: int
    steps: int
    optimizer: Any = "adam"
    schedule: Any = None
    name: str = "task"

    # -- trainer pieces (all traceable; hparams may hold traced values + static python values)
    def steps_of(self, hparams: Mapping[str, Any]) -> int:
        return int(hparams.get("steps", self.steps))

    def make_optimizer(self, hparams: Mapping[str, Any]) -> optax.GradientTransformation:
        steps = self.steps_of(hparams)
        sched = build_schedule(hparams.get("schedule", self.schedule), hparams, steps)
        return build_optimizer(hparams.get("optimizer", self.optimizer), hparams, sched)

    def init_carry(self, hparams: Mapping[str, Any], key: jax.Array) -> TrainCarry:
        if "seed" in hparams:
            key = jax.random.fold_in(key, jnp.asarray(hparams["seed"], jnp.int32))
        k_init, k_data = jax.random.split(key)
        params = self.init(k_init)
        opt_state = self.make_optimizer(hparams).init(params)
        return TrainCarry(params, opt_state, jnp.array(0, jnp.int32), jnp.array(False),
                          jnp.array(-1, jnp.int32), k_data)

    def advance(self, carry: TrainCarry, hparams: Mapping[str, Any], num_steps: int,
                train_idx: jax.Array | None = None) -> tuple[TrainCarry, jax.Array]:
        """``num_steps`` optimizer updates (a ``lax.scan``); returns the batch losses."""
        opt = self.make_optimizer(hparams)
        carry = carry._replace(opt_state=resync_hyperparams(carry.opt_state,
                                                            opt.init(carry.params)))
        bs = int(hparams.get("batch_size", self.batch_size))
        n = int(train_idx.shape[0]) if train_idx is not None else \
            int(jax.tree_util.tree_leaves(self.train)[0].shape[0])
        grad_fn = jax.value_and_grad(self.loss)
        extra_args = isinstance(opt, optax.GradientTransformationExtraArgs)

        def body(c: TrainCarry, _):
            idx = batch_indices(c.data_key, c.step, n, bs)
            if train_idx is not None:
                idx = jnp.take(train_idx, idx)
            batch = take(self.train, idx)
            loss, grads = grad_fn(c.params, batch)
            if extra_args:  # the batch loss feeds metric-driven transforms (plateau)
                updates, new_opt = opt.update(grads, c.opt_state, c.params, value=loss)
            else:
                updates, new_opt = opt.update(grads, c.opt_state, c.params)
            new_params = optax.apply_updates(c.params, updates)
            finite = jnp.isfinite(loss) & tree_isfinite(new_params)
            newly = ~c.diverged & ~finite
            keep = ~c.diverged & finite
            params = tree_where(keep, new_params, c.params)
            opt_state = tree_where(keep, new_opt, c.opt_state)
            c = TrainCarry(params, opt_state, c.step + 1, c.diverged | newly,
                           jnp.where(newly, c.step, c.diverged_step), c.data_key)
            return c, loss.astype(jnp.float32)

        return jax.lax.scan(body, carry, None, length=num_steps)

    def evaluate(self, params: Any, data: Any) -> dict[str, jax.Array]:
        if self.metrics is not None:
            m = dict(self.metrics(params, data))
        else:
            m = {"loss": self.loss(params, data)}
        return {f"valid_{k}": jnp.asarray(v, jnp.float32) for k, v in m.items()}

    def train_fn(self, hparams: Mapping[str, Any], key: jax.Array,
                 train_idx: jax.Array | None = None, eval_data: Any = None) -> dict[str, Any]:
        """Trains one configuration from scratch and returns its metrics and loss curve."""
        steps = self.steps_of(hparams)
        carry = self.init_carry(hparams, key)
        carry, losses = self.advance(carry, hparams, steps, train_idx)
        n = int(train_idx.shape[0]) if train_idx is not None else \
            int(jax.tree_util.tree_leaves(self.train)[0].shape[0])
        window = max(1, min(steps, n // int(hparams.get("batch_size", self.batch_size))))
        out = {"train_loss": jnp.mean(losses[-window:])}
        eval_data = self.valid if eval_data is None else eval_data
        if eval_data is not None:
            out.update(self.evaluate(carry.params, eval_data))
        out["diverged"] = carry.diverged
        out["diverged_step"] = carry.diverged_step
        out["curves"] = {"train_loss": losses}
        return out


def data_of(spec: "TaskSpec") -> tuple:
    """The arrays of a spec, passed to compiled programs as arguments (see :func:`with_data`)."""
    return (spec.train, spec.valid)


def with_data(spec: "TaskSpec", data: tuple) -> "TaskSpec":
    """``spec`` with its arrays replaced (by the traced arguments of a compiled program)."""
    return dataclasses.replace(spec, train=data[0], valid=data[1])


def spec_train_fn(spec: "TaskSpec") -> Callable:
    """``train_fn(hparams, key, data)`` of a spec, for :class:`Evaluator` with
    ``data=data_of(spec)``."""
    return lambda hparams, key, data: with_data(spec, data).train_fn(hparams, key)


def resolve_task(fn_name: str, task: Any, *, optimizer: Any = "adam", schedule: Any = None,
                 steps: int | None = None, batch_size: int | None = None) -> TaskSpec:
    """A :class:`TaskSpec` from a Task, a task name, or ``(init, loss, train[, valid[,
    metrics]])``."""
    if isinstance(task, TaskSpec):
        return task
    if isinstance(task, str):
        from jaxlr.tasks._builtin import get_task
        task = get_task(task)
    name = "task"
    if hasattr(task, "init") and hasattr(task, "loss") and hasattr(task, "train"):
        init, loss, metrics = task.init, task.loss, task.metrics
        train = tuple(jnp.asarray(x) for x in task.train)
        valid = tuple(jnp.asarray(x) for x in task.valid) if task.valid is not None else None
        bs = batch_size or task.batch_size
        steps = steps if steps is not None else getattr(task, "steps", None)
        name = getattr(task, "name", name)
    elif isinstance(task, (tuple, list)) and 3 <= len(task) <= 5:
        init, loss, train = task[:3]
        valid = task[3] if len(task) > 3 else None
        metrics = task[4] if len(task) > 4 else None
        if not callable(init) or not callable(loss):
            fail(fn_name, "a task tuple is (init, loss, train_data[, valid_data[, metrics]]) "
                 "with init(key) -> params and loss(params, batch) -> scalar.", error=TypeError)
        train = jax.tree_util.tree_map(jnp.asarray, train)
        valid = None if valid is None else jax.tree_util.tree_map(jnp.asarray, valid)
        bs = batch_size
        if bs is None:
            fail(fn_name, "`batch_size` is required with an (init, loss, data) tuple.",
                 error=TypeError)
    else:
        fail(fn_name, f"`task` must be a jaxlr Task, a task name or a tuple (init, loss, "
             f"train_data[, valid_data[, metrics]]); got {type(task).__name__}.",
             error=TypeError)
    check_dataset(fn_name, train, bs)
    if steps is None:
        fail(fn_name, "`steps` is required (number of optimizer updates per trial).",
             error=TypeError)
    check_steps(fn_name, steps=steps, minimum=1)
    if isinstance(optimizer, str):
        check_choice(fn_name, "optimizer", optimizer, OPTIMIZERS)
    return TaskSpec(init=init, loss=loss, metrics=metrics, train=train, valid=valid,
                    batch_size=int(bs), steps=int(steps), optimizer=optimizer,
                    schedule=schedule, name=name)


def task_train_fn(task: Any, *, optimizer: Any = "adam", schedule: Any = None,
                  steps: int | None = None, batch_size: int | None = None,
                  folds: int | None = None, fold_key: jax.Array | None = None) -> Callable:
    """The per-trial function ``train_fn(hparams, key) -> metrics`` that :func:`sweep_task`
    vectorises; call it alone (jitted) to train one configuration with identical numbers.

    Args:
      task: a :class:`jaxlr.tasks.Task`, a task name (``"digits-mlp"``) or
        ``(init, loss, train_data[, valid_data[, metrics]])``.
      optimizer: an optimizer name (``"sgd"``, ``"momentum"``, ``"rmsprop"``, ``"adagrad"``,
        ``"adam"``, ``"adamw"``; its hyperparameters such as ``b1``, ``momentum``,
        ``weight_decay`` are taken from the trial's hparams) or a function
        ``(hparams, learning_rate) -> optax.GradientTransformation``. Transforms that accept
        extra arguments receive the batch loss as ``value=`` every step, so a plateau
        controller with a swept factor works: ``lambda hp, lr: optax.chain(jaxlr.adam(lr),
        jaxlr.plateau_transform(jaxlr.reduce_on_plateau(factor=hp["factor"])))``.
      schedule: ``None`` (constant ``learning_rate``), a function ``hparams -> schedule`` or a
        jaxlr schedule builder name (``"warmup_cosine"``; its arguments are filled from the
        hparams by name, ``peak_value``/``init_value`` from ``learning_rate`` and
        ``total_steps``/``decay_steps`` from ``steps``).
      steps: optimizer updates per trial (default: the task's).
      folds: k-fold cross-validation over the training split (see :func:`jaxlr.kfold`).
    """
    spec = resolve_task("task_train_fn", task, optimizer=optimizer, schedule=schedule,
                        steps=steps, batch_size=batch_size)
    if folds is None:
        return spec.train_fn
    from jaxlr.sweeps._cv import cv_train_fn
    fn, data = cv_train_fn(spec, folds, key=fold_key if fold_key is not None else
                           jax.random.key(0))
    return lambda hparams, key: fn(hparams, key, data)


def _check_space_for_task(fn_name: str, spec: TaskSpec, space: Any) -> None:
    names = set(space.columns) if isinstance(space, space_lib.Grid) else set(space)
    if spec.schedule is None and not callable(spec.optimizer) and _lr_of(
            {k: 0 for k in names}) is None:
        fail(fn_name, "the space has no 'learning_rate' and no schedule was given; got space "
             f"names {sorted(names)}.", hint="Add 'learning_rate': jaxlr.loguniform(1e-4, 1e-1) "
             "or pass schedule=.")
    if "optimizer" in names and isinstance(space, Mapping):
        v = space["optimizer"]
        vals = v.values if isinstance(v, space_lib.Choice) else [v]
        for o in vals:
            if isinstance(o, str):
                check_choice(fn_name, "optimizer", o, OPTIMIZERS)


def _force_static(space: Any) -> Any:
    if isinstance(space, space_lib.Grid) or not isinstance(space, Mapping):
        if isinstance(space, space_lib.Grid):
            cols = {k: (np.asarray(list(v), dtype=object) if k in STRUCTURAL else v)
                    for k, v in space.columns.items()}
            return space_lib.Grid(cols, space.space)
        return space
    out = {}
    for k, v in space.items():
        if k in STRUCTURAL and isinstance(v, space_lib.Choice) and not v.static:
            v = space_lib.Choice(v.values, static=True)
        out[k] = v
    return out


def sweep_task(task: Any, *, space: Any, key: jax.Array, optimizer: Any = "adam",
               schedule: Any = None, steps: int | None = None, batch_size: int | None = None,
               strategy: str = "random", num_trials: int | None = None,
               metric: str | None = None, mode: str | None = None, folds: int | None = None,
               seeds: str = "common", chunk_size: int | None = None, devices: Any = None,
               grid_points: int | Mapping[str, int] | None = None,
               options: Mapping[str, Any] | None = None) -> SweepResult:
    """Sweeps hyperparameters of a task's training run, batteries included.

    Builds the per-trial training function (:func:`task_train_fn`: init, optimizer, schedule,
    ``lax.scan`` over ``steps`` updates on on-device batches, divergence freezing, validation
    metrics) and runs it with the chosen strategy. Names ``optimizer``, ``schedule``, ``steps``
    and ``batch_size`` in the space are structural: trials are grouped by them.

    Args:
      task: a Task, a task name or ``(init, loss, train[, valid[, metrics]])``.
      space: dict space, grid, or explicit trials (see :func:`jaxlr.sweep`).
      key: PRNG key (sampling, init and batches; common random numbers by default).
      optimizer, schedule, steps, batch_size: see :func:`task_train_fn`.
      strategy: ``"random"``, ``"grid"``, ``"halton"``, ``"sobol"``, ``"successive_halving"``,
        ``"pbt"``, or an Optuna sampler ``"tpe"``, ``"gp"``, ``"cmaes"``.
      num_trials: trials (population size for PBT; initial trials for successive halving).
      metric, mode: ranking metric (default ``valid_loss``; ``valid_accuracy`` is maximised).
      folds: k-fold cross-validation over the training split, vectorised over folds; metrics
        are fold means with ``<metric>_stderr``.
      seeds: ``"common"`` (same init and batches for every trial) or ``"independent"``.
      chunk_size, devices: see :func:`jaxlr.sweep`.
      grid_points: points per continuous dimension for ``strategy="grid"``.
      options: strategy options (``successive_halving``: ``eta``, ``min_steps``; ``pbt``:
        ``interval``, ``quantile``, ``perturb``; Optuna: ``batch_size``, ``seed``).

    Returns:
      a :class:`SweepResult` (``.refit(key=...)`` retrains the best configuration on the whole
      training set).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> x = jnp.linspace(-1.0, 1.0, 40)[:, None]
      >>> task = (lambda key: {"w": jnp.zeros(1)},                           # init
      ...         lambda p, b: jnp.mean((b[0] @ p["w"] - 2.0 * b[1]) ** 2),  # loss
      ...         (x[:32], x[:32, 0]), (x[32:], x[32:, 0]))                 # train, valid
      >>> r = jaxlr.sweep_task(task, key=jax.random.key(0), batch_size=8, steps=20,
      ...                      space={"learning_rate": jaxlr.loguniform(1e-3, 1e-1)},
      ...                      num_trials=4)
      >>> len(r), r.metric, bool(r.best_config["learning_rate"] == r.hparams["learning_rate"].max())
      (4, 'valid_loss', True)

      With a built-in task: ``sweep_task(jaxlr.tasks.get_task("digits-mlp"), ...)``.
    """
    spec = resolve_task("sweep_task", task, optimizer=optimizer, schedule=schedule, steps=steps,
                        batch_size=batch_size)
    check_choice("sweep_task", "strategy", strategy, STRATEGIES)
    if isinstance(space, Mapping):
        space = space_lib._dims("sweep_task", space)
    _check_space_for_task("sweep_task", spec, space)
    space = _force_static(space)
    options = dict(options or {})
    if folds is not None and strategy in ("successive_halving", "pbt"):
        fail("sweep_task", f"folds={folds} is not supported with strategy={strategy!r}.",
             hint="Use cross-validation with grid/random/halton/sobol/optuna strategies.")
    if strategy in ("successive_halving", "pbt"):
        from jaxlr.sweeps import _strategies as sweep_strategies
        fn = (sweep_strategies.successive_halving if strategy == "successive_halving"
              else sweep_strategies.pbt)
        res = fn(spec, space, num_trials=num_trials, key=key, metric=metric, mode=mode,
                 chunk_size=chunk_size, devices=devices, **options)
        res.spec = spec
        return res
    if key is None:
        fail("sweep_task", "`key` is required; got key=None.", error=TypeError)
    train_fn, data = spec_train_fn(spec), data_of(spec)
    if folds is not None:
        from jaxlr.sweeps._cv import cv_train_fn
        train_fn, data = cv_train_fn(spec, folds, key=jax.random.fold_in(key, 2))
    if strategy in ("tpe", "gp", "cmaes"):
        from jaxlr.sweeps._optuna import optuna_search
        res = optuna_search(train_fn, space, num_trials=num_trials, key=key, sampler=strategy,
                            metric=metric, mode=mode, chunk_size=chunk_size, devices=devices,
                            static=STRUCTURAL, data=data, **options)
    else:
        if options:
            fail("sweep_task", f"strategy={strategy!r} takes no options; got {options!r}.")
        cols, desc, static = _columns("sweep_task", space, num_trials,
                                      jax.random.fold_in(key, 1), strategy, grid_points)
        n = len(next(iter(cols.values())))
        keys = _trial_keys("sweep_task", key, n, seeds)
        ev = Evaluator("sweep_task", train_fn, static, chunk_size=chunk_size, devices=devices,
                       data=data)
        metrics, curves = (ev(cols, keys) if seeds == "independent" else
                           ev(cols, common_key=key))
        res = _result("sweep_task", cols, desc, metrics, curves, metric, mode,
                      "grid" if isinstance(space, space_lib.Grid) else strategy)
    if folds is not None:
        fm = {k[len("fold_"):]: v for k, v in res.curves.items() if k.startswith("fold_")}
        res.curves = {k: v for k, v in res.curves.items() if not k.startswith("fold_")}
        res.fold_metrics = fm
    res.spec = spec
    return res


def sweep_from_config(config: Mapping[str, Any], *, key: jax.Array | None = None
                      ) -> SweepResult:
    """Runs :func:`sweep_task` from plain data (a parsed TOML/YAML file; used by the CLI).

    Keys: ``task`` (name, default ``"digits-mlp"``), ``space`` (see
    :func:`jaxlr.space_from_config`), ``strategy``, ``num_trials``, ``optimizer``, ``schedule``
    (a jaxlr schedule builder name), ``steps``, ``batch_size``, ``metric``, ``mode``, ``folds``,
    ``seeds``, ``chunk_size``, ``grid_points``, ``seed`` (used when ``key`` is None) and
    ``options`` (strategy options). Every key's kind and range is checked before any work
    starts (see :func:`jaxlr.sweeps._config.check_sweep_config`).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> x = jnp.linspace(-1.0, 1.0, 32)[:, None]
      >>> task = (lambda key: {"w": jnp.zeros(1)},
      ...         lambda p, b: jnp.mean((b[0] @ p["w"] - 2.0 * b[1]) ** 2), (x, x[:, 0]))
      >>> r = jaxlr.sweep_from_config({"task": task, "steps": 10, "batch_size": 8,
      ...     "num_trials": 4, "strategy": "sobol", "optimizer": "sgd",
      ...     "space": {"learning_rate": "loguniform(1e-3, 1e-1)"}})
      >>> len(r), r.metric
      (4, 'train_loss')
    """
    cfg = check_sweep_config(config, strategies=STRATEGIES, optimizers=OPTIMIZERS)
    seed = cfg.pop("seed", 0)
    if key is None:
        key = jax.random.key(seed)
    task = cfg.pop("task", "digits-mlp")
    return sweep_task(task, key=key, **cfg)
