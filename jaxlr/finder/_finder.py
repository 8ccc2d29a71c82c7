"""Learning-rate finders on the training kernel: the range test and the parallel finder.

* :func:`lr_find` is Smith's range test (Smith 2017, §3.3): one short training run whose learning
  rate ramps from ``min_lr`` to ``max_lr``; the whole run is one kernel call (``lax.scan``).
* :func:`parallel_lr_find` trains ``num_lrs`` candidate rates x ``num_seeds`` seeds, each a kernel
  run for ``num_steps`` updates, all in one compiled program (:mod:`jaxlr.finder._lanes`).

Both return a :class:`FinderResult` whose ``suggestion`` is the recommended learning rate.

A *lane* is one training run (one candidate and one seed). Its loss is smoothed by a debiased
exponential moving average; a lane whose loss is not finite, or whose smoothed loss rises above
``best + (divergence_threshold - 1) * |best|`` (``jaxlr.controllers.divergence``; for positive
losses fastai's and torch-lr-finder's ``smoothed > threshold * best``), is *frozen*: its
parameters and optimizer state stop changing, its later losses are recorded as NaN and its
divergence step is kept. Lanes never interact, so a diverging lane never changes another lane's
numbers.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr import controllers, engine, population, schedules
from jaxlr._utils._static import partition
from jaxlr._utils._validation import (check_choice, check_number, check_positive, check_steps,
                                      fail, is_traced, shorten)
from jaxlr.finder._lanes import LaneSpec, Shared, auto_chunk, run_candidates
from jaxlr.finder._result import FinderResult, estimate_lag

__all__ = ["lr_find", "parallel_lr_find"]


# --------------------------------------------------------------------------------------------
# Argument checks shared by the finders


def check_common(fn: str, *, min_lr, max_lr, num_steps, smoothing, divergence_threshold,
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


def check_window(fn: str, smoothing: float, num_steps: int, fraction: float) -> None:
    if smoothing > 0:
        tau = 1.0 / (1.0 - float(smoothing))
        if tau > fraction * num_steps * (1 + 1e-9):
            fail(fn, f"`smoothing={smoothing!r}` averages over about {tau:.0f} steps, too long "
                 f"for num_steps={num_steps} (at most {fraction:g} x num_steps).",
                 hint=f"Run more steps or lower smoothing (e.g. "
                      f"smoothing={max(0.0, 1 - 1 / (fraction * num_steps)):.2f}).")


def check_lrs(fn: str, lrs: Any) -> np.ndarray:
    """Explicit candidate rates: a non-empty, finite, positive, increasing 1-D list."""
    if is_traced(lrs):
        fail(fn, "`lrs` must be concrete (a list or array), not traced.", error=TypeError)
    try:
        cand = np.asarray(lrs, np.float64).reshape(-1)
    except (TypeError, ValueError):
        fail(fn, f"`lrs` must be numbers (a list or array of learning rates); got "
             f"lrs={shorten(lrs)}.", error=TypeError)
    if cand.size == 0 or np.any(~np.isfinite(cand)) or np.any(cand <= 0):
        fail(fn, f"`lrs` must be non-empty, finite and > 0; got lrs={shorten(lrs)}.")
    if np.any(np.diff(cand) <= 0):
        fail(fn, f"`lrs` must be strictly increasing; got lrs={shorten(lrs)}.",
             hint="Pass np.sort(np.unique(lrs)).")
    return cand


def split_schedule(fn: str, schedule: Any, schedule_fn: Any) -> tuple[str, Any, list, str]:
    """``(kind, static, leaves, description)`` of the candidates' schedule."""
    if schedule is not None and schedule_fn is not None:
        fail(fn, "pass either `schedule` (a shape with peak 1) or `schedule_fn` "
             "(peak -> schedule), not both.")
    if schedule is None and schedule_fn is None:
        return "constant", None, [], "constant"
    obj = schedule if schedule is not None else schedule_fn
    name = "schedule" if schedule is not None else "schedule_fn"
    if not callable(obj):
        fail(fn, f"`{name}` must be callable; got {name}={shorten(obj)}.", error=TypeError)
    leaves, static = partition(obj)
    desc = repr(obj) if isinstance(obj, schedules.Schedule) else engine.describe_optimizer(obj)
    return ("shape" if schedule is not None else "fn"), static, leaves, desc


