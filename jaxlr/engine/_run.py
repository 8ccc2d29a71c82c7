"""THE training kernel: ``N`` updates of one run as one ``lax.scan``.

Every training run in jaxlr goes through :func:`run` (or :func:`run_chunk`, the same loop with a
traced length for ``fit``'s host-driven chunks): ``fit`` is the kernel on one lane; a finder
candidate, a sweep trial, a successive-halving rung or a PBT interval is the kernel vmapped over
lanes (:mod:`jaxlr.population`). So a candidate *is* the run the user would train: the same step
(:func:`jaxlr.engine.train_step`), the same batches (a pure function of the data key and the
step), the same controllers, the same freezing of a diverged run.

What the kernel does per update: gather the mini-batch of global step ``t`` on device (or read it
from batches gathered before the loop when they are small), run the train step, keep the
per-update metrics the caller asked for. Every ``eval_every`` updates (and/or at the end) it
evaluates on the validation batches and steps the controllers (reduce-on-plateau, early stopping
with a best-parameters snapshot) — all inside the compiled program, no host sync.

The static structure of a run is a :class:`Plan` (compared by value: a plan built twice is the
same compiled program); the numbers (state, hyperparameters, data, keys) are traced arguments.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr import optim as _opt
from jaxlr._utils._static import ByValue
from jaxlr.engine._data import Data, batch_indices, batch_table, nbytes, take
from jaxlr.engine._problem import Model
from jaxlr.engine._step import TrainState, evaluate, train_step

__all__ = ["Plan", "run", "run_chunk", "PREGATHER_BYTES"]

_F32 = np.dtype("float32")
_I32 = np.dtype("int32")

#: Batches of a run are gathered before its loop (one gather instead of one per update) when
#: they fit in this many bytes: ~10% of a small model's step on a CPU.
PREGATHER_BYTES = 32 * 2**20

#: Otherwise the batches' example indices (int32 ``[T, batch]``) are drawn before the loop (one
#: permutation per epoch instead of one per update) when they fit in this many bytes; beyond,
#: each update draws its epoch's permutation.
INDEX_TABLE_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True, eq=False)
class Plan(ByValue):
    """The static structure of a run (everything that shapes the compiled program).

    Attributes:
      model: how to compute the loss and the metrics.
      update: the optimizer's ``update`` function (hyperparameters live in the state).
      extra_args: pass ``batch=`` / ``value=`` to the optimizer (ExtraArgs transformations).
      batch_size: examples per update.
      num_examples: examples the run draws from (``len(index)`` for a fold).
      num_steps: updates per call (the scan length).
      eval_every: evaluate (and step the controllers) every this many updates; 0: never.
      eval_at_end: also evaluate after the last update (recorded, controllers not stepped).
      freeze: skip bad updates (see :func:`jaxlr.engine.train_step`).
      record: per-update metrics to keep (default ``"all"``: every metric of the step). Every
        training run of jaxlr keeps them all: the program then has the same structure for a
        ``fit`` run, a finder candidate and a sweep trial, and XLA rounds the same run the same
        way in each (it contracts multiply-adds into FMAs per fusion).
      pregather: gather every batch before the loop.
      plateau_update, early_stopping_update: the controllers' static update functions.
      restore_best: keep a copy of the best evaluation's parameters (early stopping).
      monitor: the metric the controllers follow (``"val_<name>"`` or a train metric, then
        its mean over the evaluation block).
      time_clock: the schedules are evaluated at a clock-driven step (``fit``).
      batch_sharding: a ``NamedSharding`` of one batch (its example axis over a mesh's
        ``"data"`` axis: data parallelism through XLA's partitioner, gradients all-reduced);
        ``None``: wherever the inputs are. Inside a population ``vmap`` with
        ``spmd_axis_name="trials"`` the member axis goes over ``"trials"``.
    """

    model: Model
    update: Callable[..., Any]
    extra_args: bool
    batch_size: int
    num_examples: int
    num_steps: int
    eval_every: int = 0
    eval_at_end: bool = False
    freeze: bool = True
    record: tuple[str, ...] | str = "all"
    pregather: bool = False
    plateau_update: Callable[..., Any] | None = None
    early_stopping_update: Callable[..., Any] | None = None
    restore_best: bool = False
    monitor: str = "val_loss"
    time_clock: bool = False
    batch_sharding: Any = None

    def __jaxlr_value_key__(self) -> Any:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


    def replace(self, **changes: Any) -> "Plan":
        return dataclasses.replace(self, **changes)


def should_pregather(train: Any, num_steps: int, batch_size: int, lanes: int = 1) -> bool:
    """Whether ``lanes`` runs' batches of ``num_steps`` updates fit in :data:`PREGATHER_BYTES`."""
    return lanes * num_steps * batch_size * nbytes(train, per_example=True) <= PREGATHER_BYTES


def _batch(plan: Plan, data: Data, step: jax.Array) -> Any:
    idx = batch_indices(data.key, step, plan.num_examples, plan.batch_size)
    if data.index is not None:
        idx = jnp.take(data.index, idx)
    return take(data.arrays, idx)


def _rows(plan: Plan, data: Data, start: jax.Array, num_steps: int) -> jax.Array:
    """Example indices of updates ``start ..`` (int32 ``[num_steps, batch]``)."""
    rows = batch_table(data.key, start, num_steps, plan.num_examples, plan.batch_size)
    if data.index is not None:
        rows = jnp.take(data.index, rows)
    return rows


def _gather_all(plan: Plan, data: Data, start: jax.Array, num_steps: int) -> Any:
    return take(data.arrays, _rows(plan, data, start, num_steps))    # [T, batch, ...]


def _index_table(plan: Plan, num_steps: int) -> bool:
    return num_steps * plan.batch_size * 4 <= INDEX_TABLE_BYTES


def _keep(plan: Plan, metrics: dict[str, jax.Array]) -> dict[str, jax.Array]:
    if plan.record == "all":
        return metrics
    return {k: metrics[k] for k in plan.record if k in metrics}


def _one(plan: Plan, state: TrainState, batch: Any) -> tuple[TrainState, dict[str, jax.Array]]:
    if plan.batch_sharding is not None:
        batch = jax.tree_util.tree_map(
            lambda x: jax.lax.with_sharding_constraint(x, plan.batch_sharding), batch)
    return train_step(plan.model, plan.update, state, batch, freeze=plan.freeze,
                      extra_args=plan.extra_args)


def _steps(plan: Plan, state: TrainState, data: Data, start: jax.Array, num_steps: int,
           offset: int = 0) -> tuple[TrainState, dict[str, jax.Array]]:
    """``num_steps`` updates from global step ``start + offset`` (one ``lax.scan``)."""
    steps = start + offset + jnp.arange(num_steps, dtype=jnp.int32)
    if plan.pregather:
        xs = _gather_all(plan, data, start + offset, num_steps)

        def body(st, batch):
            st, m = _one(plan, st, batch)
            return st, _keep(plan, m)
    elif _index_table(plan, num_steps):
        xs = _rows(plan, data, start + offset, num_steps)

        def body(st, rows):
            st, m = _one(plan, st, take(data.arrays, rows))
            return st, _keep(plan, m)
    else:
        xs = steps

        def body(st, t):
            st, m = _one(plan, st, _batch(plan, data, t))
            return st, _keep(plan, m)

    return jax.lax.scan(body, state, xs)


def _control(plan: Plan, state: TrainState, metric: jax.Array) -> TrainState:
    if plan.plateau_update is not None and state.plateau is not None:
        state = state.replace(plateau=plan.plateau_update(state.plateau, metric))
    if plan.early_stopping_update is not None and state.early_stopping is not None:
        state = state.replace(early_stopping=plan.early_stopping_update(state.early_stopping,
                                                                        metric))
    return state


def _monitored(plan: Plan, vals: dict[str, jax.Array], block: dict[str, jax.Array]):
    if plan.monitor in vals:
        return vals[plan.monitor]
    return jnp.mean(block[plan.monitor].astype(_F32))


def _eval_record(plan: Plan, state: TrainState, valid: list[Any] | None) -> dict[str, jax.Array]:
    vals = {}
    if valid is not None:
        vals = {"val_" + k: v for k, v in evaluate(plan.model, state, valid).items()}
    return vals


def run(plan: Plan, state: TrainState, data: Data, valid: list[Any] | None = None,
        start: jax.Array | int = 0) -> tuple[TrainState, dict[str, Any]]:
    """``plan.num_steps`` updates of one run; pure (jit / vmap / shard it).

    Args:
      plan: the static structure (see :class:`Plan`).
      state: the run's :class:`TrainState` (with controller states as the plan needs).
      data: the run's :class:`Data`.
      valid: validation batches (pytrees) or ``None``.
      start: the global step of the first update (batches and per-update keys follow it; for
        a run continued from an earlier call).

    Returns:
      ``(state, records)``: ``records["train"]`` maps each recorded metric to ``[T]``;
      ``records["eval"]`` (when evaluating) maps ``val_<name>``, ``lr_scale`` and ``stopped``
      to ``[E]``; ``records["final"]`` the end-of-run evaluation (``eval_at_end``);
      ``records["best"]`` the best evaluation's ``(params, model_state, opt_state)``
      (``restore_best``).
    """
    start = jnp.asarray(start, jnp.int32)
    T, k = plan.num_steps, plan.eval_every
    records: dict[str, Any] = {}
    if k:
        blocks = T // k
        best0 = (state.params, state.model_state, state.opt_state) if plan.restore_best else None

        def block(carry, b):
            st, best = carry
            st, m = _steps(plan, st, data, start + b * k, k)
            vals = _eval_record(plan, st, valid)
            st = _control(plan, st, _monitored(plan, vals, m))
            if plan.restore_best and st.early_stopping is not None:
                best = jax.tree_util.tree_map(
                    lambda new, old: jnp.where(st.early_stopping.improved, new, old),
                    (st.params, st.model_state, st.opt_state), best)
            ev = dict(vals)
            ev["lr_scale"] = (st.plateau.scale if st.plateau is not None
                              else jnp.ones([], _F32))
            ev["stopped"] = (st.early_stopping.stop if st.early_stopping is not None
                             else jnp.zeros([], bool))
            return (st, best), (m, ev)

        (state, best), (m, ev) = jax.lax.scan(block, (state, best0),
                                              jnp.arange(blocks, dtype=jnp.int32))
        train = jax.tree_util.tree_map(lambda a: a.reshape((blocks * k,) + a.shape[2:]), m)
        if T > blocks * k:
            state, tail = _steps(plan, state, data, start, T - blocks * k, offset=blocks * k)
            train = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), train, tail)
        records["eval"] = ev
        if plan.restore_best:
            records["best"] = best
    else:
        state, train = _steps(plan, state, data, start, T)
    records["train"] = train
    if plan.eval_at_end:
        records["final"] = _eval_record(plan, state, valid)
    return state, records


