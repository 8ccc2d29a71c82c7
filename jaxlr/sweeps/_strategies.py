"""Sweep strategies that continue training: successive halving and population-based training.

Both need a trainer that can be *resumed*: :class:`Trainer` is the protocol (``init``,
``advance``, ``evaluate``); :func:`jaxlr.sweep_task` provides one for any task. Successive halving
runs each rung as one compiled program of fixed width (the survivors); population-based training
runs entirely inside one compiled program (``lax.scan`` over exploit/explore intervals).

References:
  Jamieson & Talwalkar 2016, "Non-stochastic best arm identification and hyperparameter
  optimization" (successive halving); Li et al. 2018, "Hyperband".
  Jaderberg et al. 2017, "Population based training of neural networks".
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr import engine, population
from jaxlr._utils._static import ByValue
from jaxlr._utils._validation import check_choice, check_positive, check_steps, fail, shorten
from jaxlr.sweeps._evaluate import columns
from jaxlr.sweeps._result import SweepResult, _default_mode
from jaxlr.sweeps._trial import TaskSpec, Trainer, trainer_from_spec

__all__ = ["Trainer", "pbt", "successive_halving"]


def _as_trainer(fn: str, trainer: Any) -> tuple[Callable, Any, int | None]:
    """(``data -> Trainer``, data, default steps): a task's arrays are passed to the compiled
    programs as arguments (closed-over arrays would be slow-to-compile constants)."""
    if isinstance(trainer, TaskSpec):
        return _SpecTrainer(trainer), trainer.data, trainer.steps
    if isinstance(trainer, Trainer):
        return (lambda data: trainer), None, None
    fail(fn, f"`trainer` must be a jaxlr.Trainer (init, advance, evaluate); got "
         f"{type(trainer).__name__}.", hint="Or use jaxlr.sweep_task(..., strategy=...).",
         error=TypeError)


@dataclasses.dataclass(frozen=True, eq=False)
class _SpecTrainer(ByValue):
    """``data -> Trainer`` of a task spec, compared by the spec's value."""

    spec: TaskSpec

    def __jaxlr_value_key__(self) -> Any:
        return self.spec

    def __call__(self, data: Any) -> Trainer:
        return trainer_from_spec(self.spec, data)


def _keys(fn: str, key: Any, n: int, seeds: str) -> jax.Array:
    """One key per trial: ``n`` copies of ``key`` (common random numbers) or a split."""
    check_choice(fn, "seeds", seeds, ("common", "independent"))
    key = engine.as_key(fn, key)
    if seeds == "independent":
        return jax.random.split(key, n)
    return jnp.broadcast_to(key, (n,))


def _dynamic_columns(fn: str, space: Any, num_trials: int | None, key: jax.Array):
    cols, desc, static = columns(fn, space, num_trials, jax.random.fold_in(key, 1), "random",
                                 None)
    if static:
        fail(fn, f"static hyperparameters {static} are not supported by this strategy (the "
             "population must share one program).", hint="Run one search per value.")
    return cols, desc


def _probe(make_trainer: Callable[[Any], Trainer], hp: Any, key: jax.Array, data: Any) -> Any:
    t = make_trainer(data)
    return t.evaluate(t.init(hp, key), hp)


_probe_jit = jax.jit(_probe, static_argnums=0)


def _metric_shapes(make_trainer, hp, key, data) -> Any:
    """The trainer's metric shapes, by abstract evaluation; cached on the trainer's structure
    (a repeated search with an equal trainer does not trace it again)."""
    return _probe_jit.eval_shape(make_trainer, hp, key, data)


def _score(metrics: Mapping[str, jax.Array], metric: str, mode: str) -> jax.Array:
    """Lower is better; diverged / non-finite -> +inf."""
    v = metrics[metric].astype(jnp.float32)
    v = v if mode == "min" else -v
    bad = ~jnp.isfinite(v)
    if "diverged" in metrics:
        bad = bad | metrics["diverged"]
    return jnp.where(bad, jnp.inf, v)


def _metric_name(fn: str, shapes: Mapping[str, Any], metric: str | None) -> str:
    names = [k for k in shapes if k != "diverged"]
    if metric is None:
        metric = "valid_loss" if "valid_loss" in names else (
            "loss" if "loss" in names else names[0])
    if metric not in names:
        fail(fn, f"unknown metric name metric={shorten(metric)}; the trainer returns "
             f"{', '.join(sorted(names))}.")
    return metric