def check_controllers(fn: str, plateau: Any, early_stopping: Any, monitor: str,
                      eval_every: int | None, has_valid: bool) -> None:
    engine.check_controller(fn, "plateau", plateau)
    engine.check_controller(fn, "early_stopping", early_stopping)
    if plateau is None and early_stopping is None:
        return
    if not eval_every:
        fail(fn, "`plateau` / `early_stopping` step at evaluations: pass `eval_every`.",
             hint="e.g. eval_every=num_steps // 10.")
    if not isinstance(monitor, str):
        fail(fn, f"`monitor` must be a metric name; got monitor={shorten(monitor)}.",
             error=TypeError)
    if monitor.startswith("val_") and not has_valid:
        fail(fn, f"`monitor={monitor!r}` needs validation data.",
             hint="Pass valid_data=..., or monitor='loss' (the train loss).")
    if not monitor.startswith("val_") and monitor not in ("loss", "smoothed"):
        fail(fn, f"`monitor={monitor!r}` is not a metric the finder records; use 'val_loss' "
             "(or another val_<name> of the evaluation), 'loss' or 'smoothed'.")


def controller_states(plateau: Any, early_stopping: Any) -> tuple[Any, Any]:
    return (None if plateau is None else plateau.init(),
            None if early_stopping is None else early_stopping.init())


# --------------------------------------------------------------------------------------------
# The parallel finder


