"""``fit``: scan-fused training chunks with evaluation, controllers, time budget and checkpoints.

The training loop runs on device: ``chunk_size`` steps are fused with ``lax.scan`` into one
compiled call (in-memory data is shuffled and gathered on device inside the scan), so the per-step
host and dispatch overhead disappears. Host-side work (progress bar, writer, evaluation,
controllers, checkpoints, the time budget) happens between chunks. Chunks end early at the next
event (evaluation, checkpoint, last step) without recompiling: the number of active steps of a
chunk is an argument of the compiled program.
"""

from __future__ import annotations

import functools
import sys
import time
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlr.engine import _data as _data
from jaxlr.optim import _optimizers as _opt
from jaxlr.optim._schedule_free import eval_params as _opt_eval_params
from jaxlr.engine._history import History
from jaxlr.engine._step import TrainState, _jit_eval, eval_step_fn, train_step_fn
from jaxlr._utils._validation import check_choice, check_positive, check_steps, fail

__all__ = ["History", "fit"]

_F32 = np.dtype("float32")
_I32 = np.dtype("int32")
_FN = "fit"


# --------------------------------------------------------------------------------------------
# helpers


def _is_in_memory(data: Any) -> bool:
    if isinstance(data, list) or data is None or hasattr(data, "__next__"):
        return False
    leaves = jax.tree_util.tree_leaves(data)
    return bool(leaves) and all(isinstance(x, (np.ndarray, jax.Array)) for x in leaves)


def _controller_arg(name: str, ctrl: Any, kind: str) -> Any:
    if ctrl is None:
        return None
    if not (hasattr(ctrl, "init") and hasattr(ctrl, "update")):
        fail(_FN, f"`{name}` must be a jaxlr controller; got {name}={ctrl!r}.",
             hint=f"Use jaxlr.{'reduce_on_plateau' if kind == 'plateau' else kind}(...).",
             error=TypeError)
    got = getattr(ctrl, "kind", kind)
    if got != kind:
        fail(_FN, f"`{name}` must be a {kind} controller; got a {got!r} controller.",
             hint="plateau=jaxlr.reduce_on_plateau(...), early_stopping=jaxlr.early_stopping(...)"
             ".")
    return ctrl


def _progress_bar(progress: bool, total: int | None, initial: int):
    if not progress:
        return None
    interactive = "ipykernel" in sys.modules or (hasattr(sys.stderr, "isatty")
                                                  and sys.stderr.isatty())
    if not interactive:
        return None
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415
    except ImportError:  # pragma: no cover - optional dependency
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True)


def _scalars(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if np.ndim(v) == 0}


def _weighted_mean(items: list[tuple[dict[str, np.ndarray], int]]) -> dict[str, np.ndarray]:
    total = sum(n for _, n in items)
    keys = items[0][0].keys()
    return {k: np.asarray(sum(np.asarray(m[k], np.float64) * n for m, n in items) / total,
                          _F32) for k in keys}


def _num_examples(batch: Any) -> int:
    leaves = jax.tree_util.tree_leaves(batch)
    return int(np.shape(leaves[0])[0]) if leaves and np.ndim(leaves[0]) else 1


def _schedule_horizon(state: TrainState, schedule_horizon: Any) -> int:
    if schedule_horizon is not None:
        check_steps(_FN, schedule_horizon=schedule_horizon, minimum=1)
        return int(schedule_horizon)
    if not _opt.has_hyper_state(state.opt_state):
        fail(_FN, "schedule_clock='time' needs a jaxlr optimizer (its schedule is evaluated at "
             "the time-based step).", hint="Use jaxlr.adam(schedule), jaxlr.sgd(schedule), ...")
    lr = _opt.learning_rate_schedule(state.opt_state)
    h = None
    if callable(lr):
        try:
            from jaxlr.schedules._base import horizon as _horizon  # noqa: PLC0415

            h = _horizon(lr)
        except Exception:  # noqa: BLE001 - not a jaxlr schedule: ask it directly
            method = getattr(lr, "horizon", None)
            h = method() if callable(method) else None
    if h is None:
        fail(_FN, "schedule_clock='time' needs the horizon of the learning-rate schedule (the "
             f"step after which it is constant); it is unknown for {lr!r}.",
             hint="Pass schedule_horizon=<steps> (e.g. the schedule's total_steps).")
    return int(h)


# --------------------------------------------------------------------------------------------
# compiled chunk programs


