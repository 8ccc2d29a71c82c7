"""Bayesian optimisation through Optuna with batched ask/tell (Optuna is imported lazily).

Each batch of ``batch_size`` asked trials is evaluated in one vectorised call (the same compiled
program for every batch: the last, smaller batch is padded), then told back to the study. TPE
(``constant_liar`` so a batch spreads out), GP and CMA-ES samplers are selectable by name.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np

from jaxlr import engine, population
from jaxlr._utils._validation import check_choice, check_steps, fail, shorten
from jaxlr.sweeps import _space as space_lib
from jaxlr.sweeps._evaluate import (Evaluator, make_result, pick_metric, split_output,
                                    static_names_of, trial_keys)
from jaxlr.sweeps._result import SweepResult, _default_mode

__all__ = ["optuna_search"]

SAMPLERS = ("tpe", "gp", "cmaes", "random")


def _import_optuna(fn: str):
    try:
        import optuna
    except ImportError as e:
        raise ImportError(f"{fn}: Bayesian optimisation needs Optuna: "
                          "`pip install 'jaxlr[optuna]'` (or `pip install optuna`).") from e
    return optuna


def _distributions(optuna, space: Mapping[str, Any]) -> tuple[dict, dict]:
    dists, fixed = {}, {}
    d = optuna.distributions
    for name, v in space.items():
        if isinstance(v, space_lib.LogUniform):
            dists[name] = d.FloatDistribution(v.low, v.high, log=True)
        elif isinstance(v, space_lib.Uniform):
            dists[name] = d.FloatDistribution(v.low, v.high)
        elif isinstance(v, space_lib.IntUniform):
            dists[name] = d.IntDistribution(v.low, v.high, log=v.log)
        elif isinstance(v, space_lib.Choice):
            dists[name] = d.CategoricalDistribution(list(v.values))
        else:
            fixed[name] = v
    return dists, fixed


def _sampler(optuna, fn: str, sampler: Any, seed: int):
    if not isinstance(sampler, str):
        return sampler
    check_choice(fn, "sampler", sampler, SAMPLERS)
    s = optuna.samplers
    if sampler == "tpe":
        return s.TPESampler(seed=seed, constant_liar=True)
    if sampler == "random":
        return s.RandomSampler(seed=seed)
    if sampler == "gp":
        try:
            return s.GPSampler(seed=seed)
        except ImportError as e:  # pragma: no cover - depends on optional packages
            raise ImportError(f"{fn}: sampler='gp' needs torch and scipy "
                              "(`pip install torch scipy`).") from e
    try:
        import cmaes  # noqa: F401
    except ImportError as e:
        raise ImportError(f"{fn}: sampler='cmaes' needs the `cmaes` package "
                          "(`pip install cmaes`).") from e
    return s.CmaEsSampler(seed=seed)


def optuna_search(train_fn: Callable[[dict, jax.Array], Any], space: Mapping[str, Any], *,
                  num_trials: int, key: jax.Array, sampler: Any = "tpe", batch_size: int = 8,
                  metric: str | None = None, mode: str | None = None, seed: int | None = None,
                  chunk_size: int | None = None, mesh: Any = None, devices: Any = None,
                  seeds: str = "common",
                  static: Sequence[str] = (), study: Any = None, data: Any = None
                  ) -> SweepResult:
    """Bayesian optimisation with Optuna, each batch of asked trials evaluated in one call.

    Args:
      train_fn: ``train_fn(hparams, key) -> metrics`` as in :func:`jaxlr.sweep`.
      space: dict space (loguniform -> log float, uniform -> float, int_uniform -> int,
        choice -> categorical; constants are passed unchanged).
      num_trials: total trials.
      key: PRNG key of the trials (common random numbers by default).
      sampler: ``"tpe"`` (with ``constant_liar``), ``"gp"``, ``"cmaes"`` (needs ``cmaes``),
        ``"random"``, or an ``optuna.samplers.BaseSampler``.
      batch_size: trials asked (and evaluated together) per round.
      metric, mode: objective and direction (default ``valid_loss``, minimised).
      seed: sampler seed (default: drawn from ``key``).
      static: names that are static (grouped) in addition to non-numeric choices.
      study: an existing ``optuna.Study`` to continue (its direction must match ``mode``).
      data: optional pytree passed as ``train_fn(hparams, key, data)`` (see
        :func:`jaxlr.sweep`).

    Returns:
      a :class:`SweepResult` (trials in ask order; ``result.study`` is the Optuna study).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> def f(hp, key):
      ...     return {"loss": (jax.numpy.log10(hp["lr"]) + 2.0) ** 2}
      >>> r = jaxlr.optuna_search(f, {"lr": jaxlr.loguniform(1e-4, 1.0)}, num_trials=16,
      ...                         batch_size=8, key=jax.random.key(0), seed=0)
      >>> len(r), r.strategy
      (16, 'optuna-tpe')
    """
    fn = "optuna_search"
    optuna = _import_optuna(fn)
    space = space_lib._dims(fn, space)
    if isinstance(num_trials, bool) or not isinstance(num_trials, (int, np.integer)):
        fail(fn, f"`num_trials` must be an int; got num_trials={shorten(num_trials)}.",
             error=TypeError)
    if num_trials < 1:
        fail(fn, f"`num_trials` must be >= 1; got num_trials={shorten(num_trials)}.")
    check_steps(fn, batch_size=batch_size, minimum=1)
    key = engine.as_key(fn, key)
    mesh = population.resolve_mesh(fn, mesh, devices)
    if seed is None:
        seed = int(jax.random.randint(jax.random.fold_in(key, 4), (), 0, 2**31 - 1))
    dists, fixed = _distributions(optuna, space)
    static_names = static_names_of(space, static)
    # metric and direction from the output structure of one configuration
    probe = space_lib.sample(space, 1, key=key)
    probe_hp = {k: (v[0] if isinstance(v, np.ndarray) and v.dtype == object else
                    (v[0].item() if k in static_names else v[0])) for k, v in probe.items()}
    call = (lambda h, d: train_fn(h, key)) if data is None else (
        lambda h, d: train_fn(h, key, d))
    shapes = jax.eval_shape(lambda h, d: call({**h, **{k: probe_hp[k] for k in static_names}},
                                              d),
                            {k: v for k, v in probe_hp.items() if k not in static_names}, data)
    m_shapes, _ = split_output(fn, shapes)
    metric = pick_metric(fn, m_shapes, metric)
    mode = _default_mode(metric) if mode is None else mode
    check_choice(fn, "mode", mode, ("min", "max"))
    direction = "minimize" if mode == "min" else "maximize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if study is None:
        study = optuna.create_study(direction=direction, sampler=_sampler(optuna, fn, sampler,
                                                                          seed))
    ev = Evaluator(fn, train_fn, static_names, chunk_size=chunk_size, mesh=mesh, data=data)
    all_cols: dict[str, list] = {k: [] for k in space}
    all_metrics: dict[str, list] = {}
    all_curves: dict[str, list] = {}
    done = 0
    num_batches = 0
    while done < num_trials:
        b = min(batch_size, num_trials - done)
        trials = [study.ask(dists) for _ in range(b)]
        cols = {}
        for name in space:
            if name in dists:
                vals = [t.params[name] for t in trials]
            else:
                vals = [fixed[name]] * b
            vals = vals + [vals[0]] * (batch_size - b)  # fixed width: one program
            if name in static_names:
                cols[name] = np.asarray(vals, dtype=object)
            else:
                arr = np.asarray(vals)
                cols[name] = arr.astype(np.int32 if arr.dtype.kind in "iu" else np.float32)
        keys, common = trial_keys(fn, jax.random.fold_in(key, num_batches)
                                  if seeds == "independent" else key, batch_size, seeds)
        metrics, curves = ev(cols, keys, common)
        metrics = {k: v[:b] for k, v in metrics.items()}
        curves = {k: v[:b] for k, v in curves.items()}
        for t, i in zip(trials, range(b)):
            v = float(metrics[metric][i])
            bad = not np.isfinite(v) or ("diverged" in metrics and metrics["diverged"][i] > 0)
            if bad:
                study.tell(t, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(t, v)
        for k in space:
            all_cols[k].extend(list(cols[k][:b]))
        for k, v in metrics.items():
            all_metrics.setdefault(k, []).append(v)
        for k, v in curves.items():
            all_curves.setdefault(k, []).append(v)
        done += b
        num_batches += 1
    cols = {k: (np.asarray(v, dtype=object) if k in static_names else np.asarray(v))
            for k, v in all_cols.items()}
    metrics = {k: np.concatenate(v) for k, v in all_metrics.items()}
    curves = {}
    for k, parts in all_curves.items():
        t = max(p.shape[1] for p in parts)
        curves[k] = np.concatenate([np.pad(p, ((0, 0), (0, t - p.shape[1])),
                                           constant_values=np.nan) for p in parts])
    name = sampler if isinstance(sampler, str) else type(sampler).__name__
    res = make_result(fn, cols, space_lib.describe(space), metrics, curves, metric, mode,
                  f"optuna-{name}")
    res.extra["optuna"] = {"sampler": name, "batch_size": batch_size, "batches": num_batches,
                           "programs": ev.num_programs}
    res.study = study
    return res
