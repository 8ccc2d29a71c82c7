"""``fit``: the training kernel on one run, driven from the host in chunks.

The updates run on device: up to ``chunk_size`` updates are one compiled call of the kernel
(:func:`jaxlr.engine._run.run_chunk`; in-memory data is shuffled and gathered on device), so the
per-update host and dispatch overhead disappears. Between chunks the host does what only it can:
progress bar, writer, evaluation and controllers, checkpoints, the time budget. A chunk ends early
at the next event (evaluation, checkpoint, last step) without recompiling: its length is an
argument of the compiled program, which is as long as the longest chunk the run can have (the
smallest of ``chunk_size`` and the evaluation and checkpoint intervals). Without a time budget
or time clock, the next chunk and the evaluation are dispatched before a chunk's records are
read (controllers reading a validation metric are stepped on the device), so the device keeps
computing while the host records. A stream of batches (an iterable) runs the same train step one
batch at a time, the next batch copied to the device while the current one trains.

``fit`` reads top to bottom: :func:`_prepare` checks every argument and builds the state before
any work, :class:`_Loop` runs the chunks and records, :func:`_finish` returns the state and the
:class:`History`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxlr import optim as _opt
from jaxlr import schedules as _schedules
from jaxlr._utils._validation import check_choice, check_positive, check_steps, fail, shorten
from jaxlr.engine import _checkpoint
from jaxlr.engine._data import Data
from jaxlr.engine._history import History
from jaxlr.engine._keys import as_key
from jaxlr.engine._problem import Problem, Task, Variables, as_problem
from jaxlr.engine._run import Plan, run_chunk, should_pregather
from jaxlr.engine._step import (STEP_METRICS, TrainState, check_controller, check_optimizer,
                                evaluate, is_extra_args, train_step)

__all__ = ["fit"]

_F32 = np.dtype("float32")
_I32 = np.dtype("int32")
_FN = "fit"


# --------------------------------------------------------------------------------------------
# Compiled programs (one per static structure: plans and models are compared by value)

# fit dispatches the next chunk before reading a chunk's records when the host need not decide
# anything in between (see _Loop.run_in_memory); the tests turn it off to compare
DISPATCH_AHEAD = True
_chunk_jit = jax.jit(run_chunk, static_argnums=0)
_eval_jit = jax.jit(evaluate, static_argnums=0)
# compiled like the initialisation inside a finder's or a sweep's program (eager random
# sampling rounds differently from compiled sampling)
_init_jit = jax.jit(lambda model, key: model.initialize(key), static_argnums=0)


def _stream_step(plan: Plan, state: TrainState, alive: jax.Array, batch: Any,
                 sched_step: jax.Array):
    """One update on a given batch; skipped after a bad update (``alive`` False)."""

    def do(st):
        if plan.time_clock:
            st = st.replace(opt_state=_opt.set_schedule_step(st.opt_state, sched_step))
        return train_step(plan.model, plan.update, st, batch, freeze=True,
                          extra_args=plan.extra_args)

    zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype),
                                   jax.eval_shape(do, state)[1])
    new, m = jax.lax.cond(alive, do, lambda s: (s, zeros), state)
    ok = m["finite"] & ~m.get("diverged", jnp.zeros([], bool))
    return new, alive & ok, m


_stream_jit = jax.jit(_stream_step, static_argnums=0, donate_argnums=(1,))


@jax.jit
def _copy(tree: Any) -> Any:
    return jax.tree_util.tree_map(jnp.copy, tree)


# --------------------------------------------------------------------------------------------
# Preparation: every check before any work


@dataclasses.dataclass
class _Setup:
    problem: Problem
    plan: Plan
    state: TrainState
    data: Data | None                # in-memory data source (None for a stream)
    steps: int | None
    epochs: int | None
    eval_every: int
    chunk_size: int
    plateau: Any
    early_stopping: Any
    monitor: str
    needs_monitor: bool
    time_budget: float | None
    horizon: int
    clock: Callable[[], float]
    t_start: float
    writer: Callable[[int, dict[str, float]], None] | None
    progress: bool
    manager: Any
    checkpoint_every: int | None
    resumed_from: int | None
    user_divergence: bool


def _check_scalars(*, steps, epochs, chunk_size, eval_every, checkpoint_every, checkpoint_dir,
                   time_budget, schedule_clock, clock, writer, monitor) -> None:
    if steps is not None:
        check_steps(_FN, steps=steps, minimum=1)
    if epochs is not None:
        check_steps(_FN, epochs=epochs, minimum=1)
    if steps is not None and epochs is not None:
        fail(_FN, f"give `steps` or `epochs`, not both; got steps={steps}, epochs={epochs}.")
    check_steps(_FN, chunk_size=chunk_size, minimum=1)
    if eval_every is not None:
        check_steps(_FN, eval_every=eval_every, minimum=1)
    if checkpoint_every is not None:
        check_steps(_FN, checkpoint_every=checkpoint_every, minimum=1)
        if checkpoint_dir is None:
            fail(_FN, f"`checkpoint_every={checkpoint_every}` needs `checkpoint_dir`.")
    if time_budget is not None:
        check_positive(_FN, time_budget=time_budget)
    check_choice(_FN, "schedule_clock", schedule_clock, ("step", "time"))
    if schedule_clock == "time" and time_budget is None:
        fail(_FN, "schedule_clock='time' needs a `time_budget` (seconds); got "
             "time_budget=None.")
    if not callable(clock):
        fail(_FN, f"`clock` must be a callable returning seconds; got clock={shorten(clock)}.",
             error=TypeError)
    if writer is not None and not callable(writer):
        fail(_FN, f"`writer` must be callable as writer(step, scalars); got "
             f"writer={shorten(writer)}.", error=TypeError)
    if not isinstance(monitor, str):
        fail(_FN, f"`monitor` must be a metric name; got monitor={shorten(monitor)}.",
             error=TypeError)


def _initial_state(problem: Problem, optimizer: Any, state: Any, key: Any, plateau: Any,
                   early_stopping: Any, divergence: Any) -> TrainState:
    if isinstance(state, TrainState):
        st = state
        if key is not None and st.key is None and problem.model.takes_key:
            st = st.replace(key=key)
    else:
        if problem.params is None:          # an init function (or a Task): needs a key
            if key is None:
                fail(_FN, "initialising the model needs a PRNG key; got key=None.",
                     hint="Pass key=jax.random.key(0) (or an int seed).", error=TypeError)
            params, model_state = _init_jit(problem.model, jax.random.fold_in(key, 0))
        else:
            params, model_state = problem.params, problem.model_state
        st = TrainState.create(params, optimizer, key=key, model_state=model_state)
    if plateau is not None and st.plateau is None:
        st = st.replace(plateau=plateau.init())
    if early_stopping is not None and st.early_stopping is None:
        st = st.replace(early_stopping=early_stopping.init())
    if divergence is not None and st.divergence is None:
        # without one, a non-finite update is found on the host from the `finite` metric and
        # the run stops at the last good state (see _Loop): no controller runs per update
        st = st.replace(divergence=divergence.init())
    return st


def _schedule_horizon(state: TrainState, schedule_horizon: Any) -> int:
    if schedule_horizon is not None:
        check_steps(_FN, schedule_horizon=schedule_horizon, minimum=1)
        return int(schedule_horizon)
    if not _opt.has_hyperparams(state.opt_state):
        fail(_FN, "schedule_clock='time' needs a jaxlr optimizer (its schedule is evaluated at "
             "the time-based step).", hint="Use jaxlr.adam(schedule), jaxlr.sgd(schedule), ...")
    lr = _opt.learning_rate_schedule(state.opt_state)
    h = _schedules.horizon(lr) if isinstance(lr, _schedules.Schedule) else None
    if h is None and callable(getattr(lr, "horizon", None)):
        h = lr.horizon()
    if h is None:
        fail(_FN, "schedule_clock='time' needs the horizon of the learning-rate schedule (the "
             f"step after which it is constant); it is unknown for {shorten(lr)}.",
             hint="Pass schedule_horizon=<steps> (e.g. the schedule's total_steps).")
    return int(h)


def _check_monitor(problem: Problem, plan: Plan, state: TrainState, monitor: str,
                   sample_batch: Any) -> None:
    """Metric names are known by abstract evaluation (no compilation)."""
    eval_names: set[str] = set()
    if problem.valid is not None:
        eval_names = {"val_" + k for k in _abstract(
            "evaluating on `valid_data` failed", lambda: jax.eval_shape(
                lambda s: evaluate(problem.model, s, problem.valid), state))}
    if monitor.startswith("val_"):
        if monitor not in eval_names:
            known = sorted(eval_names) or ["(none: no valid_data)"]
            fail(_FN, f"`monitor={monitor!r}` is not produced by the evaluation; it produces "
                 f"{', '.join(known)}.", hint="Pass valid_data=... (and eval_fn) or monitor a "
                 "train metric such as monitor='loss'.")
        return
    if sample_batch is None:
        return
    train_names = set(_abstract("calling `loss_fn` on a batch failed", lambda: jax.eval_shape(
        lambda s, b: train_step(problem.model, plan.update, s, b,
                                extra_args=plan.extra_args)[1], state, sample_batch)))
    if monitor not in train_names:
        fail(_FN, f"`monitor={monitor!r}` is not a metric fit produces; known: "
             f"{', '.join(sorted(eval_names | train_names))}.")


def _abstract(what: str, call: Callable[[], Any]) -> Any:
    """Runs an abstract evaluation; errors raised while tracing user code become fit errors."""
    try:
        return call()
    except (ValueError, TypeError) as e:
        if str(e).startswith(("loss_fn:", "fit:", "eval_fn:", "train_step:")):
            raise
        fail(_FN, f"{what}: {type(e).__name__}: {shorten(str(e), 600)}",
             hint="Check that loss_fn(params, batch) (and eval_fn) match the structure of the "
                  "data: a batch has the structure of `data` with batch_size examples.",
             error=TypeError)


def _data_parallel(mesh: Any, batch_size: int) -> tuple[NamedSharding, NamedSharding]:
    """``(replicated, batch)`` shardings of a data-parallel ``fit`` on ``mesh``."""
    if not isinstance(mesh, Mesh):
        fail(_FN, f"`mesh` must be a jax.sharding.Mesh with a \"data\" axis; got "
             f"mesh={shorten(mesh)}.", hint="e.g. mesh=jaxlr.population.make_mesh(trials=1, "
             "data=len(jax.devices())).", error=TypeError)
    if "data" not in mesh.axis_names:
        fail(_FN, f"`mesh` has no \"data\" axis (axes {mesh.axis_names}): fit splits each "
             "batch over it.", hint="Build it with jaxlr.population.make_mesh(trials=1, "
             "data=n).")
    other = {n: int(k) for n, k in mesh.shape.items() if n != "data" and k > 1}
    if other:
        fail(_FN, f"fit trains one run: its mesh may only be larger than 1 along \"data\"; got "
             f"{other}.", hint="Use make_mesh(trials=1, data=n); populations (finders, sweeps) "
             "use the \"trials\" axis.")
    n = int(mesh.shape["data"])
    if batch_size % n:
        fail(_FN, f"batch_size={batch_size} must be divisible by the mesh's \"data\" axis ({n}) "
             "to split each batch evenly.", hint=f"e.g. batch_size={max(n, batch_size // n * n)}.")
    return NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("data"))


def _state_shardings(st: TrainState, replicated: NamedSharding, split: NamedSharding) -> Any:
    """FSDP-style placement: every array of the state whose leading axis divides evenly over
    ``"data"`` (parameters, their optimizer moments) is split along it; the rest (scalars,
    keys, small or odd-sized arrays) is replicated. XLA gathers what each step needs."""
    n = int(split.mesh.shape["data"])

    def one(x):
        shape = getattr(x, "shape", ())
        if (len(shape) >= 1 and shape[0] % n == 0 and shape[0] >= n
                and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)):
            return split
        return replicated

    return jax.tree_util.tree_map(one, st)


def _prepare(loss_fn, optimizer, state, data, *, steps, epochs, batch_size, key, has_aux,
             valid_data, eval_fn, eval_every, chunk_size, progress, writer, plateau,
             early_stopping, divergence, monitor, time_budget, schedule_clock,
             schedule_horizon, clock, checkpoint_dir, checkpoint_every, checkpoint_on_damaged,
             t_start, mesh=None, shard_params=False) -> _Setup:
    _check_scalars(steps=steps, epochs=epochs, chunk_size=chunk_size, eval_every=eval_every,
                   checkpoint_every=checkpoint_every, checkpoint_dir=checkpoint_dir,
                   time_budget=time_budget, schedule_clock=schedule_clock, clock=clock,
                   writer=writer, monitor=monitor)
    if callable(optimizer) and not hasattr(optimizer, "update"):
        fail(_FN, f"`optimizer` must be a built optimizer (fit trains at the rate you chose); "
             f"got the factory {shorten(optimizer)}.", hint="Call it: e.g. jaxlr.adam(1e-3) "
             "(factories learning_rate -> optimizer are for the finders and sweeps, which "
             "choose the rate).", error=TypeError)
    check_optimizer(_FN, optimizer)
    plateau = check_controller(_FN, "plateau", plateau)
    early_stopping = check_controller(_FN, "early_stopping", early_stopping)
    divergence = check_controller(_FN, "divergence", divergence)
    key = as_key(_FN, key, required=False)
    if isinstance(state, TrainState):
        model_arg = Variables(state.params, state.model_state)
    else:
        model_arg = state
    if isinstance(model_arg, Task) and loss_fn is None:
        loss_fn = model_arg.loss
    problem = as_problem(_FN, model_arg, loss_fn, data, valid_data=valid_data,
                         batch_size=batch_size, eval_fn=eval_fn, has_aux=has_aux,
                         allow_stream=True)
    st = _initial_state(problem, optimizer, state, key, plateau, early_stopping, divergence)
    if problem.in_memory:
        data_key = key if key is not None else st.key
        if data_key is None:
            fail(_FN, "in-memory data is shuffled on device and needs a PRNG key; got key=None "
                 "and a state without key.", hint="Pass key=jax.random.key(0).",
                 error=TypeError)
        if batch_size is None and not isinstance(model_arg, Task):
            fail(_FN, "in-memory `data` needs a `batch_size`; got batch_size=None.",
                 hint="e.g. batch_size=64 (or pass an iterable of batches).", error=TypeError)
        per_epoch = problem.num_examples // problem.batch_size
        if epochs is not None:
            steps = epochs * per_epoch
        if steps is None and time_budget is None:
            fail(_FN, "give `steps`, `epochs` or `time_budget` for in-memory data.",
                 error=TypeError)
        eval_every = per_epoch if eval_every is None else eval_every
        source = Data(problem.train, data_key)
        sample = jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct((problem.batch_size,) + a.shape[1:], a.dtype),
            problem.train)
    else:
        eval_every = chunk_size if eval_every is None else eval_every
        source, sample = None, None
    time_clock = schedule_clock == "time"
    horizon = _schedule_horizon(st, schedule_horizon) if time_clock else 0
    if not time_clock and _opt.has_hyperparams(st.opt_state):
        # a state coming from a time-clock run keeps its last time-based step: count again
        st = st.replace(opt_state=_opt.set_schedule_step(st.opt_state, -1))
    needs_monitor = plateau is not None or early_stopping is not None
    if problem.in_memory:
        # the compiled chunk is as long as the longest chunk this run can have: its batches
        # (and their epochs' permutations) are drawn for the whole chunk, so a chunk program
        # 10x longer than the evaluation interval would do 10x the data work per chunk
        chunk_size = _longest_chunk(chunk_size, eval_every if (
            problem.valid is not None or needs_monitor) else None, checkpoint_every)
    plan = Plan(model=problem.model, update=optimizer.update,
                extra_args=is_extra_args(optimizer), batch_size=problem.batch_size or 1,
                num_examples=problem.num_examples or 1, num_steps=chunk_size, freeze=False,
                time_clock=time_clock,
                pregather=problem.in_memory and should_pregather(problem.train, chunk_size,
                                                                 problem.batch_size))
    if shard_params and mesh is None:
        fail(_FN, "`shard_params=True` splits the state over a mesh's \"data\" axis: pass "
             "`mesh` too.", hint="e.g. mesh=jaxlr.population.make_mesh(trials=1, data=n).")
    if mesh is not None:
        # data parallel: state and examples replicated, each batch split over "data"; XLA's
        # partitioner all-reduces the gradients
        replicated, split = _data_parallel(mesh, problem.batch_size or 1)
        plan = dataclasses.replace(plan, batch_sharding=split)
        st = jax.device_put(st, _state_shardings(st, replicated, split) if shard_params
                            else replicated)
        if source is not None:
            source = Data(jax.device_put(source.arrays, replicated),
                          jax.device_put(source.key, replicated))
    if needs_monitor or problem.valid is not None:
        _check_monitor(problem, plan, st, monitor if needs_monitor else "val_loss"
                       if problem.valid is not None else "loss", sample)
    manager, resumed_from = None, None
    user_divergence = divergence is not None or (
        isinstance(state, TrainState) and state.divergence is not None)
    if checkpoint_dir is not None:
        # a writable directory free of foreign content, checked before any work: a run is never
        # trained to its end only to fail at the final save
        checkpoint_dir = _checkpoint.check_directory(_FN, checkpoint_dir)
        check_choice(_FN, "checkpoint_on_damaged", checkpoint_on_damaged, ("raise", "fallback"))
        manager = _checkpoint.CheckpointManager(checkpoint_dir)
        try:
            # a checkpoint holds the state fit returns: without the user's divergence
            # controller, not fit's default non-finite guard (re-attached fresh after a restore)
            guard = None if user_divergence else st.divergence
            target = st if user_divergence else st.replace(divergence=None)
            st, step = manager.restore_latest(target, on_damaged=checkpoint_on_damaged)
            if guard is not None:
                st = st.replace(divergence=guard)
        except BaseException:
            manager.close()
            raise
        resumed_from = None if step is None else int(st.step)
    return _Setup(problem=problem, plan=plan, state=st, data=source, steps=steps,
                  epochs=epochs, eval_every=int(eval_every), chunk_size=int(chunk_size),
                  plateau=plateau, early_stopping=early_stopping, monitor=monitor,
                  needs_monitor=needs_monitor, time_budget=time_budget, horizon=horizon,
                  clock=clock, t_start=t_start, writer=writer, progress=progress,
                  manager=manager, checkpoint_every=checkpoint_every,
                  resumed_from=resumed_from, user_divergence=user_divergence)


def _longest_chunk(chunk_size: int, eval_every: int | None,
                   checkpoint_every: int | None) -> int:
    """The most updates one chunk of an in-memory run can have: chunks end at every evaluation
    and checkpoint (see ``_Loop.next_event``). The number of steps is left out, so runs of
    different lengths share one program (a short run pays for one chunk's batches once)."""
    return max(1, min(n for n in (chunk_size, eval_every, checkpoint_every) if n is not None))


# --------------------------------------------------------------------------------------------
# The host loop


def _in_notebook() -> bool:
    """Whether this process runs a Jupyter kernel now (an imported ``ipykernel`` is not enough:
    a test runner or a library may import it without running a kernel)."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _progress_bar(progress: bool, total: int | None, initial: int):
    if not progress:
        return None
    interactive = _in_notebook() or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    if not interactive:
        return None
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415 - optional dependency
    except ImportError:  # pragma: no cover - optional dependency
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True)


class _Loop:
    """Records, evaluation and controllers between chunks (host side)."""

    def __init__(self, s: _Setup):
        self.s = s
        self.state = _copy(s.state)     # fit never consumes the caller's arrays
        self.train: list[dict[str, np.ndarray]] = []
        self.steps: list[np.ndarray] = []
        self.since_eval: list[dict[str, np.ndarray]] = []
        self.ev_steps: list[int] = []
        self.ev_vals: list[dict[str, float]] = []
        self.ev_time: list[float] = []
        self.ev_scale: list[float] = []
        self.reductions: list[int] = []
        self.stop_reason = "completed"
        self.nonfinite_step: int | None = None
        self.best_step: int | None = None
        self.best: Any = None
        self.start_step = int(self.state.step)
        self.known_step: int | None = self.start_step   # the state's step, tracked on the host
        self._lengths: dict[int, jax.Array] = {}
        self._no_clock = (jnp.zeros([], _F32), jnp.zeros([], _F32), jnp.zeros([], _I32))
        self.last_eval = self.start_step if s.resumed_from is not None else -1
        self.rate: float | None = None           # seconds per update
        self.bar = _progress_bar(s.progress, s.steps, self.start_step)
        self._plateau = jax.jit(s.plateau.update) if s.plateau is not None else None
        self._es = jax.jit(s.early_stopping.update) if s.early_stopping is not None else None

    # -- time --------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.s.clock() - self.s.t_start

    def budget_left(self) -> float | None:
        return None if self.s.time_budget is None else float(self.s.time_budget) - self.elapsed()

    def clock_args(self):
        s = self.s
        if not s.plan.time_clock:
            return self._no_clock
        c0 = self.elapsed() / float(s.time_budget) * s.horizon
        r = 0.0 if self.rate is None else self.rate / float(s.time_budget) * s.horizon
        return jnp.asarray(c0, _F32), jnp.asarray(r, _F32), jnp.asarray(s.horizon, _I32)

    def next_event(self, step: int) -> int:
        """Updates until the next evaluation / checkpoint / end (a chunk ends there)."""
        s = self.s
        n = s.chunk_size
        if s.steps is not None:
            n = min(n, s.steps - step)
        if s.problem.valid is not None or s.needs_monitor:
            n = min(n, s.eval_every - (step % s.eval_every))
        if s.checkpoint_every is not None:
            n = min(n, s.checkpoint_every - (step % s.checkpoint_every))
        left = self.budget_left()
        if left is not None and self.rate is not None and self.rate > 0:
            n = min(n, max(1, int(left / self.rate)))
        return max(n, 1)

    # -- records -----------------------------------------------------------------------------

    def record(self, ms: dict[str, np.ndarray], steps_done: np.ndarray) -> None:
        self.train.append(ms)
        self.steps.append(steps_done)
        self.since_eval.append(ms)
        if self.s.writer is not None and steps_done.size:
            self.s.writer(int(steps_done[-1]) + 1, {k: float(np.mean(v)) for k, v in ms.items()
                                                    if v.ndim == 1})
        if self.bar is not None and steps_done.size:
            self.bar.update(int(steps_done.size))
            self.bar.set_postfix(loss=f"{float(ms['loss'][-1]):.4g}",
                                 lr=f"{float(ms['lr'][-1]):.3g}")

    def nonfinite(self, step: int, finite_loss: bool = False) -> None:
        self.nonfinite_step = step
        if finite_loss and self.s.user_divergence:
            self.stop_reason = "diverged"
            warnings.warn(f"fit: the smoothed loss diverged at step {step} (the divergence "
                          f"controller); returning the state after {step} steps.",
                          RuntimeWarning, stacklevel=4)
            return
        self.stop_reason = "nonfinite"
        warnings.warn(f"fit: the loss or gradient became non-finite at step {step}; returning "
                      f"the last finite state (after {step} steps).", RuntimeWarning,
                      stacklevel=4)

    def at_eval(self) -> bool:
        s = self.s
        return (s.problem.valid is not None or s.needs_monitor) and (
            self.current_step() % s.eval_every == 0)

    def current_step(self) -> int:
        """The state's step (from the host's count when known: no device round trip)."""
        return self.known_step if self.known_step is not None else int(self.state.step)

    def evaluate(self, controllers: bool = True, dispatched: Any = None,
                 stepped: tuple[Any, Any] | None = None) -> bool:
        """Evaluation + controllers; returns True to stop (early stopping). ``dispatched``: the
        evaluation of the current state, already dispatched; ``stepped``: the plateau and
        early-stopping states already stepped on it (see :meth:`run_in_memory`)."""
        s, st = self.s, self.state
        step_now = self.current_step()
        self.last_eval = step_now
        vals: dict[str, float] = {}
        if s.problem.valid is not None:
            out = jax.device_get(dispatched if dispatched is not None
                                 else _eval_jit(s.problem.model, st, s.problem.valid))
            vals = {"val_" + k: float(v) for k, v in out.items()}
        means = {}
        if self.since_eval:
            cat = {k: np.concatenate([m[k] for m in self.since_eval]) for k in self.since_eval[0]}
            means = {k: float(np.mean(v)) for k, v in cat.items() if v.ndim == 1}
        self.since_eval.clear()
        stop = False
        if s.needs_monitor and controllers:
            metric = None
            if stepped is None:
                metric = jnp.asarray(vals.get(s.monitor, means.get(s.monitor, np.nan)), _F32)
            if self._plateau is not None:
                new_p = stepped[0] if stepped is not None else self._plateau(st.plateau, metric)
                if bool(new_p.reduced):
                    self.reductions.append(step_now)
                st = st.replace(plateau=new_p)
            if self._es is not None:
                new_e = (stepped[1] if stepped is not None
                         else self._es(st.early_stopping, metric))
                if bool(new_e.improved):
                    self.best_step = step_now
                    if s.early_stopping.restore_best:
                        self.best = _copy((st.params, st.model_state, st.opt_state))
                st = st.replace(early_stopping=new_e)
                stop = bool(new_e.stop)
        self.ev_steps.append(step_now)
        self.ev_vals.append(vals)
        self.ev_time.append(self.elapsed())
        self.ev_scale.append(float(st.plateau.scale) if st.plateau is not None else 1.0)
        if s.writer is not None and vals:
            s.writer(step_now, vals)
        self.state = st
        return stop

    def maybe_checkpoint(self, force: bool = False) -> None:
        s = self.s
        if s.manager is None:
            return
        step = self.current_step()
        if force or (s.checkpoint_every is not None and step % s.checkpoint_every == 0):
            if s.manager.latest_step() != step:
                saved = self.state if s.user_divergence else self.state.replace(divergence=None)
                try:
                    s.manager.save(saved, step)
                except OSError as e:
                    e.state = self.state        # nothing computed is lost
                    raise

    def after_chunk(self, dispatched_eval: Any = None,
                    stepped: tuple[Any, Any] | None = None) -> bool:
        """Evaluation and checkpoint after a chunk; True to stop."""
        if self.at_eval() and self.evaluate(dispatched=dispatched_eval, stepped=stepped):
            self.stop_reason = "early_stopping"
            return True
        self.maybe_checkpoint()
        return False

    # -- in-memory data ----------------------------------------------------------------------

    def _dispatch(self, state: TrainState, n: int, clock) -> tuple[TrainState, Any]:
        """Starts the chunk of ``n`` updates from ``state`` (asynchronously): its output state
        and device metrics."""
        length = self._lengths.get(n)
        if length is None:
            length = self._lengths[n] = jnp.asarray(n, _I32)
        return _chunk_jit(self.s.plan, state, self.s.data, state.step, length, clock)

    @staticmethod
    def _fetch(ms: Any, n: int) -> dict[str, np.ndarray]:
        return {k: np.asarray(v)[:n] for k, v in jax.device_get(ms).items()}

    def _step_controllers(self, state: TrainState, ev: Any) -> tuple[tuple[Any, Any],
                                                                      TrainState]:
        """The plateau / early-stopping states stepped on the dispatched evaluation ``ev`` (on
        the device, no host round trip), and ``state`` with them: what :meth:`evaluate` would
        compute from the same values."""
        metric = ev[self.s.monitor[len("val_"):]].astype(_F32)
        new_p = self._plateau(state.plateau, metric) if self._plateau is not None else None
        new_e = self._es(state.early_stopping, metric) if self._es is not None else None
        nxt = state
        if new_p is not None:
            nxt = nxt.replace(plateau=new_p)
        if new_e is not None:
            nxt = nxt.replace(early_stopping=new_e)
        return (new_p, new_e), nxt

    def _chunk(self, n: int, clock) -> tuple[TrainState, dict[str, np.ndarray]]:
        st, ms = self._dispatch(self.state, n, clock)
        return st, self._fetch(ms, n)

    def run_in_memory(self) -> None:
        """The chunks of an in-memory run.

        Without a time budget or time clock, the next chunk and this chunk's evaluation are
        dispatched before this chunk's records are read, so the device computes while the host
        records, evaluates and checkpoints. Controllers that read a validation metric are
        stepped on the device too (the same compiled updates on the same values); a controller
        reading a train metric (a mean of the host's records) waits for them. A speculative
        chunk after a bad update or an early stop is discarded: the records and the state are
        those of a run without it.
        """
        s = self.s
        ahead_ok = DISPATCH_AHEAD and s.time_budget is None and not s.plan.time_clock and (
            not s.needs_monitor or (s.problem.valid is not None and s.monitor.startswith("val_")))
        ahead = None        # (step, n, clock, state, metrics): the next chunk, already running
        while True:
            step = self.current_step()
            if s.steps is not None and step >= s.steps:
                return
            left = self.budget_left()
            if left is not None and left <= 0:
                self.stop_reason = "time_budget"
                return
            t0 = s.clock()
            if ahead is not None and ahead[0] == step:
                _, n, clock, new, ms_dev = ahead
            else:
                n = self.next_event(step)
                clock = self.clock_args()
                new, ms_dev = self._dispatch(self.state, n, clock)
            ahead, ev, stepped = None, None, None
            after = step + n
            if ahead_ok:
                nxt = new
                if s.problem.valid is not None and after % s.eval_every == 0:
                    ev = _eval_jit(s.problem.model, new, s.problem.valid)
                    if s.needs_monitor:
                        stepped, nxt = self._step_controllers(new, ev)
                if s.steps is not None and after < s.steps:
                    n2, c2 = self.next_event(after), self.clock_args()
                    ahead = (after, n2, c2) + tuple(self._dispatch(nxt, n2, c2))
            ms = self._fetch(ms_dev, n)
            self.rate = (s.clock() - t0) / n
            ok = ms["finite"] & ~ms.get("diverged", np.zeros(n, bool))
            if not ok.all():
                # a bad update: the state is the last good one, the chunk re-run up to it (one
                # run needs no per-update freeze; the chunk's input state is not donated)
                bad = int(np.argmin(ok))
                self.state = self._chunk(bad, clock)[0] if bad else self.state
                self.known_step = step + bad
                self.record({k: v[:bad] for k, v in ms.items()}, step + np.arange(bad))
                self.nonfinite(step + bad, finite_loss=bool(np.isfinite(ms["loss"][bad])))
                return
            self.state = new
            self.known_step = after
            self.record(ms, step + np.arange(n))
            if self.after_chunk(ev, stepped):
                return

    # -- a stream of batches -----------------------------------------------------------------

    def run_stream(self) -> None:
        s = self.s
        passes = s.epochs if s.epochs is not None else 1
        pending: list[tuple[int, dict[str, jax.Array]]] = []
        alive = jnp.asarray(True)
        self.known_step = None                  # the stream loop reads the state's own step
        host_step = int(self.state.step)
        t_flush = s.clock()
        self.state = _copy(self.state)          # donated below

        def flush() -> bool:
            if not pending:
                return True
            host = jax.device_get([m for _, m in pending])
            first = pending[0][0]
            pending.clear()
            ok = np.array([bool(m["finite"]) and not bool(m.get("diverged", False))
                           for m in host])
            good = int(np.argmin(ok)) if not ok.all() else len(host)
            self.record({k: np.asarray([m[k] for m in host[:good]]) for k in host[0]},
                        first + np.arange(good))
            if good < len(host):
                self.nonfinite(first + good)
                return False
            return True

        exhausted = False
        for _ in range(passes):
            it = iter(s.problem.train)
            nxt = _next(it)
            while nxt is not None:
                if s.steps is not None and host_step >= s.steps:
                    break
                left = self.budget_left()
                if left is not None and left <= 0:
                    self.stop_reason = "time_budget"
                    break
                batch = nxt
                sched = jnp.zeros([], _I32)
                if s.plan.time_clock:
                    sched = jnp.asarray(min(s.horizon, int(self.elapsed() / float(s.time_budget)
                                                           * s.horizon)), _I32)
                self.state, alive, m = _traced(_stream_jit, s.plan, self.state, alive, batch,
                                               sched)
                pending.append((host_step, m))
                host_step += 1
                nxt = _next(it)     # overlaps with the update running on the device
                boundary = (len(pending) >= s.chunk_size or host_step % s.eval_every == 0 or (
                    s.checkpoint_every is not None and host_step % s.checkpoint_every == 0)
                    or nxt is None)
                if boundary:
                    n_done = len(pending)
                    ok = flush()
                    t_now = s.clock()
                    self.rate = (t_now - t_flush) / max(n_done, 1)
                    t_flush = t_now
                    if not ok:
                        return
                    if (s.problem.valid is not None or s.needs_monitor) and (
                            host_step % s.eval_every == 0) and self.evaluate():
                        self.stop_reason = "early_stopping"
                        return
                    self.maybe_checkpoint()
            else:
                continue
            break
        else:
            exhausted = True
        if not flush():
            return
        if exhausted and s.steps is not None and int(self.state.step) < s.steps and (
                self.stop_reason == "completed"):
            self.stop_reason = "data_exhausted"


def _next(it):
    try:
        return jax.device_put(next(it))
    except StopIteration:
        return None


def _traced(call, *args):
    """Runs a compiled call; errors raised while tracing user code become fit errors."""
    try:
        return call(*args)
    except (ValueError, TypeError) as e:
        if str(e).startswith(("loss_fn:", "fit:", "eval_fn:", "train_step:")):
            raise
        fail(_FN, f"calling `loss_fn` on a batch failed: {type(e).__name__}: "
             f"{shorten(str(e), 600)}", hint="Check that loss_fn(params, batch) matches the "
             "structure of `data` (a batch has the structure of `data`).", error=TypeError)


# --------------------------------------------------------------------------------------------
# The end


def _finish(loop: _Loop) -> tuple[TrainState, History]:
    s = loop.s
    final = int(loop.state.step)
    if s.problem.valid is not None and loop.last_eval != final and (
            loop.stop_reason in ("completed", "time_budget", "data_exhausted")) and (
            final > loop.start_step):
        # recorded only: controllers step on the regular evaluation schedule, so that a run
        # split in two (checkpoint, resume) steps them exactly like an uninterrupted one
        loop.evaluate(controllers=False)
    if s.early_stopping is not None and s.early_stopping.restore_best and loop.best is not None:
        params, model_state, opt_state = loop.best
        loop.state = loop.state.replace(params=params, model_state=model_state,
                                        opt_state=opt_state)
    if s.manager is not None:
        try:
            loop.maybe_checkpoint(force=True)
        finally:
            s.manager.close()
    if loop.bar is not None:
        loop.bar.close()
    if not s.user_divergence:
        # the default non-finite guard is fit's business, not part of the user's state
        loop.state = loop.state.replace(divergence=None)
    if loop.train:
        train = {k: np.concatenate([m[k] for m in loop.train]) for k in loop.train[0]
                 if s.user_divergence or k not in ("smoothed", "diverged")}
    else:
        train = {k: np.zeros([0], _F32) for k in STEP_METRICS}
    eval_keys = sorted({k for v in loop.ev_vals for k in v})
    history = History(
        steps=(np.concatenate(loop.steps).astype(np.int64) if loop.steps
               else np.zeros([0], np.int64)),
        train=train,
        eval_steps=np.asarray(loop.ev_steps, np.int64),
        eval={k: np.asarray([v.get(k, np.nan) for v in loop.ev_vals], _F32) for k in eval_keys},
        eval_time=np.asarray(loop.ev_time, np.float64),
        reductions=np.asarray(loop.reductions, np.int64),
        lr_scale=np.asarray(loop.ev_scale, _F32),
        stop_reason=loop.stop_reason, nonfinite_step=loop.nonfinite_step,
        best_step=loop.best_step, resumed_from=s.resumed_from, elapsed=loop.elapsed(),
        task=s.problem.name)
    return loop.state, history


def fit(loss_fn: Callable[..., Any] | None, optimizer: optax.GradientTransformation,
        state: Any, data: Any = None, *, steps: int | None = None,
        epochs: int | None = None, batch_size: int | None = None, key: Any = None,
        has_aux: bool = False, valid_data: Any = None,
        eval_fn: Callable[..., Any] | None = None, eval_every: int | None = None,
        chunk_size: int = 256, progress: bool = True,
        writer: Callable[[int, dict[str, float]], None] | None = None,
        plateau: Any = None, early_stopping: Any = None, divergence: Any = None,
        monitor: str = "val_loss", time_budget: float | None = None,
        schedule_clock: str = "step", schedule_horizon: int | None = None,
        clock: Callable[[], float] = time.monotonic, checkpoint_dir: str | None = None,
        checkpoint_every: int | None = None, checkpoint_on_damaged: str = "raise",
        mesh: Any = None, shard_params: bool = False) -> tuple[TrainState, History]:
    """Trains a model with the training kernel in scan-fused chunks; returns ``(state, history)``.

    Model (``state``): a :class:`TrainState` (continued), parameters (a pytree),
    :class:`jaxlr.Variables` (parameters + model state), an init function (``key`` initialises
    it), a flax nnx Module (``loss_fn(model, batch)``; get the trained module back with
    :func:`jaxlr.engine.trained_module`) or a :class:`jaxlr.Task` (``loss_fn=None`` uses the
    task's loss, ``data`` defaults to its training split). The loss convention is the one of
    :mod:`jaxlr.engine`.

    Data:
      * **in memory**: an array, tuple, dict (any pytree but a list) of arrays sharing the
        leading example axis. Each epoch is a fresh permutation drawn on device from ``key``
        (``fold_in(key, epoch)``); batches of ``batch_size`` are gathered on device inside the
        compiled loop; the partial last batch of an epoch is dropped (PyTorch
        ``drop_last=True``). The data order is a pure function of ``(key, step)``, so a resumed
        run sees exactly the batches of an uninterrupted one, and a finder candidate or a sweep
        trial with the same key trains on exactly these batches.
      * **a stream**: any other iterable of batches (a list of batches, a generator, a
        ``DataLoader``); the next batch is fetched and copied to the device while the current
        step runs. ``epochs`` re-iterates it; it is consumed from its current position when
        resuming.

    Steps: ``steps`` is the *total* number of train steps (``state.step`` counts them, so a
    resumed state continues to ``steps``); ``epochs`` (in-memory data) is converted with the
    number of full batches per epoch. Without either, a stream runs until exhausted and
    in-memory data until ``time_budget``.

    Evaluation: every ``eval_every`` steps (default: each epoch of in-memory data, else every
    ``chunk_size`` steps) and at the end (the final evaluation is recorded but does not step
    the controllers, so a run split by a checkpoint controls exactly like an uninterrupted
    one), ``eval_fn`` (default ``loss_fn``; a scalar or a dict of scalars) runs on
    ``valid_data`` (one batch, or a list of batches averaged by size); results are recorded as
    ``val_<name>``.

    Control:
      * ``plateau=jaxlr.controllers.reduce_on_plateau(...)`` is updated with ``monitor`` at each evaluation;
        its scale multiplies every update (and ``current_lr``); reductions go to
        ``History.reductions``.
      * ``early_stopping=jaxlr.early_stopping(...)`` stops training when it triggers and, with
        ``restore_best``, returns the parameters (and model state) of the best evaluation.
      * ``divergence=jaxlr.controllers.divergence(...)`` stops when the smoothed loss rises
        far above its best (the finders' rule), as if the loss were not finite.
      * ``monitor``: ``"val_<name>"`` of an evaluation metric, or a train metric name (its mean
        since the previous evaluation). An unknown name is an error before training.
      * A non-finite loss or gradient stops training; the returned state is the last finite
        one and ``History.nonfinite_step`` is the failing step.
      * ``time_budget`` (seconds, measured with ``clock`` from the start of ``fit``,
        compilation included) stops training when spent. With ``schedule_clock="time"`` the
        learning-rate schedule is evaluated at ``progress = elapsed / time_budget`` mapped onto
        its horizon (``jaxlr.schedules.horizon(schedule)`` or ``schedule_horizon``), so
        "cosine over 10 minutes" holds however fast the machine is. Inside a chunk, elapsed
        time is extrapolated from the previous chunk's speed; ``clock`` is injectable for
        deterministic tests.

    Checkpoints: with ``checkpoint_dir`` (checked before any work: a writable directory holding
    nothing but jaxlr checkpoints), the latest checkpoint there (if any) is restored first, and
    the state is saved every ``checkpoint_every`` steps and at the end (orbax). Resuming is
    bit-exact for in-memory data: 2N steps equal N steps, a restart (new process), and N more.
    A damaged newest step raises :class:`jaxlr.engine.CheckpointError` naming the step and why;
    ``checkpoint_on_damaged="fallback"`` resumes from the newest good step instead (with a
    warning; damaged steps are never deleted). If a save fails (a full disk), the error names
    the step and the directory and the state of the run is not lost: it is attached to the
    error as ``error.state``. The early-stopping "best parameters" are not checkpointed.

    Args:
      loss_fn: the loss (see :mod:`jaxlr.engine`); ``None`` with a Task.
      optimizer: a built optax / jaxlr optimizer (the state was, or will be, created with it).
      state: see "Model" above.
      data: see above.
      steps, epochs, batch_size: see above.
      key: a ``jax.random.key`` or an int seed: shuffles in-memory data (default: the state's
        key), initialises an init function, and is the state's key for a loss taking ``key``.
      has_aux: ``loss_fn`` returns ``(loss, aux)``.
      valid_data, eval_fn, eval_every: evaluation (see above).
      chunk_size: maximum number of steps fused in one compiled call (also the progress-bar
        and writer granularity).
      progress: show a tqdm bar (only on a TTY or in a notebook).
      writer: ``writer(step, scalars)`` called with the chunk's mean train metrics and with
        each evaluation (e.g. a TensorBoard ``SummaryWriter`` wrapper); host side only.
      plateau, early_stopping, divergence, monitor: controllers, see above.
      time_budget, schedule_clock, schedule_horizon, clock: the time budget, see above.
      checkpoint_dir, checkpoint_every, checkpoint_on_damaged: see above.
      mesh: data parallelism: a mesh with a ``"data"`` axis
        (``jaxlr.population.make_mesh(trials=1, data=n)``); parameters, optimizer state and
        in-memory examples are replicated, every batch is split over ``"data"`` (``batch_size``
        divisible by its size) and XLA all-reduces the gradients. The result equals one
        device's to float32 rounding (the sums are reduced in another order). ``None``
        (default): one device.
      shard_params: with ``mesh``: FSDP-style, split every parameter and optimizer-state
        array whose leading axis divides evenly over ``"data"`` instead of replicating it (the
        memory of the state is divided by the axis size; XLA gathers what each step needs).

    Returns:
      ``(state, history)``: the final :class:`TrainState` and a :class:`History`.

    Raises:
      ValueError / TypeError: bad arguments (named in the message), detected before training.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> x = jnp.linspace(-1, 1, 64)[:, None]
      >>> loss_fn = lambda p, b: jnp.mean((b[0] @ p - b[1]) ** 2)
      >>> opt = jaxlr.adam(0.1)
      >>> state, hist = jaxlr.fit(loss_fn, opt, jnp.zeros((1, 1)), (x, 3 * x), steps=100,
      ...                         batch_size=16, key=jax.random.key(0), progress=False)
      >>> int(state.step), hist.stop_reason, bool(hist.train["loss"][-1] < 1e-2)
      (100, 'completed', True)
    """
    t_start = clock() if callable(clock) else 0.0
    setup = _prepare(loss_fn, optimizer, state, data, steps=steps, epochs=epochs,
                     batch_size=batch_size, key=key, has_aux=has_aux, valid_data=valid_data,
                     eval_fn=eval_fn, eval_every=eval_every, chunk_size=chunk_size,
                     progress=progress, writer=writer, plateau=plateau,
                     early_stopping=early_stopping, divergence=divergence, monitor=monitor,
                     time_budget=time_budget, schedule_clock=schedule_clock,
                     schedule_horizon=schedule_horizon, clock=clock,
                     checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
                     checkpoint_on_damaged=checkpoint_on_damaged, t_start=t_start, mesh=mesh,
                     shard_params=shard_params)
    loop = _Loop(setup)
    try:
        if setup.problem.in_memory:
            _traced(loop.run_in_memory)
        else:
            loop.run_stream()
    except BaseException:
        if setup.manager is not None:
            setup.manager.close()
        raise
    return _finish(loop)