def _metric_zeros(step_fn, state, batch):
    shapes = jax.eval_shape(step_fn, state, batch)[1]
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


@functools.partial(jax.jit, static_argnames=("step_fn", "chunk_size", "batch_size",
                                             "time_clock"))
def _array_chunk(state, n, data, key, clock0, clock_rate, horizon, *, step_fn, chunk_size: int,
                 batch_size: int, time_clock: bool):
    """``n <= chunk_size`` steps over in-memory data fused in one compiled loop.

    ``n`` is traced (one program for every chunk length). The loop body is the plain step (no
    per-step select or cond, so XLA updates the carried buffers in place) and writes its metrics
    into ``[chunk_size]`` buffers; a non-finite step is detected from the returned ``finite``
    flags and the chunk is re-run up to it by the caller (the input state is not donated).
    """
    num_examples = jax.tree_util.tree_leaves(data)[0].shape[0]
    per_epoch = num_examples // batch_size
    num_epochs = chunk_size // per_epoch + 2
    e0 = state.step // per_epoch
    # The permutations of the epochs this chunk can touch, drawn once per chunk; identical to
    # jaxlr.engine._data.batch_indices(key, step, ...) for every step.
    perms = jax.vmap(lambda e: _data.epoch_permutation(key, e, num_examples))(
        e0 + jnp.arange(num_epochs, dtype=_I32))

    def one(st, i):
        t = st.step
        idx = jax.lax.dynamic_slice_in_dim(perms[t // per_epoch - e0],
                                           (t % per_epoch) * batch_size, batch_size)
        if time_clock:
            s = jnp.floor(clock0 + i.astype(_F32) * clock_rate)
            s = jnp.clip(s, 0.0, horizon.astype(_F32)).astype(_I32)
            st = st.replace(opt_state=_opt.set_schedule_step(st.opt_state, s))
        return step_fn(st, _data.take(data, idx))

    shapes = jax.eval_shape(one, state, jnp.zeros([], _I32))[1]
    bufs = jax.tree_util.tree_map(lambda x: jnp.zeros((chunk_size,) + x.shape, x.dtype), shapes)

    def body(i, carry):
        st, b = carry
        st, m = one(st, i)
        b = jax.tree_util.tree_map(lambda buf, v: buf.at[i].set(v), b, m)
        return st, b

    return jax.lax.fori_loop(0, n, body, (state, bufs))


@functools.partial(jax.jit, donate_argnums=(0,), static_argnames=("step_fn", "time_clock"))
def _guarded_step(state, alive, batch, sched_step, *, step_fn, time_clock: bool):
    """One step for the stream path; skipped after a non-finite step (``alive`` False)."""

    def do(st):
        if time_clock:
            st = st.replace(opt_state=_opt.set_schedule_step(st.opt_state, sched_step))
        return step_fn(st, batch)

    zeros = _metric_zeros(step_fn, state, batch)
    new, m = jax.lax.cond(alive, do, lambda s: (s, zeros), state)
    return new, alive & m["finite"], m


def _unalias(state: Any, *others: Any, copy_all: bool = False) -> Any:
    """Copies leaves of ``state`` that share a buffer with another leaf or with ``others``
    (a donated buffer may appear only once in a call); ``copy_all`` copies every leaf."""
    seen = {id(x) for o in others for x in jax.tree_util.tree_leaves(o)}

    def fix(x):
        if not isinstance(x, jax.Array):
            return x
        if copy_all or id(x) in seen:
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return jax.random.wrap_key_data(jnp.array(jax.random.key_data(x), copy=True),
                                                impl=jax.random.key_impl(x))
            return jnp.array(x, copy=True)
        seen.add(id(x))
        return x

    return jax.tree_util.tree_map(fix, state)


def _user_errors(call, *args, **kwargs):
    """Runs ``call``; errors raised while tracing the user's loss become clear fit errors."""
    try:
        return call(*args, **kwargs)
    except (ValueError, TypeError) as e:
        if str(e).startswith(("train_step:", "fit:", "eval_step:")):
            raise
        raise TypeError(
            f"{_FN}: calling `loss_fn` on a batch failed: {type(e).__name__}: {e}. Check that "
            "loss_fn(params, batch) matches the structure of `data` (a batch has the structure "
            "of `data` with batch_size examples).") from e


# --------------------------------------------------------------------------------------------


def fit(loss_fn: Callable[..., Any], optimizer: optax.GradientTransformation, state: Any,
        data: Any, *, steps: int | None = None, epochs: int | None = None,
        batch_size: int | None = None, key: jax.Array | None = None, has_aux: bool = False,
        valid_data: Any = None, eval_fn: Callable[..., Any] | None = None,
        eval_every: int | None = None, chunk_size: int = 256, progress: bool = True,
        writer: Callable[[int, dict[str, float]], None] | None = None,
        plateau: Any = None, early_stopping: Any = None, monitor: str = "val_loss",
        time_budget: float | None = None, schedule_clock: str = "step",
        schedule_horizon: int | None = None, clock: Callable[[], float] = time.monotonic,
        checkpoint_dir: str | None = None, checkpoint_every: int | None = None,
        ) -> tuple[TrainState, History]:
    """Trains ``state`` on ``data`` with scan-fused chunks; returns ``(state, history)``.

    Data:
      * **in memory**: an array, tuple, dict (any pytree but a list) of arrays sharing the
        leading example axis. Each epoch is a fresh permutation drawn on device from ``key``
        (``fold_in(key, epoch)``); batches of ``batch_size`` are gathered on device inside the
        scan (no host-to-device copy per step); the partial last batch of an epoch is dropped
        (PyTorch ``drop_last=True``). The data order is a pure function of ``(key, step)``, so
        a resumed run sees exactly the batches of an uninterrupted one.
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
    one), ``eval_fn`` (default ``loss_fn``; a scalar or a dict
    of scalars, see :func:`jaxlr.make_eval_step`) runs on ``valid_data`` (one batch, or a list
    of batches averaged by size); results are recorded as ``val_<name>``.

    Control:
      * ``plateau=jaxlr.reduce_on_plateau(...)`` is updated with ``monitor`` at each evaluation;
        its scale multiplies every update (and ``current_lr``); reductions go to
        ``History.reductions``.
      * ``early_stopping=jaxlr.early_stopping(...)`` stops training when it triggers and, with
        ``restore_best``, returns the parameters (and model state) of the best evaluation.
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

    Checkpoints: with ``checkpoint_dir``, the latest checkpoint there (if any) is restored
    first, and the state is saved every ``checkpoint_every`` steps and at the end (orbax).
    Resuming is bit-exact for in-memory data: 2N steps equal N steps, a restart (new process),
    and N more. The early-stopping "best parameters" are not checkpointed.

    Args:
      loss_fn: the loss (see :mod:`jaxlr.engine` for the calling convention).
      optimizer: the optax optimizer the state was (or will be) created with.
      state: a :class:`TrainState`, or parameters (a state is created; ``key`` becomes its
        key).
      data: see above.
      steps, epochs, batch_size, key: see above. ``key`` shuffles in-memory data (default: the
        state's key).
      has_aux: ``loss_fn`` returns ``(loss, aux)``.
      valid_data, eval_fn, eval_every: evaluation (see above).
      chunk_size: maximum number of steps fused in one compiled call (also the progress-bar
        and writer granularity).
      progress: show a tqdm bar (only on a TTY or in a notebook).
      writer: ``writer(step, scalars)`` called with the chunk's mean train metrics and with
        each evaluation (e.g. a TensorBoard ``SummaryWriter`` wrapper); host side only.
      plateau, early_stopping, monitor, time_budget, schedule_clock, schedule_horizon, clock:
        see above.
      checkpoint_dir, checkpoint_every: see above.

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
    t_start = clock()
    # ---------------------------------------------------------------- arguments
    if not callable(loss_fn):
        fail(_FN, f"`loss_fn` must be callable; got loss_fn={loss_fn!r}.", error=TypeError)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        fail(_FN, f"`optimizer` must be an optax GradientTransformation; got "
             f"optimizer={optimizer!r}.", error=TypeError)
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
        fail(_FN, f"`clock` must be a callable returning seconds; got clock={clock!r}.",
             error=TypeError)
    if writer is not None and not callable(writer):
        fail(_FN, f"`writer` must be callable as writer(step, scalars); got writer={writer!r}.",
             error=TypeError)
    plateau = _controller_arg("plateau", plateau, "plateau")
    early_stopping = _controller_arg("early_stopping", early_stopping, "early_stopping")
    if key is not None and not isinstance(key, jax.Array):
        fail(_FN, f"`key` must be a PRNG key (jax.random.key(0)); got key={key!r}.",
             error=TypeError)

    if not isinstance(state, TrainState):
        state = TrainState.create(state, optimizer, key=key)
    if plateau is not None and state.plateau is None:
        state = state.replace(plateau=plateau.init())
    if early_stopping is not None and state.early_stopping is None:
        state = state.replace(early_stopping=early_stopping.init())

    in_memory = _is_in_memory(data)
    if in_memory:
        if batch_size is None:
            fail(_FN, "in-memory `data` needs a `batch_size`; got batch_size=None.",
                 hint="e.g. batch_size=64 (or pass an iterable of batches).", error=TypeError)
        num_examples = _data.check_dataset(_FN, data, batch_size)
        per_epoch = num_examples // batch_size
        data = jax.tree_util.tree_map(jnp.asarray, data)
        data_key = key if key is not None else state.key
        if data_key is None:
            fail(_FN, "in-memory data is shuffled on device and needs a PRNG key; got key=None "
                 "and a state without key.", hint="Pass key=jax.random.key(0).",
                 error=TypeError)
        if epochs is not None:
            steps = epochs * per_epoch
        if steps is None and time_budget is None:
            fail(_FN, "give `steps`, `epochs` or `time_budget` for in-memory data.",
                 error=TypeError)
        if eval_every is None:
            eval_every = per_epoch
        sample_batch = jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct((batch_size,) + a.shape[1:], a.dtype), data)
    else:
        if data is None or not hasattr(data, "__iter__"):
            fail(_FN, f"`data` must be arrays (a pytree of arrays) or an iterable of batches; "
                 f"got {type(data).__name__}.", error=TypeError)
        if batch_size is not None:
            fail(_FN, f"`batch_size={batch_size}` applies to in-memory arrays; `data` is an "
                 f"iterable of batches ({type(data).__name__}).",
                 hint="Drop batch_size, or pass the arrays themselves.")
        if eval_every is None:
            eval_every = chunk_size
        sample_batch = None
        data_key = None

    time_clock = schedule_clock == "time"
    horizon = _schedule_horizon(state, schedule_horizon) if time_clock else 0
    if not time_clock and _opt.has_hyper_state(state.opt_state):
        # a state coming from a time-clock run keeps its last time-based step: count again
        state = state.replace(opt_state=_opt.set_schedule_step(state.opt_state, -1))

    step_fn = train_step_fn(loss_fn, optimizer, has_aux=has_aux)
    eval_fn_ = eval_step_fn(eval_fn if eval_fn is not None else loss_fn,
                            has_aux=has_aux if eval_fn is None else False)

    # ------------------------------------------------------------- checkpoint resume
    resumed_from = None
    manager = None
    if checkpoint_dir is not None:
        from jaxlr.engine import _checkpoint as _ckpt  # noqa: PLC0415

        manager = _ckpt.CheckpointManager(checkpoint_dir)
        latest = manager.latest_step()
        if latest is not None:
            state = manager.restore(state, latest)
            resumed_from = int(state.step)

    # ------------------------------------------------------------- preflight & monitor check
    valid_batches = None
    if valid_data is not None:
        valid_batches = (list(valid_data) if isinstance(valid_data, list) else [valid_data])
        if not valid_batches:
            fail(_FN, "`valid_data` is an empty list.")
    needs_monitor = plateau is not None or early_stopping is not None
    # Metric names are checked by abstract evaluation, only when a monitor needs them (a trace
    # costs more than a short fit on a small model).
    train_names = None
    if needs_monitor and isinstance(monitor, str) and not monitor.startswith("val_") and (
            in_memory):
        train_names = set(_user_errors(jax.eval_shape, step_fn, state, sample_batch)[1])
    eval_names: set[str] = set()
    if valid_batches is not None and needs_monitor:
        try:
            eval_names = {"val_" + k for k in jax.eval_shape(eval_fn_, state, valid_batches[0])}
        except (ValueError, TypeError) as e:
            if str(e).startswith("eval_step:"):
                raise
            fail(_FN, f"evaluating on `valid_data` failed: {type(e).__name__}: {e}",
                 hint="eval_fn (default: loss_fn) must accept a batch of `valid_data`.",
                 error=TypeError)
    if needs_monitor:
        if not isinstance(monitor, str):
            fail(_FN, f"`monitor` must be a metric name; got monitor={monitor!r}.",
                 error=TypeError)
        if monitor.startswith("val_") and monitor not in eval_names:
            known = sorted(eval_names) or ["(none: no valid_data)"]
            fail(_FN, f"`monitor={monitor!r}` is not produced by the evaluation; it produces "
                 f"{', '.join(known)}.", hint="Pass valid_data=... (and eval_fn) or monitor a "
                 "train metric such as monitor='loss'.")
        if not monitor.startswith("val_") and train_names is not None and (
                monitor not in train_names):
            fail(_FN, f"`monitor={monitor!r}` is not a metric fit produces; known: "
                 f"{', '.join(sorted(eval_names | train_names))}.")

    # ------------------------------------------------------------- loop state
    recs_m: list[dict[str, np.ndarray]] = []
    recs_steps: list[np.ndarray] = []
    ev_steps: list[int] = []
    ev_vals: list[dict[str, float]] = []
    ev_time: list[float] = []
    ev_scale: list[float] = []
    reductions: list[int] = []
    stop_reason = "completed"
    nonfinite_step = None
    best_step = None
    best_snapshot = None
    since_eval: list[dict[str, np.ndarray]] = []
    eval_jit = functools.partial(_jit_eval, step=eval_fn_)
    plateau_update = jax.jit(plateau.update) if plateau is not None else None
    es_update = jax.jit(early_stopping.update) if early_stopping is not None else None
    start_step = int(state.step)
    last_eval_step = start_step if resumed_from is not None else -1
    bar = _progress_bar(progress, steps, start_step)
    rate: float | None = None  # seconds per step (for the time clock and budget)

    def elapsed() -> float:
        return clock() - t_start

    def record(ms: dict[str, np.ndarray], steps_done: np.ndarray) -> None:
        recs_m.append(ms)
        recs_steps.append(steps_done)
        since_eval.append(ms)
        if writer is not None and steps_done.size:
            writer(int(steps_done[-1]) + 1, {k: float(np.mean(v)) for k, v in ms.items()
                                             if v.ndim == 1})
        if bar is not None and steps_done.size:
            bar.update(int(steps_done.size))
            bar.set_postfix(loss=f"{float(ms['loss'][-1]):.4g}", lr=f"{float(ms['lr'][-1]):.3g}")

    def evaluate(st: TrainState, controllers: bool = True) -> bool:
        """Runs evaluation + controllers; returns True to stop (early stopping)."""
        nonlocal st_box, best_step, best_snapshot, last_eval_step
        step_now = int(st.step)
        last_eval_step = step_now
        vals: dict[str, float] = {}
        if valid_batches is not None:
            # schedule-free optimizers evaluate at their averaged point; others at params
            st_eval = st.replace(params=_opt_eval_params(st.opt_state, st.params))
            items = [(jax.device_get(eval_jit(st_eval, b)), _num_examples(b))
                     for b in valid_batches]
            vals = {"val_" + k: float(v) for k, v in _weighted_mean(items).items()}
        if since_eval:
            cat = {k: np.concatenate([m[k] for m in since_eval]) for k in since_eval[0]}
            train_means = {k: float(np.mean(v)) for k, v in cat.items() if v.ndim == 1}
        else:
            train_means = {}
        since_eval.clear()
        metric = None
        if needs_monitor and controllers:
            metric = vals.get(monitor, train_means.get(monitor))
            if metric is None:
                fail(_FN, f"`monitor={monitor!r}` is not a metric fit produces; known: "
                     f"{', '.join(sorted(set(vals) | set(train_means)))}.")
        stop = False
        if plateau_update is not None and controllers:
            new_p = plateau_update(st.plateau, jnp.asarray(metric, _F32))
            if bool(new_p.reduced):
                reductions.append(step_now)
            st = st.replace(plateau=new_p)
        if es_update is not None and controllers:
            new_e = es_update(st.early_stopping, jnp.asarray(metric, _F32))
            if bool(new_e.improved):
                best_step = step_now
                if early_stopping.restore_best:
                    best_snapshot = jax.tree_util.tree_map(
                        jnp.copy, (st.params, st.model_state, st.opt_state))
            st = st.replace(early_stopping=new_e)
            stop = bool(new_e.stop)
        ev_steps.append(step_now)
        ev_vals.append(vals)
        ev_time.append(elapsed())
        ev_scale.append(float(st.plateau.scale) if st.plateau is not None else 1.0)
        if writer is not None and vals:
            writer(step_now, vals)
        st_box = st
        return stop

    def maybe_checkpoint(st: TrainState, force: bool = False) -> None:
        if manager is None:
            return
        s = int(st.step)
        if force or (checkpoint_every is not None and s % checkpoint_every == 0):
            if manager.latest_step() != s:
                manager.save(st, s)

    def budget_left() -> float | None:
        return None if time_budget is None else float(time_budget) - elapsed()

    def clock_args(n_steps_hint: int):
        if not time_clock:
            return jnp.zeros([], _F32), jnp.zeros([], _F32)
        c0 = elapsed() / float(time_budget) * horizon
        r = 0.0 if rate is None else rate / float(time_budget) * horizon
        return jnp.asarray(c0, _F32), jnp.asarray(r, _F32)

    def next_event(s: int) -> int:
        """Steps until the next evaluation/checkpoint/end (a chunk ends there)."""
        n = chunk_size
        if steps is not None:
            n = min(n, steps - s)
        if valid_batches is not None or needs_monitor:
            n = min(n, eval_every - (s % eval_every))
        if checkpoint_every is not None:
            n = min(n, checkpoint_every - (s % checkpoint_every))
        left = budget_left()
        if left is not None and rate is not None and rate > 0:
            n = min(n, max(1, int(left / rate)))
        return max(n, 1)

    # fit never consumes the caller's arrays: the compiled chunks donate a private copy.
    st_box = _unalias(state, copy_all=True)
    alive = jnp.asarray(True)

    # ------------------------------------------------------------- main loop: in-memory
    if in_memory:
        fast_step = train_step_fn(loss_fn, optimizer, has_aux=has_aux, skip_nonfinite=False)

        def run_chunk(st, n, c0, cr):
            st, ms = _array_chunk(st, jnp.asarray(n, _I32), data, data_key, c0, cr,
                                  jnp.asarray(horizon, _I32), step_fn=fast_step,
                                  chunk_size=chunk_size, batch_size=batch_size,
                                  time_clock=time_clock)
            return st, {k: v[:n] for k, v in jax.device_get(ms).items()}

        while True:
            s = int(st_box.step)
            if steps is not None and s >= steps:
                break
            left = budget_left()
            if left is not None and left <= 0:
                stop_reason = "time_budget"
                break
            n = next_event(s)
            c0, cr = clock_args(n)
            t0 = clock()
            new_state, ms = _user_errors(run_chunk, st_box, n, c0, cr)
            t1 = clock()
            rate = (t1 - t0) / n
            finite = np.asarray(ms["finite"])
            if not finite.all():
                bad = int(np.argmin(finite))
                # re-run the chunk up to the failing step: the last finite state, bit for bit
                if bad > 0:
                    st_box, ms = run_chunk(st_box, bad, c0, cr)
                else:
                    ms = {k: np.asarray(v)[:0] for k, v in ms.items()}
                record({k: np.asarray(v) for k, v in ms.items()}, s + np.arange(bad))
                nonfinite_step = s + bad
                stop_reason = "nonfinite"
                warnings.warn(f"fit: the loss or gradient became non-finite at step "
                              f"{nonfinite_step}; returning the last finite state (after "
                              f"{nonfinite_step} steps).", RuntimeWarning, stacklevel=2)
                break
            st_box = new_state
            record({k: np.asarray(v) for k, v in ms.items()}, s + np.arange(n))
            s = int(st_box.step)
            at_eval = (valid_batches is not None or needs_monitor) and s % eval_every == 0
            if at_eval and evaluate(st_box):
                stop_reason = "early_stopping"
                break
            maybe_checkpoint(st_box)
    # ------------------------------------------------------------- main loop: stream
    else:
        guarded = functools.partial(_guarded_step, step_fn=step_fn, time_clock=time_clock)
        passes = epochs if epochs is not None else 1
        pending: list[tuple[int, dict[str, jax.Array]]] = []
        checked_monitor = False

        def flush() -> bool:
            """Pulls pending metrics to the host; returns False if a step was non-finite."""
            nonlocal nonfinite_step, stop_reason
            if not pending:
                return True
            host = jax.device_get([m for _, m in pending])
            first = pending[0][0]
            pending.clear()
            fin = np.array([bool(m["finite"]) for m in host])
            good = int(np.argmin(fin)) if not fin.all() else len(host)
            cat = {k: np.asarray([m[k] for m in host[:good]]) for k in host[0]}
            record(cat, first + np.arange(good))
            if good < len(host):
                nonfinite_step = first + good
                stop_reason = "nonfinite"
                warnings.warn(f"fit: the loss or gradient became non-finite at step "
                              f"{nonfinite_step}; returning the last finite state.",
                              RuntimeWarning, stacklevel=3)
                return False
            return True

        done = False
        exhausted = False
        host_step = int(st_box.step)
        t_flush = clock()
        for _ in range(passes):
            it = iter(data)
            try:
                nxt = jax.device_put(next(it))
            except StopIteration:
                break
            while nxt is not None:
                s = host_step
                if steps is not None and s >= steps:
                    done = True
                    break
                left = budget_left()
                if left is not None and left <= 0:
                    stop_reason = "time_budget"
                    done = True
                    break
                batch = nxt
                if not checked_monitor and needs_monitor:
                    train_names = set(_user_errors(jax.eval_shape, step_fn, st_box, batch)[1])
                    if needs_monitor and not monitor.startswith("val_") and (
                            monitor not in train_names):
                        fail(_FN, f"`monitor={monitor!r}` is not a metric fit produces; known: "
                             f"{', '.join(sorted(eval_names | train_names))}.")
                    checked_monitor = True
                sched = jnp.zeros([], _I32)
                if time_clock:
                    sched = jnp.asarray(min(horizon, int(elapsed() / float(time_budget)
                                                         * horizon)), _I32)
                st_box, alive, m = _user_errors(guarded, st_box, alive, batch, sched)
                pending.append((s, m))
                host_step = s + 1
                try:
                    nxt = jax.device_put(next(it))  # overlaps with the step running on device
                except StopIteration:
                    nxt = None
                boundary = (len(pending) >= chunk_size or host_step % eval_every == 0 or (
                    checkpoint_every is not None and host_step % checkpoint_every == 0)
                    or nxt is None)
                if boundary:
                    n_done = len(pending)
                    ok = flush()
                    t_now = clock()
                    rate = (t_now - t_flush) / max(n_done, 1)
                    t_flush = t_now
                    if not ok:
                        done = True
                        break
                    if (valid_batches is not None or needs_monitor) and (
                            host_step % eval_every == 0):
                        if evaluate(st_box):
                            stop_reason = "early_stopping"
                            done = True
                            break
                    maybe_checkpoint(st_box)
            if done:
                break
        else:
            exhausted = True
        if not flush() and stop_reason != "nonfinite":
            stop_reason = "nonfinite"
        if exhausted and steps is not None and int(st_box.step) < steps and (
                stop_reason == "completed"):
            stop_reason = "data_exhausted"

    # ------------------------------------------------------------- wrap up
    final_step = int(st_box.step)
    if valid_batches is not None and last_eval_step != final_step and (
            stop_reason in ("completed", "time_budget", "data_exhausted")) and (
            final_step > start_step):
        # recorded only: controllers step on the regular evaluation schedule, so that a run
        # split in two (checkpoint, resume) steps them exactly like an uninterrupted one
        evaluate(st_box, controllers=False)
    if (early_stopping is not None and early_stopping.restore_best
            and best_snapshot is not None):
        params, model_state, opt_state = best_snapshot
        st_box = st_box.replace(params=params, model_state=model_state, opt_state=opt_state)
    if manager is not None:
        maybe_checkpoint(st_box, force=True)
        manager.close()
    if bar is not None:
        bar.close()

    train = ({k: np.concatenate([m[k] for m in recs_m]) for k in recs_m[0]} if recs_m
             else {k: np.zeros([0], _F32) for k in ("loss", "lr", "grad_norm", "update_norm",
                                                   "finite")})
    eval_keys = sorted({k for v in ev_vals for k in v})
    history = History(
        steps=(np.concatenate(recs_steps).astype(np.int64) if recs_steps
               else np.zeros([0], np.int64)),
        train=train,
        eval_steps=np.asarray(ev_steps, np.int64),
        eval={k: np.asarray([v.get(k, np.nan) for v in ev_vals], _F32) for k in eval_keys},
        eval_time=np.asarray(ev_time, np.float64),
        reductions=np.asarray(reductions, np.int64),
        lr_scale=np.asarray(ev_scale, _F32),
        stop_reason=stop_reason, nonfinite_step=nonfinite_step, best_step=best_step,
        resumed_from=resumed_from, elapsed=elapsed())
    return st_box, history