def run_chunk(plan: Plan, state: TrainState, data: Data, start: jax.Array, n: jax.Array,
              clock: tuple[jax.Array, jax.Array, jax.Array] | None = None,
              ) -> tuple[TrainState, dict[str, jax.Array]]:
    """``n <= plan.num_steps`` updates (``n`` traced) for ``fit``'s host-driven chunks.

    The same step as :func:`run`, in a ``fori_loop`` whose metrics go into ``[num_steps]``
    buffers, so every chunk length is one compiled program. With ``plan.time_clock``,
    ``clock = (c0, rate, horizon)`` sets the schedules' step to ``floor(c0 + i * rate)``
    (clamped to ``[0, horizon]``) before update ``i`` of the chunk.
    """
    T = plan.num_steps
    if plan.pregather:
        xs = _gather_all(plan, data, start, T)
    elif _index_table(plan, T):
        rows = _rows(plan, data, start, T)

    def batch_at(i):
        if plan.pregather:
            return jax.tree_util.tree_map(lambda a: a[i], xs)
        if _index_table(plan, T):
            return take(data.arrays, rows[i])
        return _batch(plan, data, start + i)

    def one(st, i):
        if plan.time_clock:
            c0, rate, horizon = clock
            s = jnp.floor(c0 + i.astype(_F32) * rate)
            s = jnp.clip(s, 0.0, horizon.astype(_F32)).astype(_I32)
            st = st.replace(opt_state=_opt.set_schedule_step(st.opt_state, s))
        st, m = _one(plan, st, batch_at(i))
        return st, _keep(plan, m)

    shapes = jax.eval_shape(one, state, jnp.zeros([], _I32))[1]
    bufs = jax.tree_util.tree_map(lambda x: jnp.zeros((T,) + x.shape, x.dtype), shapes)

    def body(i, carry):
        st, b = carry
        st, m = one(st, i)
        return st, jax.tree_util.tree_map(lambda buf, v: buf.at[i].set(v), b, m)

    return jax.lax.fori_loop(0, n, body, (state, bufs))