def successive_halving(trainer: Any, space: Any, *, num_trials: int | None = None,
                       key: jax.Array, eta: int = 3, min_steps: int | None = None,
                       max_steps: int | None = None, metric: str | None = None,
                       mode: str | None = None, chunk_size: int | None = None,
                       mesh: Any = None, devices: Any = None,
                       seeds: str = "common") -> SweepResult:
    """Synchronous successive halving: train all, keep the best ``1/eta``, continue them.

    Rung ``r`` trains ``max(1, num_trials // eta**r)`` trials up to ``min_steps * eta**r`` steps
    (the last rung up to ``max_steps``), continuing the survivors' state; each rung is one
    compiled program of fixed width. Schedules are defined over ``max_steps`` (the full
    budget), so a continued trial follows the same schedule as one trained straight through.

    Args:
      trainer: a :class:`Trainer` or a ``sweep_task`` spec (use
        ``jaxlr.sweep_task(..., strategy="successive_halving")``).
      space: dict space or grid (numeric entries only).
      num_trials: trials in the first rung.
      key: PRNG key.
      eta: reduction factor (>= 2).
      min_steps: steps of the first rung (default ``max_steps // eta**(rungs - 1)``).
      max_steps: full budget (default: the task's ``steps``).
      metric, mode: ranking metric (evaluated after each rung).

    Returns:
      a :class:`SweepResult` whose metrics are each trial's values at the last rung it reached;
      ``metrics["steps_trained"]`` is its budget and ``extra["rungs"]`` the rung table. Only
      trials of the final rung are eligible for selection.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> counter = jaxlr.Trainer(  # state: the integral of the learning rate
      ...     init=lambda hp, key: jnp.float32(0.0),
      ...     advance=lambda x, hp, n: x + n * hp["learning_rate"],
      ...     evaluate=lambda x, hp: {"loss": -x})
      >>> r = jaxlr.successive_halving(counter, {"learning_rate": jaxlr.uniform(0.0, 1.0)},
      ...                              num_trials=9, max_steps=18, key=jax.random.key(0))
      >>> [(g["steps"], len(g["trials"])) for g in r.extra["rungs"]]
      [(2, 9), (6, 3), (18, 1)]
      >>> r.best_index == r.extra["rungs"][-1]["trials"][0]
      True
    """
    fn = "successive_halving"
    make_tr, data, default_steps = _as_trainer(fn, trainer)
    key = engine.as_key(fn, key)
    max_steps = default_steps if max_steps is None else max_steps
    if max_steps is None:
        fail(fn, "`max_steps` is required with a custom Trainer.", error=TypeError)
    check_steps(fn, max_steps=max_steps, eta=eta, minimum=1)
    if eta < 2:
        fail(fn, f"`eta` must be >= 2; got eta={eta}.")
    cols, desc = _dynamic_columns(fn, space, num_trials, key)
    n = len(next(iter(cols.values())))
    num_rungs = 1 + int(math.floor(math.log(n) / math.log(eta) + 1e-9)) if n > 1 else 1
    if min_steps is None:
        min_steps = max(1, max_steps // eta ** (num_rungs - 1))
    check_steps(fn, min_steps=min_steps, minimum=1)
    if min_steps > max_steps:
        fail(fn, f"`min_steps` must be <= max_steps={max_steps}; got min_steps={min_steps}.")
    budgets = []
    for r in range(num_rungs):
        b = min(max_steps, min_steps * eta ** r)
        budgets.append(b)
        if b >= max_steps:
            break
    budgets[-1] = max_steps
    mesh = population.resolve_mesh(fn, mesh, devices)
    hp = {k: jnp.asarray(v) for k, v in cols.items()}
    keys = _keys(fn, key, n, seeds)
    shapes = _metric_shapes(make_tr, jax.tree_util.tree_map(lambda x: x[0], hp), keys[0],
                            data)
    metric = _metric_name(fn, shapes, metric)
    mode = _default_mode(metric) if mode is None else mode
    check_choice(fn, "mode", mode, ("min", "max"))

    states: Any = keys
    final: dict[str, np.ndarray] = {}
    steps_trained = np.zeros(n)
    alive = np.arange(n)
    done = 0
    rungs = []
    for r, b in enumerate(budgets):
        width = len(alive)
        lay = population.layout(fn, width, chunk_size=chunk_size, mesh=mesh)
        sub_hp = jax.tree_util.tree_map(lambda x: x[alive], hp)
        members = population.pad((states, sub_hp), lay)
        members, (d,) = population.place(members, (data,), lay)
        rung = _Rung(make_tr, b - done, done, r == 0, lay)
        states, m = population.unpad(_rung_jit(rung, members, d), lay)
        m = jax.tree_util.tree_map(np.asarray, m)
        for k, v in m.items():
            final.setdefault(k, np.full(n, np.nan))[alive] = np.asarray(v, np.float64)
        steps_trained[alive] = b
        done = b
        score = np.asarray(_score(m, metric, mode))
        keep = max(1, width // eta)
        order = np.argsort(score, kind="stable")
        rungs.append({"steps": b, "trials": alive.tolist(),
                      metric: np.asarray(m[metric], np.float64).tolist()})
        if r == len(budgets) - 1:
            break
        sel = order[:keep]
        alive = alive[sel]
        states = jax.tree_util.tree_map(lambda x: x[jnp.asarray(sel)], states)
    div = final.pop("diverged", np.zeros(n)) > 0
    final["steps_trained"] = steps_trained
    eligible = steps_trained == budgets[-1]
    res = SweepResult(hparams={k: np.asarray(v) for k, v in cols.items()}, metrics=final,
                      curves={}, diverged=div, metric=metric, mode=mode, space=desc,
                      strategy="successive_halving",
                      extra={"rungs": rungs, "eta": eta, "eligible": eligible.tolist()})
    return res


@dataclasses.dataclass(frozen=True, eq=False)
class _Rung(ByValue):
    """One rung's program structure (compared by value): the trainer, the steps, the layout."""

    make_trainer: Callable[[Any], Trainer]
    num_steps: int
    start: int
    first: bool
    layout: population.Layout

    def __jaxlr_value_key__(self) -> Any:
        return (self.make_trainer, self.num_steps, self.start, self.first, self.layout)



def _rung_program(rung: _Rung, members: Any, data: Any) -> Any:
    t = rung.make_trainer(data)

    def one(member, data):
        s, h = member                 # the first rung initialises (s is then the trial's key)
        s = t.init(h, s) if rung.first else s
        s = _advance(t, s, h, rung.num_steps, rung.start)
        return s, t.evaluate(s, h)

    return population.lanes(one, members, (data,), lay=rung.layout)


_rung_jit = jax.jit(_rung_program, static_argnums=0)


def _advance(t: Trainer, state: Any, hparams: Any, num_steps: int, start: int) -> Any:
    """A trainer's advance, given the shared global step where it accepts one (the engine's:
    every trial's batches of the rung are then shared under common random numbers)."""
    try:
        takes_start = len(inspect.signature(t.advance).parameters) >= 4
    except (TypeError, ValueError):
        takes_start = False
    if takes_start:
        return t.advance(state, hparams, num_steps, start)
    return t.advance(state, hparams, num_steps)


def pbt(trainer: Any, space: Any, *, num_trials: int | None = None, key: jax.Array,
        interval: int | None = None, steps: int | None = None, quantile: float = 0.25,
        perturb: Sequence[str] = ("learning_rate",), factors: tuple[float, float] = (0.8, 1.2),
        metric: str | None = None, mode: str | None = None, chunk_size: int | None = None,
        mesh: Any = None, devices: Any = None, seeds: str = "independent") -> SweepResult:
    """Population-based training in one compiled program.

    Every ``interval`` steps the population is evaluated; each member of the bottom
    ``quantile`` copies the parameters, optimizer state and hyperparameters of a random member
    of the top ``quantile`` (exploit, on device) and multiplies each hyperparameter named in
    ``perturb`` by ``factors[0]`` or ``factors[1]`` at random (explore). The learning rate a
    member used in each interval is recorded with its parent, so the *discovered schedule* of
    the best final member's lineage is returned (``extra["pbt"]["best_schedule"]``, one value
    per interval) and plotted by ``result.plot("pbt")``.

    Args:
      trainer: a :class:`Trainer` or a ``sweep_task`` spec (``strategy="pbt"``).
      space: initial distribution of the hyperparameters (numeric entries only).
      num_trials: population size (>= 2).
      key: PRNG key (initial hyperparameters, exploit choices, perturbations).
      interval: steps between exploit/explore rounds (default ``steps // 10``).
      steps: total steps (default: the task's).
      quantile: fraction copied / replaced each round, in (0, 0.5].
      perturb: hyperparameters to perturb (must be in the space).
      factors: the two multiplicative perturbations.
      seeds: ``"independent"`` (default: each member its own init) or ``"common"``.

    Returns:
      a :class:`SweepResult` of the final population (``hparams`` are each member's final
      values; ``extra["pbt"]``: ``lr_history`` [intervals, P], ``parents`` [intervals - 1, P],
      ``scores`` [intervals, P], ``best_schedule``, ``interval``, ``initial_hparams``).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> counter = jaxlr.Trainer(
      ...     init=lambda hp, key: jnp.float32(0.0),
      ...     advance=lambda x, hp, n: x + n * hp["learning_rate"],
      ...     evaluate=lambda x, hp: {"loss": -x})
      >>> r = jaxlr.pbt(counter, {"learning_rate": jaxlr.loguniform(1e-3, 1e-1)},
      ...               num_trials=4, steps=20, interval=5, key=jax.random.key(0))
      >>> r.extra["pbt"]["best_schedule"].shape
      (4,)

    References:
      Jaderberg et al. 2017, "Population based training of neural networks".
    """
    fn = "pbt"
    make_tr, data, default_steps = _as_trainer(fn, trainer)
    key = engine.as_key(fn, key)
    steps = default_steps if steps is None else steps
    if steps is None:
        fail(fn, "`steps` is required with a custom Trainer.", error=TypeError)
    check_steps(fn, steps=steps, minimum=1)
    interval = max(1, steps // 10) if interval is None else interval
    check_steps(fn, interval=interval, minimum=1)
    if interval > steps:
        fail(fn, f"`interval` must be <= steps={steps}; got interval={interval}.")
    check_positive(fn, quantile=quantile)
    if not 0 < quantile <= 0.5:
        fail(fn, f"`quantile` must be in (0, 0.5]; got quantile={quantile}.")
    check_positive(fn, low_factor=factors[0], high_factor=factors[1])
    cols, desc = _dynamic_columns(fn, space, num_trials, key)
    n = len(next(iter(cols.values())))
    if n < 2:
        fail(fn, f"the population needs at least 2 members; got num_trials={n}.")
    for name in perturb:
        if name not in cols:
            fail(fn, f"cannot perturb {shorten(name)}: it is not in the space "
                 f"({', '.join(cols)}).", hint="Add it to the space or change `perturb`.")
    lr_name = "learning_rate" if "learning_rate" in cols else next(iter(perturb), None)
    num_intervals = steps // interval
    remainder = steps - num_intervals * interval
    n_q = max(1, int(math.floor(n * quantile)))
    hp0 = {k: jnp.asarray(v, jnp.float32) if np.asarray(v).dtype.kind == "f" else
           jnp.asarray(v) for k, v in cols.items()}
    keys = _keys(fn, key, n, seeds)
    shapes = _metric_shapes(make_tr, jax.tree_util.tree_map(lambda x: x[0], hp0), keys[0],
                            data)
    metric = _metric_name(fn, shapes, metric)
    mode = _default_mode(metric) if mode is None else mode
    check_choice(fn, "mode", mode, ("min", "max"))
    mesh = population.resolve_mesh(fn, mesh, devices)
    # every member takes part in exploit/explore: no padding (shard / chunk only when exact)
    trials = population.axis_size(mesh, "trials")
    lay = population.Layout(size=n, padded=n,
                            chunk=chunk_size if chunk_size and n % chunk_size == 0
                            and chunk_size < n and trials == 1 else None,
                            mesh=mesh if n % trials == 0 else None)
    spec = _PBT(make_tr, interval=int(interval), remainder=int(remainder),
                num_intervals=int(num_intervals), size=n, num_replaced=n_q,
                perturb=tuple(perturb), lr_name=lr_name, metric=metric, mode=mode, layout=lay)
    (hp0, keys), (data,) = population.place((hp0, keys), (data,), lay)
    m, hp_last, lrs, parents, scores = _pbt_jit(
        spec, hp0, keys, jax.random.fold_in(key, 3), data,
        jnp.asarray(factors, jnp.float32))
    m = {k: np.asarray(v, np.float64) for k, v in m.items()}
    lrs, parents, scores = np.asarray(lrs), np.asarray(parents), np.asarray(scores)
    div = m.pop("diverged", np.zeros(n)) > 0
    best = int(np.argmin(np.where(np.isfinite(scores[-1]), scores[-1], np.inf)))
    lineage = [best]
    cur = best
    sched = np.zeros(num_intervals)
    for t in range(num_intervals - 1, -1, -1):
        sched[t] = lrs[t, cur]
        if t > 0:
            cur = int(parents[t - 1, cur])
            lineage.append(cur)
    extra = {"pbt": {"interval": interval, "steps": steps, "lr_name": lr_name,
                     "lr_history": lrs, "parents": parents, "scores": scores,
                     "best_member": best, "best_lineage": lineage[::-1],
                     "best_schedule": sched,
                     "best_schedule_steps": (np.arange(num_intervals) * interval),
                     "initial_hparams": {k: np.asarray(v) for k, v in cols.items()}}}
    return SweepResult(hparams={k: np.asarray(v) for k, v in hp_last.items()}, metrics=m,
                       curves={}, diverged=div, metric=metric, mode=mode, space=desc,
                       strategy="pbt", extra=extra)


@dataclasses.dataclass(frozen=True, eq=False)
class _PBT(ByValue):
    """The structure of a PBT program (compared by value; the factors are data)."""

    make_trainer: Callable[[Any], Trainer]
    interval: int
    remainder: int
    num_intervals: int
    size: int
    num_replaced: int
    perturb: tuple[str, ...]
    lr_name: str | None
    metric: str
    mode: str
    layout: population.Layout

    def __jaxlr_value_key__(self) -> Any:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))



def _pbt_program(p: _PBT, hp: dict, keys: jax.Array, k_pbt: jax.Array, data: Any,
                 factors: jax.Array):
    tr = p.make_trainer(data)
    n, n_q = p.size, p.num_replaced

    def lanes(f, *members):
        return population.lanes(lambda m: f(*m), members, lay=p.layout)

    def advance_eval(states, hp, num):
        def one(s, h):
            s = tr.advance(s, h, num)
            return s, tr.evaluate(s, h)
        return lanes(one, states, hp)

    def exploit(states, hp, score, k):
        order = jnp.argsort(score)  # best first (lower is better)
        top, bottom = order[:n_q], order[n - n_q:]
        k1, k2 = jax.random.split(k)
        donors = top[jax.random.randint(k1, (n_q,), 0, n_q)]
        parent = jnp.arange(n).at[bottom].set(donors)
        copied = parent != jnp.arange(n)
        states = jax.tree_util.tree_map(lambda x: x[parent], states)
        hp = {k_: v[parent] for k_, v in hp.items()}
        up = jax.random.bernoulli(k2, 0.5, (len(p.perturb), n))
        for j, name in enumerate(p.perturb):
            f = jnp.where(up[j], factors[1], factors[0])
            v = hp[name]
            newv = (v.astype(jnp.float32) * f).astype(v.dtype)
            hp[name] = jnp.where(copied, newv, v)
        if tr.set_hparams is not None:
            states = lanes(tr.set_hparams, states, hp)
        return states, hp, parent

    states = lanes(tr.init, hp, keys)

    def body(carry, k):
        states, hp = carry
        states, m = advance_eval(states, hp, p.interval)
        score = _score(m, p.metric, p.mode)
        lr = hp[p.lr_name] if p.lr_name is not None else jnp.zeros(n)
        new_states, new_hp, parent = exploit(states, hp, score, k)
        return (new_states, new_hp), (lr, parent, score)

    ks = jax.random.split(k_pbt, p.num_intervals)
    (states, hp_last), (lrs, parents, scores) = jax.lax.scan(
        body, (states, hp), ks[:-1] if p.num_intervals > 1 else ks[:0])
    # last interval (plus the remainder): no exploit afterwards
    states, m = advance_eval(states, hp_last, p.interval + p.remainder)
    score = _score(m, p.metric, p.mode)
    lr_last = hp_last[p.lr_name] if p.lr_name is not None else jnp.zeros(n)
    lrs = jnp.concatenate([lrs, lr_last[None]], axis=0)
    scores = jnp.concatenate([scores, score[None]], axis=0)
    return m, hp_last, lrs, parents, scores


_pbt_jit = jax.jit(_pbt_program, static_argnums=0)
