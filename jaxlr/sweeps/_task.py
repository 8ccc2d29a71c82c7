"""Sweeps of a task's training run, batteries included: ``sweep_task`` and its config files.

:func:`sweep_task` builds the per-trial training run from a task (:class:`~jaxlr.sweeps._trial.
TaskSpec`: the training kernel with the trial's optimizer and schedule) and runs it with the
chosen strategy: a sampled or grid search (:func:`jaxlr.sweep`'s evaluator), k-fold
cross-validation vectorised over folds, successive halving, population-based training or an Optuna
search. :func:`sweep_from_config` runs it from plain data (a TOML/YAML file).
"""

from __future__ import annotations

import dataclasses

from typing import Any, Callable, Mapping

import jax
import numpy as np

from jaxlr import engine, optim, population
from jaxlr._utils._validation import check_choice, fail, shorten
from jaxlr.sweeps import _space as space_lib
from jaxlr.sweeps._config import check_sweep_config
from jaxlr.sweeps._cv import cv_train_fn
from jaxlr.sweeps._evaluate import Evaluator, columns, make_result, trial_keys
from jaxlr.sweeps._optuna import optuna_search
from jaxlr.sweeps._result import SweepResult
from jaxlr.sweeps._strategies import pbt, successive_halving
from jaxlr.sweeps._trial import STRUCTURAL, TaskSpec, lr_of, resolve_task

__all__ = ["sweep_task", "task_train_fn", "sweep_from_config", "STRATEGIES"]

STRATEGIES = ("grid", "random", "halton", "sobol", "successive_halving", "pbt", "tpe", "gp",
              "cmaes")


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
        jaxlr.controllers.plateau_transform(jaxlr.controllers.reduce_on_plateau(factor=hp["factor"])))``.
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
    fn, data = cv_train_fn(spec, folds, key=engine.as_key("task_train_fn", fold_key
                                                          if fold_key is not None else 0))
    return lambda hparams, key: fn(hparams, key, data)


def _check_space_for_task(fn_name: str, spec: TaskSpec, space: Any) -> None:
    names = set(space.columns) if isinstance(space, space_lib.Grid) else set(space)
    if spec.schedule is None and not callable(spec.optimizer) and lr_of(
            {k: 0 for k in names}) is None:
        fail(fn_name, "the space has no 'learning_rate' and no schedule was given; got space "
             f"names {sorted(names)}.", hint="Add 'learning_rate': jaxlr.loguniform(1e-4, 1e-1) "
             "or pass schedule=.")
    if "optimizer" in names and isinstance(space, Mapping):
        v = space["optimizer"]
        vals = v.values if isinstance(v, space_lib.Choice) else [v]
        for o in vals:
            if isinstance(o, str):
                check_choice(fn_name, "optimizer", o, tuple(optim.OPTIMIZERS))


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


def sweep_task(task: Any, *, space: Any, key: Any, optimizer: Any = "adam",
               schedule: Any = None, steps: int | None = None, batch_size: int | None = None,
               strategy: str = "random", num_trials: int | None = None,
               metric: str | None = None, mode: str | None = None, folds: int | None = None,
               seeds: str = "common", chunk_size: int | None = None, mesh: Any = None,
               devices: Any = None,
               grid_points: int | Mapping[str, int] | None = None,
               options: Mapping[str, Any] | None = None) -> SweepResult:
    """Sweeps hyperparameters of a task's training run, batteries included.

    Builds the per-trial training run (:func:`task_train_fn`: the training kernel with the
    trial's optimizer and schedule, on-device batches, divergence freezing, validation metrics;
    trial ``K`` is exactly ``jaxlr.fit(..., key=K)`` with that configuration) and runs it with
    the chosen strategy. Names ``optimizer``, ``schedule``, ``steps``
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
      chunk_size, mesh, devices: see :func:`jaxlr.sweep`.
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
    key = engine.as_key("sweep_task", key)
    mesh = population.resolve_mesh("sweep_task", mesh, devices)
    split = population.batch_sharding(mesh, spec.batch_size, fn="sweep_task")
    if split is not None:           # each trial's batch over the mesh's "data" axis
        spec = dataclasses.replace(spec, batch_sharding=split)
    if strategy in ("successive_halving", "pbt"):
        fn = successive_halving if strategy == "successive_halving" else pbt
        res = fn(spec, space, num_trials=num_trials, key=key, metric=metric, mode=mode,
                 chunk_size=chunk_size, mesh=mesh if mesh is not None else "none", **options)
        res.spec = spec
        return res
    train_fn, data = spec.train_fn_with_data, spec.data
    if folds is not None:
        train_fn, data = cv_train_fn(spec, folds, key=jax.random.fold_in(key, 2))
    if strategy in ("tpe", "gp", "cmaes"):
        res = optuna_search(train_fn, space, num_trials=num_trials, key=key, sampler=strategy,
                            metric=metric, mode=mode, chunk_size=chunk_size,
                            mesh=mesh if mesh is not None else "none", static=STRUCTURAL,
                            data=data, **options)
    else:
        if options:
            fail("sweep_task", f"strategy={strategy!r} takes no options; got "
                 f"{shorten(options)}.")
        cols, desc, static = columns("sweep_task", space, num_trials,
                                     jax.random.fold_in(key, 1), strategy, grid_points)
        n = len(next(iter(cols.values())))
        keys, common = trial_keys("sweep_task", key, n, seeds)
        ev = Evaluator("sweep_task", train_fn, static, chunk_size=chunk_size, mesh=mesh,
                       data=data)
        metrics, curves = ev(cols, keys, common)
        res = make_result("sweep_task", cols, desc, metrics, curves, metric, mode,
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
    :func:`jaxlr.sweeps.space_from_config`), ``strategy``, ``num_trials``, ``optimizer``, ``schedule``
    (a jaxlr schedule builder name), ``steps``, ``batch_size``, ``metric``, ``mode``, ``folds``,
    ``seeds``, ``chunk_size``, ``grid_points``, ``seed`` (used when ``key`` is None) and
    ``options`` (strategy options). Every key's kind and range is checked before any work
    starts (:func:`jaxlr.sweeps._config.check_sweep_config`).

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
    cfg = check_sweep_config(config, strategies=STRATEGIES, optimizers=tuple(optim.OPTIMIZERS))
    seed = cfg.pop("seed", 0)
    key = engine.as_key("sweep_from_config", seed if key is None else key)
    task = cfg.pop("task", "digits-mlp")
    if isinstance(task, str):
        task = engine.get_task(task)
    return sweep_task(task, key=key, **cfg)