def parallel_lr_find(model: Any, loss_fn: Callable | None = None, data: Any = None, *,
                     valid_data: Any = None, min_lr: float = 1e-5, max_lr: float = 10.0,
                     num_lrs: int = 32, lrs: Any = None, num_seeds: int = 1,
                     num_steps: int = 100, batch_size: int | None = None,
                     optimizer: Any = None, schedule: Any = None,
                     schedule_fn: Callable | None = None, warmup_steps: int = 0,
                     smoothing: float = 0.9, divergence_threshold: float = 4.0,
                     eval_every: int | None = None, common_random_numbers: bool = True,
                     per_seed_init: bool = False, chunk_size: int | str | None = "auto",
                     mesh: Any = None, devices: Sequence[jax.Device] | str | None = None,
                     key: Any = None, target_steps: int | None = None, plateau: Any = None,
                     early_stopping: Any = None, monitor: str = "val_loss",
                     has_aux: bool | None = None, eval_fn: Callable | None = None,
                     ) -> FinderResult:
    """Trains many candidate learning rates in parallel, in one compiled program.

    Every candidate rate is trained independently for ``num_steps`` updates from the same
    initial parameters (``per_seed_init=True``: one initialisation per seed), for each of
    ``num_seeds`` seeds. Within a seed all candidates see the same mini-batches (common random
    numbers), so differences between candidates are due to the rate alone; seeds differ in
    data order (and initialisation with ``per_seed_init``). The whole search is one
    ``jax.jit`` program: ``vmap`` over seeds and candidates, ``lax.map`` chunks of
    ``chunk_size`` candidates to bound memory, and the candidate axis sharded over the
    ``"trials"`` axis of ``mesh`` (each candidate's batch over its ``"data"`` axis). The
    candidate rates, bounds and schedule values are traced: another search with other values,
    or with freshly built but equal ``loss_fn`` / ``optimizer`` / schedule objects, reuses the
    compiled program.

    Every run is the training kernel (:func:`jaxlr.engine.run`): candidate ``c`` with seed ``s``
    is, update for update, ``jaxlr.fit(loss_fn, optimizer(lrs[c]), model, data,
    key=jax.random.fold_in(key, s), steps=num_steps)`` (with ``per_seed_init``; otherwise every
    seed starts from seed 0's initialisation), with every ``fit`` feature: gradient clipping and
    accumulation (in the optimizer), a model state (batch norm), a per-update ``key`` for the
    loss (dropout), ``plateau`` and ``early_stopping`` controllers.

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
      optimizer: a factory ``learning_rate -> optax.GradientTransformation`` (default
        :func:`jaxlr.adam`; ``optax.sgd``, ``functools.partial(jaxlr.momentum, momentum=0.9)``,
        ``lambda lr: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))``) or a built
        jaxlr optimizer (``jaxlr.adam(1e-3, max_grad_norm=1.0)``: its learning rate is replaced
        by each candidate's).
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
      mesh: a ``("trials", "data")`` mesh (see :func:`jaxlr.population.resolve_mesh`;
        default: every device along ``"trials"``; ``"none"``: one device).
      devices: the older form of ``mesh``: a list of devices for the candidate axis, or
        ``"none"``.
      key: ``jax.random.key`` or an int seed (required): initialisation and data order.
      target_steps: the number of updates of the training run the rate is for. When given,
        the default suggestion is the ``horizon`` rule (the best rate's drift along this run
        extrapolated to ``target_steps``; see :attr:`FinderResult.default_rule`) instead of
        ``best_final``, and with validation data ``eval_every`` defaults to
        ``num_steps // 10``.
      plateau, early_stopping, monitor: controllers stepped at every evaluation of every
        candidate, as in :func:`jaxlr.fit` (``eval_every`` required).
      has_aux, eval_fn: as in :func:`jaxlr.fit`.

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
      ...                      num_lrs=8, num_steps=50, batch_size=32, optimizer=optax.sgd,
      ...                      key=0)
      >>> r.final_losses.shape, bool(r.diverged[-1, 0])
      ((8, 1), True)
      >>> 0.01 < r.suggestion < 1.0
      True

    References:
      Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017 (the range test).
      Breiman et al., "Classification and Regression Trees", 1984 (the one-standard-error rule).
    """
    fn = "parallel_lr_find"
    prob = engine.as_problem(fn, model, loss_fn, data, valid_data=valid_data,
                             batch_size=batch_size, eval_fn=eval_fn, has_aux=has_aux)
    key = engine.as_key(fn, key)
    has_valid = prob.valid is not None
    if target_steps is not None:
        check_steps(fn, target_steps=target_steps, minimum=1)
        if eval_every is None and has_valid:
            eval_every = max(int(num_steps) // 10, 1)
    check_common(fn, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps, smoothing=smoothing,
                 divergence_threshold=divergence_threshold, eval_every=eval_every,
                 has_valid=has_valid, minimum_steps=1)
    check_window(fn, smoothing, num_steps, 1.0)
    check_steps(fn, num_seeds=num_seeds, minimum=1)
    check_steps(fn, warmup_steps=warmup_steps, minimum=0)
    check_controllers(fn, plateau, early_stopping, monitor, eval_every, has_valid)
    if isinstance(chunk_size, str):
        check_choice(fn, "chunk_size", chunk_size, ("auto",))
    elif chunk_size is not None:
        check_steps(fn, chunk_size=chunk_size, minimum=1)
    if lrs is not None:
        cand = check_lrs(fn, lrs)
    else:
        check_steps(fn, num_lrs=num_lrs, minimum=1)
        cand = np.geomspace(float(min_lr), float(max_lr), int(num_lrs))
    lo, hi = float(cand[0]), float(cand[-1])
    if lrs is None:
        lo, hi = float(min_lr), float(max_lr)
    if per_seed_init and prob.model.init_fn is None:
        fail(fn, "`per_seed_init=True` needs an init function (or a Task) as `model`; got "
             "a parameter pytree.", hint="Pass init(key) -> params instead of params.")
    opt, opt_leaves = engine.rate_optimizer(fn, optimizer)
    kind, sched_static, sched_leaves, sched_desc = split_schedule(fn, schedule, schedule_fn)
    mesh = population.resolve_mesh(fn, mesh, devices)
    p_state, es_state = controller_states(plateau, early_stopping)
    div = controllers.divergence(threshold=divergence_threshold, smoothing=smoothing).init()
    sh = Shared(key=key, optimizer=opt_leaves, schedule=sched_leaves, params=prob.params,
                model_state=prob.model_state, train=prob.train, valid=prob.valid,
                divergence=div, plateau=p_state, early_stopping=es_state)
    c, s, steps = len(cand), int(num_seeds), int(num_steps)
    if chunk_size == "auto":
        chunk_size = auto_chunk(prob.model, opt, sh, s, c, mesh)
    spec = LaneSpec(
        model=prob.model, optimizer=opt, rate=kind, schedule=sched_static,
        warmup_steps=int(warmup_steps), num_steps=steps, num_seeds=s,
        batch_size=prob.batch_size, num_examples=prob.num_examples,
        eval_every=int(eval_every or 0), has_valid=has_valid,
        crn=bool(common_random_numbers), per_seed_init=bool(per_seed_init),
        has_init=prob.model.init_fn is not None,
        pregather=bool(common_random_numbers) and engine.should_pregather(
            prob.train, steps, prob.batch_size, s),
        plateau_update=None if plateau is None else plateau.update,
        early_stopping_update=None if early_stopping is None else early_stopping.update,
        monitor=monitor,
        layout=population.layout(fn, c, chunk_size=chunk_size, mesh=mesh),
        batch_sharding=population.batch_sharding(mesh, prob.batch_size, fn=fn))
    out = run_candidates(spec, cand, sh)
    e = spec.eval_every
    vsteps = (np.arange(1, steps // e + 1) * e) if (has_valid and e) else None
    return FinderResult(
        method="parallel", lrs=np.asarray(cand, np.float64), losses=out["losses"],
        smoothed=out["smoothed"], final_losses=out["final_loss"],
        valid_losses=out.get("valid_loss"), valid_curve=out.get("valid_curve"),
        valid_steps=vsteps, diverged=out["diverged"], diverged_step=out["diverged_step"],
        effective_lrs=None, num_steps=steps, batch_size=prob.batch_size,
        optimizer=engine.describe_optimizer(optimizer), schedule=sched_desc,
        smoothing=float(smoothing), divergence_threshold=float(divergence_threshold),
        min_lr=lo, max_lr=hi, step_mode=None, warmup_steps=int(warmup_steps), task=prob.name,
        target_steps=None if target_steps is None else int(target_steps))


# --------------------------------------------------------------------------------------------
# The range test


def _range_program(spec: LaneSpec, ramp: schedules.Schedule, sh: Shared) -> dict:
    lr_values = ramp(jnp.arange(spec.num_steps, dtype=jnp.int32))
    # The ramp is evaluated once, before the loop: each update reads its rate from the table
    # (one gather) instead of recomputing the exponential (~15% of an update on a small model).
    tx = spec.optimizer.build(sh.optimizer, schedules.Table(lr_values))
    if spec.has_init:
        params, model_state = spec.model.initialize(jax.random.fold_in(sh.key, 0))
    else:
        params, model_state = sh.params, sh.model_state
    state = engine.TrainState(step=jnp.zeros([], jnp.int32), params=params,
                              opt_state=tx.init(params), model_state=model_state, key=sh.key,
                              divergence=sh.divergence)
    plan = engine.Plan(model=spec.model, update=tx.update, extra_args=engine.is_extra_args(tx),
                       batch_size=spec.batch_size, num_examples=spec.num_examples,
                       num_steps=spec.num_steps, eval_every=spec.eval_every,
                       freeze=spec.freeze, pregather=spec.pregather)
    state, rec = engine.run(plan, state, engine.Data(sh.train, sh.key), sh.valid)
    div = state.divergence
    after = div.diverged & (jnp.arange(spec.num_steps) > div.diverged_step)
    out = {"losses": jnp.where(after, jnp.nan, rec["train"]["loss"]),
           "smoothed": jnp.where(after, jnp.nan, rec["train"]["smoothed"]),
           "diverged": div.diverged, "diverged_step": div.diverged_step, "lrs": lr_values}
    out["final_loss"] = jnp.where(div.diverged, jnp.nan, out["smoothed"][-1])
    if spec.eval_every:
        k = spec.eval_every
        at = (jnp.arange(spec.num_steps // k) + 1) * k
        vals = rec["eval"]
        v = vals["val_loss"] if "val_loss" in vals else vals[sorted(vals)[0]]
        out["valid_curve"] = jnp.where(div.diverged & (div.diverged_step < at), jnp.nan, v)
    return out


_range_jit = jax.jit(_range_program, static_argnums=0)


def lr_find(model: Any, loss_fn: Callable | None = None, data: Any = None, *,
            valid_data: Any = None, min_lr: float = 1e-7, max_lr: float = 10.0,
            num_steps: int = 100, step_mode: str = "exp", batch_size: int | None = None,
            optimizer: Any = None, smoothing: float = 0.98,
            divergence_threshold: float = 4.0, eval_every: int | None = None,
            key: Any = None, has_aux: bool | None = None,
            eval_fn: Callable | None = None) -> FinderResult:
    """Smith's learning-rate range test as one compiled ``lax.scan``.

    One training run whose rate grows from ``min_lr`` to ``max_lr`` over ``num_steps``
    updates, exponentially (``step_mode="exp"``: ``lr_k = min_lr (max_lr/min_lr)^(k/(T-1))``,
    fastai's and torch-lr-finder's default) or linearly. The loss of every update is smoothed
    by a debiased EMA (fastai's ``beta=0.98``; 0 disables it); divergence (a non-finite loss,
    or the smoothed loss above ``best + (threshold - 1)|best|``) ends the recording (the rest
    is NaN) without leaving the compiled program. With ``valid_data`` and
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
      ...             batch_size=32, optimizer=optax.sgd, key=0)
      >>> bool(r.diverged), r.lrs.shape
      (True, (100,))
      >>> 1e-3 < r.suggestion < 1.0
      True

    References:
      Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.
    """
    fn = "lr_find"
    prob = engine.as_problem(fn, model, loss_fn, data, valid_data=valid_data,
                             batch_size=batch_size, eval_fn=eval_fn, has_aux=has_aux)
    key = engine.as_key(fn, key)
    has_valid = prob.valid is not None and eval_every is not None
    check_common(fn, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps, smoothing=smoothing,
                 divergence_threshold=divergence_threshold, eval_every=eval_every,
                 has_valid=prob.valid is not None, minimum_steps=10)
    check_window(fn, smoothing, num_steps, 0.5)
    check_choice(fn, "step_mode", step_mode, ("exp", "linear"))
    opt, opt_leaves = engine.rate_optimizer(fn, optimizer)
    steps = int(num_steps)
    if step_mode == "exp":
        ramp = schedules.exponential_decay(float(min_lr), float(max_lr) / float(min_lr),
                                           decay_steps=max(steps - 1, 1),
                                           end_value=float(max_lr))
    else:
        ramp = schedules.linear(float(min_lr), float(max_lr), max(steps - 1, 1))
    div = controllers.divergence(threshold=divergence_threshold, smoothing=smoothing).init()
    sh = Shared(key=key, optimizer=opt_leaves, schedule=[], params=prob.params,
                model_state=prob.model_state, train=prob.train,
                valid=prob.valid if has_valid else None, divergence=div, plateau=None,
                early_stopping=None)
    spec = LaneSpec(
        model=prob.model, optimizer=opt, rate="constant", schedule=None, warmup_steps=0,
        num_steps=steps, num_seeds=1, batch_size=prob.batch_size,
        num_examples=prob.num_examples, eval_every=int(eval_every or 0), has_valid=has_valid,
        crn=True, per_seed_init=False, has_init=prob.model.init_fn is not None,
        pregather=engine.should_pregather(prob.train, steps, prob.batch_size),
        plateau_update=None, early_stopping_update=None, monitor="val_loss",
        layout=population.layout(fn, 1),
        # its record is masked from the divergence step on and no state is returned: the run
        # needs no per-update freeze (as in fit)
        freeze=False)
    out = jax.tree_util.tree_map(np.asarray, _range_jit(spec, ramp, sh))
    lrs = out["lrs"].astype(np.float64)
    lag = estimate_lag(out["losses"], out["smoothed"], float(smoothing))
    frac = (np.arange(steps) - lag) / max(steps - 1, 1)
    if step_mode == "exp":
        eff = float(min_lr) * (float(max_lr) / float(min_lr)) ** frac
    else:
        eff = float(min_lr) + frac * (float(max_lr) - float(min_lr))
    eff[:lag] = np.nan                       # before the first aligned point
    vsteps = np.arange(1, steps // eval_every + 1) * eval_every if has_valid else None
    return FinderResult(
        method="range_test", lrs=lrs, losses=out["losses"], smoothed=out["smoothed"],
        final_losses=out["final_loss"], valid_losses=out.get("valid_curve"),
        valid_curve=None, valid_steps=vsteps, diverged=out["diverged"],
        diverged_step=out["diverged_step"], effective_lrs=eff, num_steps=steps,
        batch_size=prob.batch_size, optimizer=engine.describe_optimizer(optimizer),
        schedule=f"{step_mode} ramp", smoothing=float(smoothing),
        divergence_threshold=float(divergence_threshold), min_lr=float(min_lr),
        max_lr=float(max_lr), step_mode=step_mode, warmup_steps=0, task=prob.name,
        lag_steps=lag)
