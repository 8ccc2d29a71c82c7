"""Learning-rate finders: the range test and the parallel (vmap) finder, each one compiled program.

* :func:`lr_find` is Smith's range test (Smith 2017, §3.3): one short training run whose learning
  rate ramps from ``min_lr`` to ``max_lr``; the whole run is a single ``lax.scan``.
* :func:`parallel_lr_find` trains ``num_lrs`` candidate rates x ``num_seeds`` seeds independently
  for ``num_steps`` each, all in one compiled program (``vmap`` over candidates and seeds,
  ``lax.map`` chunks to bound memory, the candidate axis sharded over devices).

Both return a :class:`FinderResult` whose ``suggestion`` is the recommended learning rate.

A *lane* is one training run (one candidate and one seed). Each lane's loss is smoothed with a
debiased exponential moving average, and a lane whose loss is not finite, or whose smoothed loss
rises above ``best + (divergence_threshold - 1) * |best|`` (``best`` the lowest smoothed loss so
far; for positive losses this is fastai's and torch-lr-finder's ``smoothed > threshold * best``,
and it still means "rose well above the best" for negative losses), is *frozen*: its parameters
and optimizer state stop changing (``jnp.where``, no Python ``break``), its later losses are
recorded as NaN and its divergence step is kept. Lanes never interact, so a diverging lane never
changes another lane's numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlr.finder import _suggest as _suggest
from jaxlr.finder._result import FinderResult, estimate_lag, suggest_range
from jaxlr.population._map import AXIS, _devices, _pad, tree_where
from jaxlr._utils._validation import (check_choice, check_number, check_positive, check_steps,
                                   fail, is_traced)

__all__ = ["FinderResult", "lr_find", "parallel_lr_find", "suggest_range"]

Array = jax.Array


# --------------------------------------------------------------------------------------------
# Problem resolution: Task / init function / params pytree / flax nnx module.
# --------------------------------------------------------------------------------------------


class _PlainLoss:
    """``loss(params, aux, batch)`` for a plain ``loss_fn(params, batch)`` (hashable, stable)."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn

    def __call__(self, params, aux, batch):
        del aux
        return self.fn(params, batch)

    def __hash__(self):
        return hash((_PlainLoss, self.fn))

    def __eq__(self, other):
        return isinstance(other, _PlainLoss) and other.fn is self.fn


class _NnxLoss:
    """``loss(params, rest, batch)`` that merges an nnx module back and calls ``loss_fn``."""

    def __init__(self, fn: Callable[..., Any], graphdef: Any):
        self.fn, self.graphdef = fn, graphdef

    def __call__(self, params, rest, batch):
        from flax import nnx

        model = nnx.merge(self.graphdef, params, rest)
        return self.fn(model, batch)

    def __hash__(self):
        return hash((_NnxLoss, self.fn, self.graphdef))

    def __eq__(self, other):
        return (isinstance(other, _NnxLoss) and other.fn is self.fn
                and other.graphdef == self.graphdef)


@dataclasses.dataclass
class _Problem:
    loss: Any                    # loss(params, aux, batch) -> scalar
    params: Any                  # a pytree, or None when init is given
    init: Callable | None        # init(key) -> params
    aux: Any                     # non-trained state (nnx rest); None otherwise
    train: Any                   # pytree of device arrays, leading example axis
    valid: Any                   # same, or None
    batch_size: int
    num_examples: int
    description: str


def _is_task(obj: Any) -> bool:
    from jaxlr.tasks._builtin import Task

    return isinstance(obj, Task)


def _is_nnx(obj: Any) -> bool:
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover - flax is a dependency
        return False
    return isinstance(obj, nnx.Module)


def _is_linen(obj: Any) -> bool:
    try:
        import flax.linen as nn
    except ImportError:  # pragma: no cover - flax is a dependency
        return False
    return isinstance(obj, nn.Module)


def _as_device_tree(fn: str, name: str, data: Any) -> Any:
    try:
        return jax.tree_util.tree_map(jnp.asarray, data)
    except TypeError as e:
        fail(fn, f"`{name}` must be a pytree of arrays with a leading example axis; got "
             f"{type(data).__name__} ({e}).", error=TypeError)


