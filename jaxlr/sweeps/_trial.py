"""One sweep trial of a task: the training kernel with a configuration's optimizer and schedule.

A :class:`TaskSpec` is the static description behind :func:`jaxlr.sweep_task`, cross-validation,
successive halving and PBT: the model (the engine's :class:`~jaxlr.engine.Model`), the data, the
optimizer (a registry name or ``(hparams, learning_rate) -> optimizer``) and the schedule (a
builder name or ``hparams -> schedule``). Each trial with key ``K`` is exactly

    ``jaxlr.fit(loss, optimizer(hparams), init, train, key=K, steps=steps, batch_size=...)``

(the same kernel, batches, initialisation ``fold_in(K, 0)`` and per-update keys); ``"seed"`` in
the hparams makes the key ``fold_in(K, seed)``. A trial whose loss or gradient is not finite is
frozen at its last finite state and flagged (``diverged``, ``diverged_step``).

:class:`Trainer` is the protocol of resumable trials (successive halving, PBT):
:func:`trainer_from_spec` gives the engine's.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlr import controllers, engine, optim, schedules
from jaxlr._utils._static import ByValue, value_key
from jaxlr._utils._validation import check_choice, check_steps, fail, shorten

__all__ = ["TaskSpec", "Trainer", "RefitResult", "refit", "resolve_task", "trainer_from_spec", "build_optimizer",
           "build_schedule", "resync_hyperparams", "STRUCTURAL", "lr_of"]

#: hyperparameter names that change the program structure in sweep_task (always static)
STRUCTURAL = ("optimizer", "schedule", "steps", "batch_size")


def lr_of(hparams: Mapping[str, Any]) -> Any:
    for k in ("learning_rate", "lr", "peak_value", "init_value"):
        if k in hparams:
            return hparams[k]
    return None


def build_optimizer(name_or_fn: Any, hparams: Mapping[str, Any],
                    learning_rate: Any) -> optax.GradientTransformation:
    """The optimizer of one trial (built inside the traced trial function)."""
    if callable(name_or_fn) and not isinstance(name_or_fn, str):
        return name_or_fn(hparams, learning_rate)
    return optim.optimizer_from_hparams(name_or_fn, hparams, learning_rate)


def build_schedule(schedule: Any, hparams: Mapping[str, Any], steps: int) -> Any:
    """The learning rate (a scalar or a schedule) of one trial.

    A builder name takes its arguments from the hparams by name; ``peak_value`` /
    ``init_value`` default to the learning rate, ``total_steps`` / ``decay_steps`` to the
    trial's number of steps.
    """
    if schedule is None:
        return lr_of(hparams)
    if callable(schedule) and not isinstance(schedule, str):
        return schedule(hparams)
    if schedule not in schedules.BUILDERS:
        fail("sweep_task", f"unknown schedule {shorten(schedule)}; choose one of "
             f"{', '.join(sorted(schedules.BUILDERS))}.",
             hint="Or pass a function hparams -> schedule.")
    builder = schedules.BUILDERS[schedule]
    lr = lr_of(hparams)
    defaults = {"peak_value": lr, "init_value": lr, "value": lr, "total_steps": steps,
                "decay_steps": steps}
    kw = {}
    for p in inspect.signature(builder).parameters.values():
        if p.name in hparams:
            kw[p.name] = hparams[p.name]
        elif p.name in defaults and (p.default is inspect.Parameter.empty
                                     or p.name in ("total_steps", "decay_steps")):
            kw[p.name] = defaults[p.name]
    return builder(**kw)


def resync_hyperparams(carried: Any, fresh: Any) -> Any:
    """Replaces the hyperparameters stored in jaxlr optimizer states of ``carried`` with those
    of ``fresh`` (a state just built from the current hparams), keeping counters and moments.

    jaxlr optimizers read their hyperparameters from the state; a carried state (successive
    halving rungs, PBT exploit/explore) must follow the trial's current hparams.
    """
    is_h = lambda x: isinstance(x, optim.HyperState)  # noqa: E731
    fresh_h = [x for x in jax.tree_util.tree_leaves(fresh, is_leaf=is_h) if is_h(x)]
    if not fresh_h:
        return carried
    it = iter(fresh_h)
    return jax.tree_util.tree_map(
        lambda x: x._replace(hyperparams=next(it).hyperparams) if is_h(x) else x, carried,
        is_leaf=is_h)


class Trainer(NamedTuple):
    """A resumable per-trial training run (pure functions, vmapped over trials).

    Attributes:
      init: ``init(hparams, key) -> state``.
      advance: ``advance(state, hparams, num_steps) -> state`` (``num_steps`` is a Python int).
      evaluate: ``evaluate(state, hparams) -> dict`` of scalar metrics; a ``"diverged"`` bool
        entry marks a failed run.
      set_hparams: optional ``set_hparams(state, hparams) -> state`` called after PBT changes a
        member's hyperparameters (for states that store them).
    """

    init: Callable
    advance: Callable
    evaluate: Callable
    set_hparams: Callable | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class TaskSpec(ByValue):
    """Everything :func:`sweep_task` needs to train one configuration.

    The arrays (``train``, ``valid``) are passed to compiled programs as arguments
    (:meth:`with_data`); the rest is static structure, compared by value.
    """

    model: engine.Model
    train: Any
    valid: list[Any] | None
    batch_size: int
    num_examples: int
    steps: int
    optimizer: Any = "adam"
    schedule: Any = None
    name: str = "task"
    #: every trial's batch over the mesh's ``"data"`` axis (see ``engine.Plan``), or None
    batch_sharding: Any = None

    def __jaxlr_value_key__(self) -> Any:
        return (self.model, self.batch_size, self.num_examples, self.steps, self.optimizer,
                self.schedule, self.name, self.batch_sharding)

    @property
    def data(self) -> tuple[Any, Any]:
        """The arrays of the spec (passed to compiled programs as arguments)."""
        return (self.train, self.valid)

    def with_data(self, data: tuple[Any, Any]) -> "TaskSpec":
        """The spec with its arrays replaced (by the traced arguments of a program)."""
        return dataclasses.replace(self, train=data[0], valid=data[1])

    # -- one trial ---------------------------------------------------------------------------

    def steps_of(self, hparams: Mapping[str, Any]) -> int:
        return int(hparams.get("steps", self.steps))

    def batch_of(self, hparams: Mapping[str, Any]) -> int:
        return int(hparams.get("batch_size", self.batch_size))

    def make_optimizer(self, hparams: Mapping[str, Any]) -> optax.GradientTransformation:
        sched = build_schedule(hparams.get("schedule", self.schedule), hparams,
                               self.steps_of(hparams))
        return build_optimizer(hparams.get("optimizer", self.optimizer), hparams, sched)

    def trial_key(self, hparams: Mapping[str, Any], key: jax.Array) -> jax.Array:
        if "seed" in hparams:
            key = jax.random.fold_in(key, jnp.asarray(hparams["seed"], jnp.int32))
        return key

    def init_state(self, hparams: Mapping[str, Any], key: jax.Array) -> engine.TrainState:
        """The trial's initial state, as ``fit(key=...)`` would build it."""
        key = self.trial_key(hparams, key)
        params, model_state = self.model.initialize(jax.random.fold_in(key, 0))
        opt = self.make_optimizer(hparams)
        return engine.TrainState(step=jnp.zeros([], jnp.int32), params=params,
                                 opt_state=opt.init(params), model_state=model_state, key=key,
                                 divergence=_NONFINITE.init())

    def advance(self, state: engine.TrainState, hparams: Mapping[str, Any], num_steps: int,
                start: Any = 0, index: jax.Array | None = None,
                ) -> tuple[engine.TrainState, jax.Array]:
        """``num_steps`` updates from global step ``start`` (the kernel); the batch losses.

        ``start`` is shared by the population (a Python int or an unbatched array): the
        batches of a rung are then gathered once for every trial of common random numbers.
        """
        opt = self.make_optimizer(hparams)
        state = state.replace(opt_state=resync_hyperparams(state.opt_state,
                                                           opt.init(state.params)))
        bs = self.batch_of(hparams)
        n = int(index.shape[0]) if index is not None else self.num_examples
        plan = engine.Plan(model=self.model, update=opt.update,
                           extra_args=engine.is_extra_args(opt), batch_size=bs,
                           num_examples=n, num_steps=int(num_steps), freeze=True,
                           pregather=engine.should_pregather(self.train, num_steps, bs),
                           batch_sharding=self.batch_sharding)
        state, rec = engine.run(plan, state, engine.Data(self.train, state.key, index),
                                None, start)
        return state, rec["train"]["loss"]

    def evaluate(self, state: engine.TrainState, data: Any = None) -> dict[str, jax.Array]:
        """``valid_<name>`` metrics on ``data`` (default: the validation split)."""
        batches = self.valid if data is None else [data]
        if batches is None:
            return {}
        vals = engine.evaluate(self.model, state, batches)
        return {f"valid_{k}": v for k, v in vals.items()}

    def train_fn(self, hparams: Mapping[str, Any], key: jax.Array,
                 index: jax.Array | None = None, eval_data: Any = None) -> dict[str, Any]:
        """Trains one configuration from scratch; its metrics and loss curve."""
        return self.run_trial(hparams, key, index, eval_data)[1]

    def run_trial(self, hparams: Mapping[str, Any], key: jax.Array,
              index: jax.Array | None = None, eval_data: Any = None,
              ) -> tuple[engine.TrainState, dict[str, Any]]:
        """``(final state, metrics)`` of one configuration trained from scratch."""
        steps = self.steps_of(hparams)
        state = self.init_state(hparams, key)
        state, losses = self.advance(state, hparams, steps, 0, index)
        n = int(index.shape[0]) if index is not None else self.num_examples
        window = max(1, min(steps, n // self.batch_of(hparams)))
        out: dict[str, Any] = {"train_loss": jnp.mean(losses[-window:])}
        out.update(self.evaluate(state, eval_data))
        out["diverged"] = state.divergence.diverged
        out["diverged_step"] = state.divergence.diverged_step
        out["curves"] = {"train_loss": losses}
        return state, out

    def train_fn_with_data(self, hparams: Mapping[str, Any], key: jax.Array,
                           data: tuple[Any, Any]) -> dict[str, Any]:
        """:meth:`train_fn` with the arrays as an argument (``Evaluator(data=spec.data)``)."""
        return self.with_data(data).train_fn(hparams, key)

    def refit(self, config: Mapping[str, Any], *, key: Any,
              steps: int | None = None) -> "RefitResult":
        """See :func:`jaxlr.refit`."""
        return refit(self, config, key=key, steps=steps)


#: sweep trials flag non-finite losses only (sticky): the divergence controller at threshold inf
_NONFINITE = controllers.divergence(threshold=float("inf"), smoothing=0.0)


def resolve_task(fn_name: str, task: Any, *, optimizer: Any = "adam", schedule: Any = None,
                 steps: int | None = None, batch_size: int | None = None) -> TaskSpec:
    """A :class:`TaskSpec` from a Task, a task name, or ``(init, loss, train[, valid[,
    metrics]])`` (read by the engine's one adapter)."""
    if isinstance(task, TaskSpec):
        return task
    if isinstance(task, str):
        task = engine.get_task(task)
    if isinstance(task, engine.Task):
        prob = engine.as_problem(fn_name, task, batch_size=batch_size)
        steps = steps if steps is not None else task.steps
    elif isinstance(task, (tuple, list)) and 3 <= len(task) <= 5:
        init, loss, train = task[:3]
        valid = task[3] if len(task) > 3 else None
        metrics = task[4] if len(task) > 4 else None
        if not callable(init) or not callable(loss):
            fail(fn_name, "a task tuple is (init, loss, train_data[, valid_data[, metrics]]) "
                 "with init(key) -> params and loss(params, batch) -> scalar.", error=TypeError)
        if batch_size is None:
            fail(fn_name, "`batch_size` is required with an (init, loss, data) tuple.",
                 error=TypeError)
        prob = engine.as_problem(fn_name, init, loss, train, valid_data=valid,
                                 batch_size=batch_size, eval_fn=metrics)
    else:
        fail(fn_name, f"`task` must be a jaxlr Task, a task name or a tuple (init, loss, "
             f"train_data[, valid_data[, metrics]]); got {type(task).__name__}.",
             error=TypeError)
    if prob.model.init_fn is None:
        fail(fn_name, "sweeps need an init function (each trial initialises its own "
             "parameters); got a parameter pytree.", hint="Pass init(key) -> params.",
             error=TypeError)
    if steps is None:
        fail(fn_name, "`steps` is required (number of optimizer updates per trial).",
             error=TypeError)
    check_steps(fn_name, steps=steps, minimum=1)
    if isinstance(optimizer, str):
        check_choice(fn_name, "optimizer", optimizer, tuple(optim.OPTIMIZERS))
    elif not callable(optimizer):
        fail(fn_name, f"`optimizer` must be a registered name ({', '.join(optim.OPTIMIZERS)}) "
             f"or a function (hparams, learning_rate) -> optimizer; got "
             f"{shorten(optimizer)}.", error=TypeError)
    return TaskSpec(model=prob.model, train=prob.train, valid=prob.valid,
                    batch_size=int(prob.batch_size), num_examples=int(prob.num_examples),
                    steps=int(steps), optimizer=optimizer, schedule=schedule, name=prob.name)


def trainer_from_spec(spec: TaskSpec, data: tuple[Any, Any] | None = None) -> Trainer:
    """The :class:`Trainer` of a ``sweep_task`` specification (validation metrics), with its
    arrays replaced by ``data`` (the traced arguments of a program)."""
    s = spec if data is None else spec.with_data(data)
    eval_data = None if s.valid is not None else s.train

    def evaluate(state, hparams):
        m = s.evaluate(state, eval_data)
        m["diverged"] = state.divergence.diverged
        return m

    def set_hparams(state, hparams):
        fresh = s.make_optimizer(hparams).init(state.params)
        return state.replace(opt_state=resync_hyperparams(state.opt_state, fresh))

    def advance(state, hparams, num_steps, start=None):
        start = state.step if start is None else start
        return s.advance(state, hparams, num_steps, start)[0]

    return Trainer(s.init_state, advance, evaluate, set_hparams)


def spec_key(spec: TaskSpec) -> Any:
    return value_key(spec)


@dataclasses.dataclass
class RefitResult:
    """A configuration retrained on the whole training set.

    Attributes:
      params, opt_state: the final training state (``state`` holds all of it).
      metrics: final metrics (``valid_*`` on the held-out validation split, ``train_loss``).
      curve: per-step training loss ``[steps]``.
      config: the hyperparameters used.
      diverged: whether training diverged (the state is then the last finite one).
      state: the final :class:`jaxlr.TrainState`.
    """

    params: Any
    opt_state: Any
    metrics: dict
    curve: np.ndarray
    config: dict
    diverged: bool
    state: Any = None


def _as_hparams(config: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in config.items():
        if isinstance(v, (bool, str)) or k in STRUCTURAL:
            out[k] = v
        elif isinstance(v, (int, np.integer)):
            out[k] = jnp.asarray(v, jnp.int32)
        elif isinstance(v, (float, np.floating)):
            out[k] = jnp.asarray(v, jnp.float32)
        else:
            out[k] = v
    return out


def _refit_program(spec: TaskSpec, static: tuple, dyn: dict, key: jax.Array, data: Any):
    hparams = {**dyn, **dict(static)}
    return spec.with_data(data).run_trial(hparams, key)


_refit_jit = jax.jit(_refit_program, static_argnums=(0, 1))


def refit(task: Any, config: Mapping[str, Any], *, key: Any, steps: int | None = None,
          optimizer: Any = "adam", schedule: Any = None,
          batch_size: int | None = None) -> RefitResult:
    """Trains ``config`` on the whole training set and returns the final state.

    With the same ``key`` as the sweep (common random numbers) and no cross-validation, the
    refit reproduces the sweep's trial exactly; after a cross-validated sweep it trains on all
    folds' data together.

    Args:
      task: a Task, task name, ``(init, loss, train[, valid[, metrics]])`` or the ``spec`` of a
        :func:`jaxlr.sweep_task` result (then ``optimizer``/``schedule`` come from it).
      config: hyperparameters, e.g. ``result.best_config``.
      key: PRNG key or int seed (init and batches).
      steps: training steps (default: the sweep's / task's).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> x = jnp.linspace(-1.0, 1.0, 32)[:, None]
      >>> task = (lambda key: {"w": jnp.zeros(1)},                      # init
      ...         lambda p, b: jnp.mean((b[0] @ p["w"] - 2.0 * b[1]) ** 2),  # loss
      ...         (x, x[:, 0]))                                            # training data
      >>> out = jaxlr.refit(task, {"learning_rate": 0.1}, key=0, steps=20, batch_size=8)
      >>> out.curve.shape, out.diverged, bool(out.curve[-1] < 0.1 * out.curve[0])
      ((20,), False, True)
    """
    fn = "refit"
    if not isinstance(config, Mapping):
        fail(fn, f"`config` must be a dict of hyperparameters; got {shorten(config)}.",
             error=TypeError)
    key = engine.as_key(fn, key)
    if isinstance(task, TaskSpec):
        spec = task
        if steps is not None:
            check_steps(fn, steps=steps, minimum=1)
            spec = dataclasses.replace(spec, steps=int(steps))
    else:
        if isinstance(task, str):
            task = engine.get_task(task)
        spec = resolve_task(fn, task, optimizer=optimizer, schedule=schedule, steps=steps,
                            batch_size=batch_size)
    hp = _as_hparams(config)
    static = tuple((k, v) for k, v in hp.items() if not isinstance(v, jax.Array))
    dyn = {k: v for k, v in hp.items() if isinstance(v, jax.Array)}
    state, out = _refit_jit(spec, static, dyn, key, spec.data)
    metrics = {k: float(v) for k, v in out.items()
               if k not in ("curves", "diverged", "diverged_step")}
    return RefitResult(params=state.params, opt_state=state.opt_state, metrics=metrics,
                       curve=np.asarray(out["curves"]["train_loss"]), config=dict(config),
                       diverged=bool(out["diverged"]), state=state)