def _resolve(fn: str, model: Any, loss_fn: Any, data: Any, valid_data: Any,
             batch_size: int | None) -> _Problem:
    """Turns the accepted input forms into one internal description."""
    from jaxlr.engine._data import check_dataset

    init = params = aux = None
    if _is_task(model):
        task = model
        loss = _PlainLoss(loss_fn if loss_fn is not None else task.loss)
        init = task.init
        data = task.train if data is None else data
        valid_data = task.valid if valid_data is None else valid_data
        batch_size = task.batch_size if batch_size is None else batch_size
        description = task.name
    else:
        if loss_fn is None or not callable(loss_fn):
            fail(fn, f"`loss_fn` must be a function loss_fn(params, batch) -> scalar; got "
                 f"loss_fn={loss_fn!r}.", hint="Pass a jaxlr Task as the first argument, or "
                 "(init_fn or params, loss_fn, data).", error=TypeError)
        if data is None:
            fail(fn, "`data` is required when the first argument is not a Task; pass a pytree "
                 "of arrays with a leading example axis, e.g. data=(x_train, y_train).",
                 error=TypeError)
        if _is_nnx(model):
            from flax import nnx

            graphdef, params, aux = nnx.split(model, nnx.Param, ...)
            loss = _NnxLoss(loss_fn, graphdef)
            description = type(model).__name__
        elif _is_linen(model):
            fail(fn, "a flax linen Module holds no parameters; pass its variables "
                 "(`module.init(key, x)`) or an init function `lambda key: module.init(key, x)` "
                 "and a loss_fn(variables, batch) that calls `module.apply`.", error=TypeError)
        elif callable(model):
            init = model
            loss = _PlainLoss(loss_fn)
            description = getattr(model, "__name__", type(model).__name__)
        else:
            params = model
            leaves = jax.tree_util.tree_leaves(params)
            if not leaves or not all(
                    hasattr(x, "dtype") or isinstance(x, (float, int)) for x in leaves):
                fail(fn, "`model` must be a Task, an init function init(key) -> params, a "
                     "pytree of parameter arrays or a flax nnx Module; got "
                     f"{type(model).__name__}.", error=TypeError)
            params = jax.tree_util.tree_map(jnp.asarray, params)
            loss = _PlainLoss(loss_fn)
            description = "params"
        if batch_size is None:
            batch_size = 64
    train = _as_device_tree(fn, "data", data)
    n = check_dataset(fn, train, batch_size)
    valid = None
    if valid_data is not None:
        valid = _as_device_tree(fn, "valid_data", valid_data)
        check_dataset(fn, valid, 1)
    return _Problem(loss, params, init, aux, train, valid, int(batch_size), n, description)


def _describe(obj: Any) -> str:
    if obj is None:
        return "none"
    if isinstance(obj, functools.partial):
        kw = ", ".join(f"{k}={v!r}" for k, v in obj.keywords.items())
        return f"{_describe(obj.func)}({kw})"
    mod = getattr(obj, "__module__", "") or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if name is None:
        return repr(obj)
    prefix = "jaxlr" if mod.startswith("jaxlr") else mod.split(".")[0]
    return f"{prefix}.{name}" if prefix else name


def _default_optimizer():
    from jaxlr.optim._optimizers import adam

    return adam


def _key(fn: str, key: Any) -> Array:
    if key is None:
        return jax.random.key(0)
    if isinstance(key, int) and not isinstance(key, bool):
        return jax.random.key(key)
    k = key if hasattr(key, "dtype") else np.asarray(key)
    if jnp.issubdtype(k.dtype, jax.dtypes.prng_key):
        return k
    if k.dtype == jnp.uint32 and k.shape == (2,):
        return jax.random.wrap_key_data(k)
    fail(fn, f"`key` must be a jax.random.key(...) (or an int seed); got key={key!r}.",
         error=TypeError)


# --------------------------------------------------------------------------------------------
# One lane: a training run inside lax.scan, with smoothing, divergence masking and evaluation.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Static:
    """Everything that shapes the compiled program (hashable: a jit static argument).

    Numeric values (rates, bounds, schedule leaves, smoothing, threshold, data) are traced
    arguments of the program instead, so new values never recompile.
    """

    loss: Any
    optimizer: Callable
    lr_mode: str                  # "ramp_exp" | "ramp_linear" | "peak"
    sched_def: Any                # treedef of a pytree schedule, or None
    sched_static: Any             # a non-pytree (plain function) schedule, or None
    peak_to_schedule: bool        # schedule is a function peak -> schedule
    warmup_steps: int
    num_steps: int
    batch_size: int
    num_examples: int
    eval_every: int
    has_valid: bool
    chunk_size: int | None
    crn: bool
    per_seed_init: bool
    init: Callable | None         # init(key) -> params, or None when params are given
    pregather: bool = False       # gather every batch before the scan (small data only)
    freeze: bool = True           # keep a stopped lane's params/state (False: let it run on)


# Gathering all mini-batches of a run before its scan (one gather instead of one per update)
# saves ~10% of a small model's step; above this size the per-update gather is kept.
_PREGATHER_BYTES = 32 * 2**20


def _nbytes(tree: Any, *, per_example: bool = False) -> int:
    """Bytes of the arrays (or shape structs) of ``tree``; per row of the leading axis."""
    return sum(int(np.prod(x.shape[1:] if per_example else x.shape)) * np.dtype(x.dtype).itemsize
               for x in jax.tree_util.tree_leaves(tree))


def _pregather(train: Any, num_examples: int) -> bool:
    """Whether ``num_examples`` gathered examples of ``train`` fit in :data:`_PREGATHER_BYTES`."""
    return num_examples * _nbytes(train, per_example=True) <= _PREGATHER_BYTES


def _batch_table(key: Array, num_steps: int, num_examples: int, batch_size: int) -> Array:
    """Rows of example indices for steps 0..num_steps-1 (``jaxlr.engine._data.batch_indices``)."""
    from jaxlr.engine._data import epoch_permutation

    per_epoch = num_examples // batch_size
    epochs = -(-num_steps // per_epoch)
    perms = jax.vmap(lambda e: epoch_permutation(key, e, num_examples))(
        jnp.arange(epochs, dtype=jnp.int32))
    rows = perms[:, : per_epoch * batch_size].reshape(epochs * per_epoch, batch_size)
    return rows[:num_steps]


# Cache blocking on CPUs: many candidates trained together are bound by memory traffic once
# their parameters and optimizer states no longer fit in the cache (every update reads and writes
# each of them several times). ``chunk_size="auto"`` vmaps chunks whose state fits in this many
# bytes, one chunk after another (``lax.map``): 256 Adam candidates of the digits MLP run at 28%
# of the matmul peak all at once and at 50% in chunks of 32 (2-core AMD EPYC, 32 MiB L3).
CPU_CHUNK_BYTES = 8 * 2**20


def _auto_chunk(prob: Any, opt: Callable, key: Array, num_seeds: int, num_candidates: int,
                devs: Sequence[jax.Device]) -> int | None:
    """The ``chunk_size="auto"`` choice: None (vmap every candidate) or equal chunks that fit."""
    if len(devs) > 1 or (devs[0] if devs else jax.devices()[0]).platform != "cpu":
        return None
    try:
        params = jax.eval_shape(prob.init, key) if prob.init is not None else prob.params
        state = jax.eval_shape(lambda p: opt(jnp.float32(1.0)).init(p), params)
    except (TypeError, ValueError):       # an unusual optimizer factory: no cache blocking
        return None

    per_candidate = num_seeds * (2 * _nbytes(params) + _nbytes(state))   # params, grads, state
    fit = max(CPU_CHUNK_BYTES // max(per_candidate, 1), 1)
    if fit >= num_candidates:
        return None
    chunks = -(-num_candidates // fit)
    return -(-num_candidates // chunks)            # equal chunks: no padded candidates


def _lr_fn(static: _Static, lr_args: Any, sched_leaves: Any):
    """The learning rate as a function of the update count (the optimizer's schedule)."""
    if static.lr_mode in ("ramp_exp", "ramp_linear"):
        lo, hi = lr_args
        denom = jnp.float32(max(static.num_steps - 1, 1))

        def ramp(count):
            frac = jnp.minimum(jnp.asarray(count, jnp.float32) / denom, jnp.float32(1.0))
            if static.lr_mode == "ramp_exp":
                return lo * jnp.exp(frac * jnp.log(hi / lo))
            return lo + frac * (hi - lo)

        return ramp
    peak = lr_args
    if static.sched_def is not None:
        sched = jax.tree_util.tree_unflatten(static.sched_def, sched_leaves)
    else:
        sched = static.sched_static
    if sched is None and static.warmup_steps == 0:
        return peak                                   # a traced scalar learning rate
    if sched is not None and static.peak_to_schedule:
        base = sched(peak)
        scaled = lambda count: jnp.asarray(base(count), jnp.float32)
    elif sched is not None:
        scaled = lambda count: peak * jnp.asarray(sched(count), jnp.float32)
    else:
        scaled = lambda count: peak
    if static.warmup_steps == 0:
        return scaled
    from jaxlr.schedules._builders import warmup

    return warmup(scaled, static.warmup_steps)


def _valid_loss(static: _Static, params: Any, aux: Any, valid: Any) -> Array:
    return jnp.asarray(static.loss(params, aux, valid), jnp.float32)


def _run_lane(static: _Static, lr_args: Any, sched_leaves: Any, params: Any, aux: Any,
              train: Any, table: Array, valid: Any, beta: Array, threshold: Array) -> dict:
    """One training run: ``num_steps`` updates on the batches listed in ``table``."""
    from jaxlr.engine._data import take

    lr = _lr_fn(static, lr_args, sched_leaves)
    opt = static.optimizer(lr)
    opt_state = opt.init(params)
    grad_fn = jax.value_and_grad(static.loss)
    f32 = jnp.float32
    nan = f32(jnp.nan)

    def step(carry, xs):
        params, opt_state, ema, best, diverged, div_step = carry
        k, rows = xs
        batch = rows if static.pregather else take(train, rows)
        loss, grads = grad_fn(params, aux, batch)
        loss = jnp.asarray(loss, f32)
        updates, new_opt_state = opt.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        new_ema = beta * ema + (1.0 - beta) * loss
        smooth = new_ema / (1.0 - jnp.power(beta, (k + 1).astype(f32)))
        new_best = jnp.where(k == 0, smooth, jnp.minimum(best, smooth))
        bad = ~jnp.isfinite(loss) | ~jnp.isfinite(smooth) | (
            smooth - new_best > (threshold - 1.0) * jnp.abs(new_best))
        stop = diverged | bad
        out = (jnp.where(diverged, nan, loss), jnp.where(diverged, nan, smooth))
        if static.freeze:
            new_params = tree_where(stop, params, new_params)
            new_opt_state = tree_where(stop, opt_state, new_opt_state)
        carry = (new_params, new_opt_state,
                 jnp.where(stop, ema, new_ema), jnp.where(stop, best, new_best), stop,
                 jnp.where(bad & ~diverged, k, div_step))
        return carry, out

    init = (params, opt_state, f32(0.0), f32(jnp.inf), jnp.array(False), jnp.int32(-1))
    steps = jnp.arange(static.num_steps, dtype=jnp.int32)
    rows = take(train, table) if static.pregather else table   # [T, batch, ...] or [T, batch]
    tmap = jax.tree_util.tree_map
    e = static.eval_every
    if static.has_valid and e:
        blocks = static.num_steps // e

        def block(carry, xs):
            carry, outs = jax.lax.scan(step, carry, xs)
            vl = _valid_loss(static, carry[0], aux, valid)
            return carry, (outs, jnp.where(carry[4], nan, vl))

        n = blocks * e
        xs = (steps[:n].reshape(blocks, e),
              tmap(lambda a: a[:n].reshape(blocks, e, *a.shape[1:]), rows))
        carry, (outs, vcurve) = jax.lax.scan(block, init, xs)
        outs = tmap(lambda a: a.reshape(n), outs)
        if static.num_steps > n:
            carry, tail = jax.lax.scan(step, carry, (steps[n:], tmap(lambda a: a[n:], rows)))
            outs = tmap(lambda a, b: jnp.concatenate([a, b]), outs, tail)
    else:
        carry, outs = jax.lax.scan(step, init, (steps, rows))
        vcurve = jnp.full((1,), nan)   # placeholder (lax.map chokes on zero-size outputs)
    params, _, ema, _, diverged, div_step = carry
    losses, smoothed = outs
    last = jnp.where(diverged, nan, smoothed[-1])
    result = {"losses": losses, "smoothed": smoothed, "final_loss": last,
              "diverged": diverged, "diverged_step": div_step, "valid_curve": vcurve}
    if static.has_valid:
        vl = _valid_loss(static, params, aux, valid)
        result["valid_loss"] = jnp.where(diverged, nan, vl)
    else:
        result["valid_loss"] = nan
    return result


# --------------------------------------------------------------------------------------------
# Whole programs (jitted once per static configuration).
# --------------------------------------------------------------------------------------------


def _parallel_program(static: _Static, peaks: Array, cand_keys: Array, seed_keys: Array,
                      init_keys: Array, params: Any, aux: Any, sched_leaves: Any, train: Any,
                      valid: Any, beta: Array, threshold: Array) -> dict:
    """All candidates x seeds. ``peaks``/``cand_keys`` carry the (sharded) candidate axis."""
    from jaxlr.population._map import population_map

    if static.init is not None:
        if static.per_seed_init:
            seed_params = jax.vmap(static.init)(init_keys)
            p_axis = 0
        else:
            seed_params = static.init(init_keys[0])
            p_axis = None
    else:
        seed_params, p_axis = params, None

    def tables_for(keys):
        return jax.vmap(lambda k: _batch_table(k, static.num_steps, static.num_examples,
                                               static.batch_size))(keys)

    shared_tables = tables_for(seed_keys) if static.crn else None

    def candidate(peak, ckeys):
        tables = shared_tables if static.crn else tables_for(ckeys)

        def seed_run(table, p):
            return _run_lane(static, peak, sched_leaves, p, aux, train, table, valid, beta,
                             threshold)

        return jax.vmap(seed_run, in_axes=(0, p_axis))(tables, seed_params)

    return population_map(candidate, peaks, cand_keys, chunk_size=static.chunk_size, jit=False)


_parallel_jit = jax.jit(_parallel_program, static_argnums=0)


def _ramp_lrs(static: _Static, lo: Array, hi: Array) -> Array:
    ramp = _lr_fn(static, (lo, hi), None)
    return jax.vmap(ramp)(jnp.arange(static.num_steps, dtype=jnp.int32))


def _range_program(static: _Static, lo: Array, hi: Array, key: Array, params: Any, aux: Any,
                   train: Any, valid: Any, beta: Array, threshold: Array) -> dict:
    # Key splitting, initialisation and the batch table are part of the compiled program: done
    # eagerly they cost more dispatch time than the whole run of a small model.
    k_init, k_data = jax.random.split(key)
    if static.init is not None:
        params = static.init(k_init)
    table = _batch_table(k_data, static.num_steps, static.num_examples, static.batch_size)
    out = _run_lane(static, (lo, hi), None, params, aux, train, table, valid, beta, threshold)
    out["lrs"] = _ramp_lrs(static, lo, hi)
    return out


_range_jit = jax.jit(_range_program, static_argnums=0)


# --------------------------------------------------------------------------------------------
# Public finders.
# --------------------------------------------------------------------------------------------


def _check_common(fn: str, *, min_lr, max_lr, num_steps, smoothing, divergence_threshold,
                  eval_every, has_valid, minimum_steps) -> None:
    check_positive(fn, min_lr=min_lr, max_lr=max_lr)
    if not is_traced(min_lr) and not is_traced(max_lr) and float(min_lr) >= float(max_lr):
        fail(fn, f"`min_lr` must be smaller than `max_lr`; got min_lr={min_lr!r}, "
             f"max_lr={max_lr!r}.", hint="Swap them, e.g. min_lr=1e-6, max_lr=1.0.")
    check_steps(fn, num_steps=num_steps, minimum=minimum_steps)
    check_number(fn, "smoothing", smoothing)
    if not 0.0 <= float(smoothing) < 1.0:
        fail(fn, f"`smoothing` (the EMA coefficient beta) must be in [0, 1); got "
             f"smoothing={smoothing!r}.", hint="Use 0 for no smoothing, 0.98 like fastai.")
    check_number(fn, "divergence_threshold", divergence_threshold)
    if not float(divergence_threshold) > 1.0:
        fail(fn, f"`divergence_threshold` must be > 1; got "
             f"divergence_threshold={divergence_threshold!r}.", hint="fastai uses 4, "
             "torch-lr-finder 5.")
    if eval_every is not None:
        check_steps(fn, eval_every=eval_every, minimum=1)
        if not has_valid:
            fail(fn, f"`eval_every={eval_every!r}` needs validation data: pass `valid_data` "
                 "(or a Task, which has a validation split).")


def _check_window(fn: str, smoothing: float, num_steps: int, fraction: float) -> None:
    if smoothing > 0:
        tau = 1.0 / (1.0 - float(smoothing))
        if tau > fraction * num_steps:
            fail(fn, f"`smoothing={smoothing!r}` averages over about {tau:.0f} steps, too long "
                 f"for num_steps={num_steps} (at most {fraction:g} x num_steps).",
                 hint=f"Run more steps or lower smoothing (e.g. "
                      f"smoothing={max(0.0, 1 - 1 / (fraction * num_steps)):.2f}).")


def _check_optimizer(fn: str, optimizer: Any) -> Callable:
    if optimizer is None:
        return _default_optimizer()
    if isinstance(optimizer, optax.GradientTransformation):
        fail(fn, "`optimizer` must be a factory learning_rate -> optax.GradientTransformation "
             "(the finder chooses the rate); got an already-built transformation.",
             hint="Pass jaxlr.adam, optax.sgd or functools.partial(jaxlr.momentum, "
                  "momentum=0.9).", error=TypeError)
    if not callable(optimizer):
        fail(fn, f"`optimizer` must be a factory learning_rate -> optax.GradientTransformation; "
             f"got optimizer={optimizer!r}.", error=TypeError)
    return optimizer


def _split_schedule(fn: str, schedule: Any, schedule_fn: Any):
    """(treedef, leaves, static callable, peak_to_schedule, description)."""
    if schedule is not None and schedule_fn is not None:
        fail(fn, "pass either `schedule` (a shape with peak 1) or `schedule_fn` "
             "(peak -> schedule), not both.")
    if schedule is None and schedule_fn is None:
        return None, (), None, False, "constant"
    obj = schedule if schedule is not None else schedule_fn
    name = "schedule" if schedule is not None else "schedule_fn"
    if not callable(obj):
        fail(fn, f"`{name}` must be callable; got {name}={obj!r}.", error=TypeError)
    leaves, treedef = jax.tree_util.tree_flatten(obj)
    desc = repr(obj) if hasattr(obj, "__dataclass_fields__") else _describe(obj)
    if leaves and all(isinstance(x, (jax.Array, np.ndarray, float, int, np.generic))
                      for x in leaves) and not (len(leaves) == 1 and leaves[0] is obj):
        leaves = tuple(jnp.asarray(x) for x in leaves)
        return treedef, leaves, None, schedule_fn is not None, desc
    return None, (), obj, schedule_fn is not None, desc


def parallel_lr_find(model: Any, loss_fn: Callable | None = None, data: Any = None, *,
                     valid_data: Any = None, min_lr: float = 1e-5, max_lr: float = 10.0,
                     num_lrs: int = 32, lrs: Any = None, num_seeds: int = 1,
                     num_steps: int = 100, batch_size: int | None = None,
                     optimizer: Callable | None = None, schedule: Any = None,
                     schedule_fn: Callable | None = None, warmup_steps: int = 0,
                     smoothing: float = 0.9, divergence_threshold: float = 4.0,
                     eval_every: int | None = None, common_random_numbers: bool = True,
                     per_seed_init: bool = False, chunk_size: int | str | None = "auto",
                     devices: Sequence[jax.Device] | str | None = None,
                     key: Any = None, target_steps: int | None = None) -> FinderResult:
    """Trains many candidate learning rates in parallel, in one compiled program.

    Every candidate rate is trained independently for ``num_steps`` updates from the same
    initial parameters (``per_seed_init=True``: one initialisation per seed), for each of
    ``num_seeds`` seeds. Within a seed all candidates see the same mini-batches (common random
    numbers), so differences between candidates are due to the rate alone; seeds differ in
    data order (and initialisation with ``per_seed_init``). The whole search is one
    ``jax.jit`` program: ``vmap`` over seeds and candidates, ``lax.map`` chunks of
    ``chunk_size`` candidates to bound memory, and the candidate axis sharded over ``devices``
    (``NamedSharding`` on a ``"trials"`` mesh) when there are several; results are the same
    either way. The candidate rates, bounds and schedule values are traced: another search
    with other values reuses the compiled program (pass the same ``loss_fn``/``optimizer``
    objects).

    Args:
      model: a :class:`jaxlr.tasks.Task` (then ``loss_fn``, ``data``, ``valid_data`` and
        ``batch_size`` default to the task's), an init function ``init(key) -> params``, a
        parameter pytree (e.g. flax linen ``variables``), or a ``flax.nnx.Module`` (its
        ``nnx.Param`` variables are trained; other state is held fixed).
      loss_fn: ``loss_fn(params, batch) -> scalar`` (for nnx: ``loss_fn(model, batch)``).
      data: training data, a pytree of arrays with a leading example axis, e.g. ``(x, y)``;
        ``loss_fn`` receives mini-batches of the same structure.
      valid_data: held-out data of the same structure; its loss is measured at the horizon
        (and every ``eval_every`` updates). The suggestion uses it when given.
      min_lr, max_lr: bounds of the ``num_lrs`` log-spaced candidates.
      num_lrs: number of candidate rates.
      lrs: explicit candidate rates (1-D, increasing); overrides the bounds.
      num_seeds: independent repetitions of every candidate (confidence bands, the
        one-standard-error rule).
      num_steps: updates per run (the horizon).
      batch_size: examples per update (default: the task's, else 64).
      optimizer: factory ``learning_rate -> optax.GradientTransformation`` (default
        :func:`jaxlr.adam`); ``optax.sgd``, ``functools.partial(jaxlr.momentum, momentum=0.9)``
        work too.
      schedule: the schedule *shape* with peak 1 (e.g. ``jaxlr.warmup_cosine(1.0, 10, 100)``
        or any ``step -> factor`` function); candidate ``lr`` uses ``lr * schedule(step)``. A
        jaxlr schedule is a pytree, so new shape values do not recompile.
      schedule_fn: alternatively a function ``peak -> schedule`` (e.g.
        ``lambda p: jaxlr.one_cycle(p, 100)``); called with the traced candidate rate.
      warmup_steps: linear warm-up inside each candidate run,
        ``jaxlr.warmup(candidate_schedule, warmup_steps)``: the rate ramps from 0 at update 0
        to the candidate's schedule, which then starts.
      smoothing: EMA coefficient ``beta`` of the smoothed training loss (0: none); about
        ``1 / (1 - beta)`` steps are averaged.
      divergence_threshold: a lane stops (frozen, flagged) when its smoothed loss exceeds
        ``best + (threshold - 1) * |best|`` or a loss is not finite.
      eval_every: also record the validation loss every this many updates.
      common_random_numbers: same batches for every candidate of a seed (default). ``False``
        gives every lane its own data order.
      per_seed_init: one initialisation per seed (needs an init function or a Task).
      chunk_size: evaluate at most this many candidates at once (``lax.map``); ``None``:
        all at once; ``"auto"`` (default): all at once on accelerators, and on a single CPU
        device chunks whose parameters, gradients and optimizer states fit in
        :data:`CPU_CHUNK_BYTES` (cache blocking: 256 Adam candidates of the digits MLP run
        1.5x faster in chunks of 32 than all at once, ``scripts/bench_finder.py``).
      devices: devices for the candidate axis (default all; ``"none"``: the first only).
      key: ``jax.random.key`` (or int seed) for initialisation and data order (default 0).
      target_steps: the number of updates of the training run the rate is for. When given,
        the default suggestion is the ``horizon`` rule (the best rate's drift along this run
        extrapolated to ``target_steps``; see :attr:`FinderResult.default_rule`) instead of
        ``best_final``, and with validation data ``eval_every`` defaults to
        ``num_steps // 10``.

    Returns:
      A :class:`FinderResult` (``method="parallel"``); ``result.suggestion`` is the
      recommended rate, ``result.plot()`` draws loss against rate with a band across seeds.

    Raises:
      ValueError: bad bounds, counts, smoothing window or data smaller than a batch.
      TypeError: wrong kinds of arguments.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> x = jax.random.normal(jax.random.key(1), (256, 4))
      >>> y = x @ jnp.array([1.0, -2.0, 0.5, 3.0])
      >>> loss = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
      >>> r = parallel_lr_find(jnp.zeros(4), loss, (x, y), min_lr=1e-3, max_lr=10.0,
      ...                      num_lrs=8, num_steps=50, batch_size=32, optimizer=optax.sgd)
      >>> r.final_losses.shape, bool(r.diverged[-1, 0])
      ((8, 1), True)
      >>> 0.01 < r.suggestion < 1.0
      True

    References:
      Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017 (the range test).
      Breiman et al., "Classification and Regression Trees", 1984 (the one-standard-error rule).
    """
    fn = "parallel_lr_find"
    prob = _resolve(fn, model, loss_fn, data, valid_data, batch_size)
    if target_steps is not None:
        check_steps(fn, target_steps=target_steps, minimum=1)
        if eval_every is None and prob.valid is not None:
            eval_every = max(int(num_steps) // 10, 1)
    _check_common(fn, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps, smoothing=smoothing,
                  divergence_threshold=divergence_threshold, eval_every=eval_every,
                  has_valid=prob.valid is not None, minimum_steps=1)
    _check_window(fn, smoothing, num_steps, 1.0)
    check_steps(fn, num_lrs=num_lrs, num_seeds=num_seeds, warmup_steps=warmup_steps, minimum=0)
    check_steps(fn, num_seeds=num_seeds, minimum=1)
    if isinstance(chunk_size, str):
        check_choice(fn, "chunk_size", chunk_size, ("auto",))
    elif chunk_size is not None:
        check_steps(fn, chunk_size=chunk_size, minimum=1)
    if lrs is not None:
        cand = np.asarray(lrs, np.float64).reshape(-1) if not is_traced(lrs) else None
        if cand is None:
            fail(fn, "`lrs` must be concrete (a list or array), not traced.", error=TypeError)
        if cand.size == 0 or np.any(~np.isfinite(cand)) or np.any(cand <= 0):
            fail(fn, f"`lrs` must be non-empty, finite and > 0; got lrs={lrs!r}.")
        if np.any(np.diff(cand) <= 0):
            fail(fn, f"`lrs` must be strictly increasing; got lrs={lrs!r}.",
                 hint="Pass np.sort(np.unique(lrs)).")
        peaks = jnp.asarray(cand, jnp.float32)
        lo, hi = float(cand[0]), float(cand[-1])
    else:
        check_steps(fn, num_lrs=num_lrs, minimum=1)
        lo, hi = float(min_lr), float(max_lr)
        peaks = jnp.exp(jnp.linspace(jnp.log(jnp.float32(lo)), jnp.log(jnp.float32(hi)),
                                     num_lrs, dtype=jnp.float32))
    if per_seed_init and prob.init is None:
        fail(fn, "`per_seed_init=True` needs an init function (or a Task) as `model`; got "
             "a parameter pytree.", hint="Pass init(key) -> params instead of params.")
    opt = _check_optimizer(fn, optimizer)
    sched_def, sched_leaves, sched_static, p2s, sched_desc = _split_schedule(
        fn, schedule, schedule_fn)
    key = _key(fn, key)
    k_init, k_data = jax.random.split(key)
    c = int(peaks.shape[0])
    s = int(num_seeds)
    seed_keys = jax.vmap(lambda i: jax.random.fold_in(k_data, i))(jnp.arange(s))
    init_keys = jax.vmap(lambda i: jax.random.fold_in(k_init, i))(jnp.arange(s)) if (
        per_seed_init) else k_init[None]
    cand_keys = jax.vmap(lambda ci: jax.vmap(lambda sk: jax.random.fold_in(sk, ci))(seed_keys))(
        jnp.arange(c))
    devs = _devices(devices)
    if chunk_size == "auto":
        chunk_size = _auto_chunk(prob, opt, k_init, s, c, devs)
    static = _Static(
        loss=prob.loss, optimizer=opt, lr_mode="peak", sched_def=sched_def,
        sched_static=sched_static, peak_to_schedule=p2s, warmup_steps=int(warmup_steps),
        num_steps=int(num_steps), batch_size=prob.batch_size, num_examples=prob.num_examples,
        eval_every=int(eval_every or 0), has_valid=prob.valid is not None,
        chunk_size=None if chunk_size is None or chunk_size >= c else int(chunk_size),
        crn=bool(common_random_numbers), per_seed_init=bool(per_seed_init), init=prob.init,
        pregather=bool(common_random_numbers) and _pregather(
            prob.train, s * int(num_steps) * prob.batch_size))
    beta = jnp.float32(smoothing)
    thr = jnp.float32(divergence_threshold)
    rest = (seed_keys, init_keys, prob.params, prob.aux, sched_leaves, prob.train, prob.valid,
            beta, thr)
    # Pad the candidate axis (with copies of candidate 0, dropped afterwards) so that every
    # vmapped block has the same width >= 2 whatever the number of candidates, chunks or
    # devices: XLA may pick other kernels for other widths (a width-1 batch is squeezed), and
    # equal widths keep a lane's numbers bit-identical when the others change.
    d = max(len(devs), 1)
    unit = d * (int(chunk_size) if chunk_size is not None and chunk_size < c else 1)
    target = max(int(math.ceil(c / unit) * unit), 2)
    args_c = _pad((peaks, cand_keys), c, target)
    if len(devs) > 1:
        from jax.sharding import NamedSharding, PartitionSpec

        mesh = jax.sharding.Mesh(np.asarray(devs), (AXIS,))
        args_c = jax.device_put(args_c, NamedSharding(mesh, PartitionSpec(AXIS)))
        rest = jax.device_put(rest, NamedSharding(mesh, PartitionSpec()))
    out = _parallel_jit(static, *args_c, *rest)
    out = jax.tree_util.tree_map(lambda a: np.asarray(a)[:c], out)
    has_valid = prob.valid is not None
    e = static.eval_every
    vsteps = (np.arange(1, num_steps // e + 1) * e) if (has_valid and e) else None
    return FinderResult(
        method="parallel", lrs=np.asarray(peaks, np.float64), losses=out["losses"],
        smoothed=out["smoothed"], final_losses=out["final_loss"],
        valid_losses=out["valid_loss"] if has_valid else None,
        valid_curve=out["valid_curve"] if (has_valid and e) else None, valid_steps=vsteps,
        diverged=out["diverged"], diverged_step=out["diverged_step"], effective_lrs=None,
        num_steps=int(num_steps), batch_size=prob.batch_size, optimizer=_describe(opt),
        schedule=sched_desc, smoothing=float(smoothing),
        divergence_threshold=float(divergence_threshold), min_lr=lo, max_lr=hi,
        step_mode=None, warmup_steps=int(warmup_steps), task=prob.description,
        target_steps=None if target_steps is None else int(target_steps))


def lr_find(model: Any, loss_fn: Callable | None = None, data: Any = None, *,
            valid_data: Any = None, min_lr: float = 1e-7, max_lr: float = 10.0,
            num_steps: int = 100, step_mode: str = "exp", batch_size: int | None = None,
            optimizer: Callable | None = None, smoothing: float = 0.98,
            divergence_threshold: float = 4.0, eval_every: int | None = None,
            key: Any = None) -> FinderResult:
    """Smith's learning-rate range test as one compiled ``lax.scan``.

    One training run whose rate grows from ``min_lr`` to ``max_lr`` over ``num_steps``
    updates, exponentially (``step_mode="exp"``: ``lr_k = min_lr (max_lr/min_lr)^(k/(T-1))``,
    fastai's and torch-lr-finder's default) or linearly. The loss of every update is smoothed
    by a debiased EMA (fastai's ``beta=0.98``; 0 disables it); divergence (a non-finite loss,
    or the smoothed loss above ``best + (threshold - 1)|best|``) freezes the run and ends the
    recording (the rest is NaN) without leaving the compiled program. With ``valid_data`` and
    ``eval_every`` the validation loss is measured every ``eval_every`` updates (Smith's
    recommendation; the seeds' "monitor the validation loss").

    Nothing is modified: the caller's parameters are inputs of a pure function.

    **Smoothing lag.** The smoothed loss at update ``k`` averages the losses of updates
    ``k - j`` with weights ``beta**j`` (``j = 0..k``): the mean age of its inputs is
    ``lag_k = sum j beta^j / sum beta^j`` updates, about ``k/2`` early on and at most
    ``beta/(1-beta)`` (49 updates for ``beta=0.98``). On the exponential ramp ``d`` updates of
    delay are ``d * log10(max_lr/min_lr)/(T-1)`` decades of rate: with fastai's defaults
    (1e-7..10 in 100 updates, 0.081 decades per update) the nominal lag reaches 2-4 decades.
    The features the rules use (the onset and bottom of the descent) are sharp and are delayed
    far less: the delay this run actually shows, ``lag_steps``, is measured by aligning the
    smoothed with the raw curve (:func:`estimate_lag`; typically 2-7 updates, 0.2-0.6 decades),
    and the suggestions read the smoothed curve at ``effective_lrs = lrs[k - lag_steps]``.
    ``result.suggest(rule, lag_correction=False)`` reads it at the applied rate, as fastai and
    torch-lr-finder do.

    Args:
      model, loss_fn, data, valid_data, batch_size, optimizer, key: as in
        :func:`parallel_lr_find`.
      min_lr, max_lr: rates of the first and last update.
      num_steps: length of the ramp (>= 10).
      step_mode: ``"exp"`` or ``"linear"``.
      smoothing: EMA coefficient (0 <= beta < 1); ``1/(1 - beta)`` must not exceed half of
        ``num_steps``.
      divergence_threshold: see above (fastai 4, torch-lr-finder 5).
      eval_every: measure the validation loss every this many updates.

    Returns:
      A :class:`FinderResult` (``method="range_test"``) whose ``suggestion`` uses the
      ``steepest`` rule on the lag-corrected curve (see :attr:`FinderResult.default_rule`).

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> x = jax.random.normal(jax.random.key(1), (256, 4))
      >>> y = x @ jnp.array([1.0, -2.0, 0.5, 3.0])
      >>> loss = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
      >>> r = lr_find(jnp.zeros(4), loss, (x, y), min_lr=1e-4, max_lr=10.0, num_steps=100,
      ...             batch_size=32, optimizer=optax.sgd)
      >>> bool(r.diverged), r.lrs.shape
      (True, (100,))
      >>> 1e-3 < r.suggestion < 1.0
      True

    References:
      Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.
    """
    fn = "lr_find"
    prob = _resolve(fn, model, loss_fn, data, valid_data, batch_size)
    _check_common(fn, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps, smoothing=smoothing,
                  divergence_threshold=divergence_threshold, eval_every=eval_every,
                  has_valid=prob.valid is not None and eval_every is not None, minimum_steps=10)
    _check_window(fn, smoothing, num_steps, 0.5)
    check_choice(fn, "step_mode", step_mode, ("exp", "linear"))
    opt = _check_optimizer(fn, optimizer)
    key = _key(fn, key)
    has_valid = prob.valid is not None and eval_every is not None
    static = _Static(
        loss=prob.loss, optimizer=opt, lr_mode="ramp_" + step_mode, sched_def=None,
        sched_static=None, peak_to_schedule=False, warmup_steps=0, num_steps=int(num_steps),
        batch_size=prob.batch_size, num_examples=prob.num_examples,
        eval_every=int(eval_every or 0), has_valid=has_valid, chunk_size=None, crn=True,
        per_seed_init=False, init=prob.init,
        pregather=_pregather(prob.train, int(num_steps) * prob.batch_size),
        # one lane whose parameters are not returned: after divergence every output is masked,
        # so the run may go on unfrozen (saves a select over params and state per update)
        freeze=False)
    out = _range_jit(static, jnp.float32(min_lr), jnp.float32(max_lr), key,
                     None if prob.init is not None else prob.params, prob.aux, prob.train,
                     prob.valid if has_valid else None, jnp.float32(smoothing),
                     jnp.float32(divergence_threshold))
    out = jax.tree_util.tree_map(np.asarray, out)
    lrs = out["lrs"].astype(np.float64)
    lag = estimate_lag(out["losses"], out["smoothed"], float(smoothing))
    frac = (np.arange(num_steps) - lag) / max(num_steps - 1, 1)
    if step_mode == "exp":
        eff = float(min_lr) * (float(max_lr) / float(min_lr)) ** frac
    else:
        eff = float(min_lr) + frac * (float(max_lr) - float(min_lr))
    eff[:lag] = np.nan                       # before the first aligned point
    vsteps = np.arange(1, num_steps // eval_every + 1) * eval_every if has_valid else None
    return FinderResult(
        method="range_test", lrs=lrs, losses=out["losses"], smoothed=out["smoothed"],
        final_losses=out["final_loss"], valid_losses=out["valid_curve"] if has_valid else None,
        valid_curve=None, valid_steps=vsteps, diverged=out["diverged"],
        diverged_step=out["diverged_step"], effective_lrs=eff, num_steps=int(num_steps),
        batch_size=prob.batch_size, optimizer=_describe(opt), schedule=f"{step_mode} ramp",
        smoothing=float(smoothing), divergence_threshold=float(divergence_threshold),
        min_lr=float(min_lr), max_lr=float(max_lr), step_mode=step_mode, warmup_steps=0,
        task=prob.description, lag_steps=lag)
