r"""Metric-driven learning-rate controllers: reduce-on-plateau and early stopping.

A controller is a pair of pure functions, ``init() -> state`` and ``update(state, metric) ->
state``, with a :class:`typing.NamedTuple` state of fixed dtypes. ``update`` never branches in
Python on a value, so it runs eagerly, under ``jax.jit``, inside ``lax.scan`` and under
``jax.vmap`` (a population of controllers, one per lane, each reducing or stopping on its own).

**Hyperparameters are data.** Every numeric argument (``factor``, ``patience``, ``threshold``,
``cooldown``, ``min_scale``, ``eps``, ``min_delta``, ...) is stored *in the state* as a float32 /
int32 array (``state.hparams``), and ``update`` reads it from there. A jitted ``update`` therefore
compiles once and serves every value, and a traced argument (inside ``jit``/``vmap``) is accepted
at build time. Static structure (``mode``, ``threshold_mode``, ``patience_convention``,
``restore_best``) lives on the :class:`Controller`.

Conventions (see the README section "Plateau and early stopping" for the full table):

* **Patience.** :func:`reduce_on_plateau` follows PyTorch by default: the scale is reduced on the
  (``patience`` + 1)-th consecutive bad evaluation. ``patience_convention="keras"`` reproduces
  Keras's ``ReduceLROnPlateau`` count exactly (reduce on the ``patience``-th bad evaluation; its
  cooldown also ignores one evaluation fewer). :func:`early_stopping` follows Keras and
  Lightning (PyTorch has no built-in): stop on the ``patience``-th consecutive evaluation without
  improvement.
* **Sign-correct relative threshold.** Improvement in ``"min"`` mode means
  ``metric < best - threshold * |best|`` (``"max"``: ``metric > best + threshold * |best|``).
  PyTorch and optax use ``best * (1 - threshold)``, which for a negative ``best`` (a
  log-likelihood, an ELBO) demands the metric *rise* above ``best`` and so never reduces. For
  positive metrics both formulas are identical.
* **Non-finite metrics.** A NaN or +-inf metric counts as a bad evaluation and never becomes
  ``best``.
* **Time-based decay.** Keras's "time-based decay" (the legacy ``decay=`` argument of its
  optimizers, ``lr_t = lr_0 / (1 + decay * t)``, and
  ``keras.optimizers.schedules.InverseTimeDecay``) is a fixed function of the step, not a
  controller: use ``jaxlr.inverse_time_decay`` (``decay_rate=decay``, ``decay_steps=1``). Driving a
  schedule by wall-clock time instead of steps is a ``fit`` option (``schedule_clock="time"``).

References:
  Prechelt, "Early stopping - but when?", Neural Networks: Tricks of the Trade, 1998.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxlr._utils._arrays import device_array, full
from jaxlr._utils._validation import (check_choice, check_number, check_positive, check_steps,
                                   concrete, fail)
from jaxlr._utils._validation import shorten

__all__ = [
    "Controller",
    "PlateauHParams",
    "PlateauState",
    "EarlyStoppingHParams",
    "EarlyStoppingState",
    "DivergenceHParams",
    "DivergenceState",
    "reduce_on_plateau",
    "early_stopping",
    "divergence",
    "divergence_update",
    "plateau_transform",
    "simulate",
]

_INT32_MAX = np.iinfo(np.int32).max


@dataclasses.dataclass(frozen=True)
class Controller:
    """A metric-driven controller: pure ``init``/``update`` plus static settings.

    Attributes:
      init: ``init() -> state``; the state holds the hyperparameters as arrays.
      update: ``update(state, metric) -> state``; pure, jit/scan/vmap safe. ``metric`` is a
        scalar (float32 after conversion).
      mode: ``"min"`` (lower metric is better) or ``"max"``.
      restore_best: whether a training loop should return the parameters of the best
        evaluation (early stopping); always ``False`` for reduce-on-plateau.
      kind: ``"plateau"`` or ``"early_stopping"``.
    """

    init: Callable[[], Any]
    update: Callable[[Any, ArrayLike], Any]
    mode: str
    restore_best: bool
    kind: str

    def __jaxlr_value_key__(self) -> Any:
        # The values live in the state (built by ``init`` on the host); a compiled program only
        # sees ``update`` and the static settings, identical for every value.
        return (self.update, self.mode, self.restore_best, self.kind)


class PlateauHParams(NamedTuple):
    """Hyperparameters of :func:`reduce_on_plateau`, stored in its state (all shape ``()``)."""

    factor: jax.Array      # float32; multiplies the scale at a reduction, in (0, 1)
    patience: jax.Array    # int32
    threshold: jax.Array   # float32
    cooldown: jax.Array    # int32; evaluations ignored after a reduction
    min_scale: jax.Array   # float32; floor of the scale (max(min_scale, min_lr / base_lr))
    eps: jax.Array         # float32; smallest scale decrease applied (in scale units)


class PlateauState(NamedTuple):
    """State of :func:`reduce_on_plateau` (all fields shape ``()``)."""

    scale: jax.Array           # float32; multiplies the learning rate; starts at 1
    best: jax.Array            # float32; best finite metric so far (+inf / -inf before any)
    num_bad: jax.Array         # int32; consecutive bad evaluations counted towards patience
    cooldown: jax.Array        # int32; evaluations of cooldown left
    reduced: jax.Array         # bool; this update reduced the scale
    num_reductions: jax.Array  # int32; number of reductions so far
    last_reduction: jax.Array  # int32; evaluation index of the last reduction (-1: none)
    count: jax.Array           # int32; number of evaluations seen
    hparams: PlateauHParams


class EarlyStoppingHParams(NamedTuple):
    """Hyperparameters of :func:`early_stopping`, stored in its state (all shape ``()``)."""

    patience: jax.Array    # int32
    min_delta: jax.Array   # float32, >= 0; absolute improvement required
    baseline: jax.Array    # float32; value to beat to reset patience (+-inf: none)
    start_from: jax.Array  # int32; evaluations before this index are ignored


class EarlyStoppingState(NamedTuple):
    """State of :func:`early_stopping` (all fields shape ``()``)."""

    stop: jax.Array       # bool; sticky: once True, further updates leave the state unchanged
    improved: jax.Array   # bool; this metric is the new best
    best: jax.Array       # float32; best finite metric so far (+inf / -inf before any)
    best_step: jax.Array  # int32; evaluation index of ``best`` (-1: none yet)
    num_bad: jax.Array    # int32; evaluations since the last (baseline-beating) improvement
    count: jax.Array      # int32; evaluations seen (frozen once stopped)
    hparams: EarlyStoppingHParams


class DivergenceHParams(NamedTuple):
    """Hyperparameters of :func:`divergence`, stored in its state (all shape ``()``)."""

    smoothing: jax.Array   # float32 in [0, 1); EMA coefficient beta of the smoothed loss
    threshold: jax.Array   # float32 > 1 (inf: only non-finite losses count)


class DivergenceState(NamedTuple):
    """State of :func:`divergence` (all fields shape ``()``)."""

    ema: jax.Array            # float32; biased EMA of the loss
    best: jax.Array           # float32; lowest smoothed loss so far (+inf before any)
    smoothed: jax.Array       # float32; the last debiased smoothed loss (NaN once diverged)
    count: jax.Array          # int32; losses seen (the update index of the next one)
    diverged: jax.Array       # bool; sticky
    diverged_step: jax.Array  # int32; update index at which it diverged (-1: not)
    hparams: DivergenceHParams


def _inc(x: jax.Array) -> jax.Array:
    """Saturating int32 increment."""
    return jnp.where(x < _INT32_MAX, x + 1, x)


def _f32(x: ArrayLike) -> jax.Array:
    # a copy: a state never aliases the caller's array (train steps donate states)
    return device_array(x, jnp.float32, copy=True)


def _i32(x: ArrayLike) -> jax.Array:
    return device_array(x, jnp.int32, copy=True)


def _worst(mode: str) -> jax.Array:
    return full(np.inf if mode == "min" else -np.inf, jnp.float32)


def _check_scalar(fn: str, **named: Any) -> None:
    for name, value in named.items():
        arr = concrete(value)
        if arr is not None and arr.ndim != 0:
            fail(fn, f"`{name}` must be a scalar; got {name} with shape {arr.shape}.",
                 hint="For a population, build one controller per lane inside jax.vmap.")


def _check_unit_interval(fn: str, name: str, value: Any) -> None:
    check_number(fn, name, value)
    arr = concrete(value)
    if arr is not None and not (np.isfinite(arr) and 0.0 < float(arr) < 1.0):
        fail(fn, f"`{name}` must be in the open interval (0, 1); got {name}={shorten(value)}.",
             hint=f"The new scale is scale * {name}; e.g. {name}=0.1 divides the rate by 10.")


# ----------------------------------------------------------------------------------------------
# Reduce on plateau
# ----------------------------------------------------------------------------------------------


def _plateau_improved(metric, best, threshold, *, mode: str, threshold_mode: str):
    margin = threshold * jnp.abs(best) if threshold_mode == "rel" else threshold
    if mode == "min":
        beats = metric < best - margin
    else:
        beats = metric > best + margin
    # Before the first finite metric `best` is +-inf (and inf - inf is NaN): any finite wins.
    return jnp.isfinite(metric) & (beats | ~jnp.isfinite(best))


def _plateau_update(state: PlateauState, metric: ArrayLike, *, mode: str, threshold_mode: str,
                    convention: str) -> PlateauState:
    hp = state.hparams
    metric = _f32(metric)
    improved = _plateau_improved(metric, state.best, hp.threshold, mode=mode,
                                 threshold_mode=threshold_mode)
    best = jnp.where(improved, metric, state.best)
    in_cooldown = state.cooldown > 0
    cooldown = jnp.where(in_cooldown, state.cooldown - 1, state.cooldown)
    if convention == "torch":
        # torch.optim.lr_scheduler.ReduceLROnPlateau.step
        num_bad = jnp.where(improved, 0, _inc(state.num_bad))
        num_bad = jnp.where(in_cooldown, 0, num_bad)
        trigger = num_bad > hp.patience
    else:
        # keras.callbacks.ReduceLROnPlateau.on_epoch_end: the cooldown counter is decremented
        # first, bad evaluations count only once it is over, reduce when wait >= patience and
        # the rate is still above its floor.
        num_bad = jnp.where(in_cooldown, 0, state.num_bad)
        still_cooling = cooldown > 0
        num_bad = jnp.where(improved, 0, jnp.where(still_cooling, num_bad, _inc(num_bad)))
        trigger = (~improved & ~still_cooling & (num_bad >= hp.patience)
                   & (state.scale > hp.min_scale))
    new_scale = jnp.maximum(state.scale * hp.factor, hp.min_scale)
    reduced = trigger & (state.scale - new_scale > hp.eps)
    return PlateauState(
        scale=jnp.where(reduced, new_scale, state.scale),
        best=best,
        num_bad=jnp.where(trigger, 0, num_bad).astype(jnp.int32),
        cooldown=jnp.where(trigger, hp.cooldown, cooldown).astype(jnp.int32),
        reduced=reduced,
        num_reductions=jnp.where(reduced, _inc(state.num_reductions), state.num_reductions),
        last_reduction=jnp.where(reduced, state.count, state.last_reduction),
        count=_inc(state.count),
        hparams=hp,
    )


def _make_plateau_update(mode: str, threshold_mode: str, convention: str):
    def update(state: PlateauState, metric: ArrayLike) -> PlateauState:
        return _plateau_update(state, metric, mode=mode, threshold_mode=threshold_mode,
                               convention=convention)

    update.__name__ = update.__qualname__ = f"reduce_on_plateau_update_{mode}_{threshold_mode}"
    return update


# One update function per static configuration, built once: controllers with the same static
# settings share the same function object, so jit caches keyed on it are shared too.
_PLATEAU_UPDATES = {(m, t, c): _make_plateau_update(m, t, c)
                    for m in ("min", "max") for t in ("rel", "abs") for c in ("torch", "keras")}


def reduce_on_plateau(
    *,
    factor: ArrayLike = 0.1,
    patience: ArrayLike = 10,
    threshold: ArrayLike = 1e-4,
    threshold_mode: str = "rel",
    cooldown: ArrayLike = 0,
    min_scale: ArrayLike = 0.0,
    min_lr: ArrayLike | None = None,
    base_lr: ArrayLike | None = None,
    eps: ArrayLike = 1e-8,
    mode: str = "min",
    patience_convention: str = "torch",
) -> Controller:
    r"""Reduces a learning-rate *scale* when a monitored metric stops improving.

    The state's ``scale`` starts at 1 and multiplies the learning rate (of any schedule). At each
    evaluation ``update(state, metric)`` compares the metric with the best so far; after enough
    consecutive bad evaluations the scale becomes ``max(scale * factor, floor)``, then
    ``cooldown`` evaluations are ignored.

    Improvement (``"min"`` mode; ``"max"`` mirrors it)::

        threshold_mode="rel":  metric < best - threshold * |best|    (sign-correct)
        threshold_mode="abs":  metric < best - threshold

    For positive metrics this equals ``torch.optim.lr_scheduler.ReduceLROnPlateau``; for negative
    ones PyTorch's and optax's ``best * (1 - threshold)`` never detects a plateau, this does.
    NaN and +-inf metrics count as bad and never become ``best``.

    With the defaults it reproduces ``ReduceLROnPlateau(opt, mode, factor, patience, threshold,
    threshold_mode, cooldown, min_lr, eps)`` exactly (``scale * base_lr`` is PyTorch's lr):
    the reduction happens on the (``patience`` + 1)-th consecutive bad evaluation, and a
    reduction smaller than ``eps`` is skipped. ``patience_convention="keras"`` reproduces
    ``keras.callbacks.ReduceLROnPlateau(factor, patience, min_delta=threshold, cooldown, min_lr)``
    (use ``threshold_mode="abs"``, Keras's ``min_delta`` is absolute): reduce on the
    ``patience``-th bad evaluation. Equivalently, Keras ``(patience=p, cooldown=c)`` behaves as
    PyTorch ``(patience=max(p-1, 0), cooldown=max(c-1, 0))``. ``optax.contrib.reduce_on_plateau``
    counts like Keras (reduce when the plateau count reaches ``patience``).

    **The floor.** The controller only knows a scale, so the floor is ``min_scale`` (a fraction
    of the initial rate). PyTorch/Keras's absolute ``min_lr`` needs the rate it applies to: pass
    ``min_lr`` together with ``base_lr`` (the rate the scale multiplies); the floor is then
    ``max(min_scale, min_lr / base_lr)`` and ``eps`` is also in rate units (``eps / base_lr`` in
    scale units). Without ``base_lr``, ``eps`` is in scale units (PyTorch with ``lr=1``).

    Every numeric argument may be a traced array (build the controller inside ``jit``/``vmap``);
    values are stored in ``state.hparams``, so a jitted ``update`` compiles once for all values.
    Concrete values are validated here; traced values are the caller's responsibility.

    Args:
      factor: multiplier of the scale at a reduction, in (0, 1).
      patience: bad evaluations tolerated (see the convention above); integer >= 0.
      threshold: minimum significant improvement, >= 0 (relative or absolute).
      threshold_mode: ``"rel"`` or ``"abs"``.
      cooldown: evaluations ignored after a reduction (their bad count is discarded); integer
        >= 0.
      min_scale: floor of the scale, >= 0.
      min_lr: absolute floor of the learning rate; requires ``base_lr``.
      base_lr: the learning rate the scale multiplies (only used to convert ``min_lr`` and
        ``eps`` to scale units).
      eps: a reduction is applied only if it lowers the scale (rate, with ``base_lr``) by more
        than ``eps``.
      mode: ``"min"`` (e.g. a loss) or ``"max"`` (e.g. an accuracy).
      patience_convention: ``"torch"`` (default) or ``"keras"``.

    Returns:
      A :class:`Controller` with state :class:`PlateauState`; ``restore_best=False``.

    Raises:
      ValueError: for a concrete ``factor`` outside (0, 1), a negative ``patience``/``cooldown``,
        a negative ``threshold``/``min_scale``/``min_lr``/``eps``, a non-positive ``base_lr``,
        ``min_lr`` without ``base_lr``, or an unknown ``mode``/``threshold_mode``/
        ``patience_convention``.
      TypeError: for a non-integer ``patience``/``cooldown`` or a non-numeric argument.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=1)
      >>> states = jaxlr.controllers.simulate(ctrl, jnp.array([3.0, 2.0, 2.0, 2.0, 2.0, 2.0]))
      >>> states.scale.tolist()
      [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
      >>> states.reduced.tolist()
      [False, False, False, True, False, True]
    """
    fn = "reduce_on_plateau"
    check_choice(fn, "mode", mode, ("min", "max"))
    check_choice(fn, "threshold_mode", threshold_mode, ("rel", "abs"))
    check_choice(fn, "patience_convention", patience_convention, ("torch", "keras"))
    _check_scalar(fn, factor=factor, patience=patience, threshold=threshold, cooldown=cooldown,
                  min_scale=min_scale, min_lr=min_lr, base_lr=base_lr, eps=eps)
    _check_unit_interval(fn, "factor", factor)
    check_steps(fn, patience=patience, cooldown=cooldown)
    check_positive(fn, allow_zero=True, threshold=threshold, min_scale=min_scale, eps=eps)
    if min_lr is not None:
        check_positive(fn, allow_zero=True, min_lr=min_lr)
        if base_lr is None:
            fail(fn, f"`min_lr` needs `base_lr` (the rate the scale multiplies); got "
                     f"min_lr={shorten(min_lr)}, base_lr=None.",
                 hint="Pass base_lr=<your learning rate>, or give the floor as a fraction of it "
                      "with min_scale=min_lr / lr.")
    if base_lr is not None:
        check_positive(fn, base_lr=base_lr)

    def init() -> PlateauState:
        floor = _f32(min_scale)
        eps_scale = _f32(eps)
        if base_lr is not None:
            eps_scale = eps_scale / _f32(base_lr)
            if min_lr is not None:
                floor = jnp.maximum(floor, _f32(min_lr) / _f32(base_lr))
        hp = PlateauHParams(factor=_f32(factor), patience=_i32(patience),
                            threshold=_f32(threshold), cooldown=_i32(cooldown),
                            min_scale=floor, eps=eps_scale)
        # Every field its own buffer: a train step that donates its state must not see one
        # buffer twice.
        def zero():
            return full(0, jnp.int32)

        return PlateauState(scale=full(1.0, jnp.float32), best=_worst(mode), num_bad=zero(),
                            cooldown=zero(), reduced=full(False, bool), num_reductions=zero(),
                            last_reduction=full(-1, jnp.int32), count=zero(), hparams=hp)

    update = _PLATEAU_UPDATES[(mode, threshold_mode, patience_convention)]
    return Controller(init=init, update=update, mode=mode, restore_best=False, kind="plateau")


# ----------------------------------------------------------------------------------------------
# Early stopping
# ----------------------------------------------------------------------------------------------


def _early_stopping_update(state: EarlyStoppingState, metric: ArrayLike, *,
                           mode: str) -> EarlyStoppingState:
    hp = state.hparams
    metric = _f32(metric)
    finite = jnp.isfinite(metric)
    if mode == "min":
        beats_best = metric + hp.min_delta < state.best
        beats_baseline = metric + hp.min_delta < hp.baseline
    else:
        beats_best = metric - hp.min_delta > state.best
        beats_baseline = metric - hp.min_delta > hp.baseline
    active = ~state.stop & (state.count >= hp.start_from)
    improved = active & finite & (beats_best | ~jnp.isfinite(state.best))
    wait = _inc(state.num_bad)
    wait = jnp.where(improved & beats_baseline, 0, wait)
    # Keras: a non-improving evaluation stops once `wait >= patience`, never the first one.
    stop = state.stop | (active & ~improved & (wait >= hp.patience) & (state.count > 0))
    return EarlyStoppingState(
        stop=stop,
        improved=improved,
        best=jnp.where(improved, metric, state.best),
        best_step=jnp.where(improved, state.count, state.best_step),
        num_bad=jnp.where(active, wait, state.num_bad).astype(jnp.int32),
        count=jnp.where(state.stop, state.count, _inc(state.count)),
        hparams=hp,
    )


def _make_early_stopping_update(mode: str):
    def update(state: EarlyStoppingState, metric: ArrayLike) -> EarlyStoppingState:
        return _early_stopping_update(state, metric, mode=mode)

    update.__name__ = update.__qualname__ = f"early_stopping_update_{mode}"
    return update


_EARLY_STOPPING_UPDATES = {m: _make_early_stopping_update(m) for m in ("min", "max")}


def early_stopping(
    *,
    patience: ArrayLike,
    min_delta: ArrayLike = 0.0,
    mode: str = "min",
    restore_best: bool = True,
    baseline: ArrayLike | None = None,
    start_from: ArrayLike = 0,
) -> Controller:
    """Stops training when a monitored metric has not improved for ``patience`` evaluations.

    Reproduces ``keras.callbacks.EarlyStopping(min_delta, patience, mode, baseline,
    restore_best_weights, start_from_epoch)`` and Lightning's ``EarlyStopping``: an evaluation
    improves when ``metric < best - min_delta`` (``"min"``; ``"max"`` mirrors it, ``min_delta`` is
    absolute); ``stop`` becomes True at the ``patience``-th consecutive evaluation without
    improvement (never at the very first evaluation). With a ``baseline``, an improvement resets
    the count only if it also beats the baseline. NaN and +-inf metrics never improve.

    ``stop`` is sticky: once set, ``update`` returns the state unchanged (except
    ``improved=False``), so a stopped lane of a vmapped population stays frozen. ``best_step`` is
    the index (0-based, counting every evaluation) of the best one; a loop that honours
    ``restore_best`` returns the parameters saved at that evaluation (``-1``: no finite metric
    yet, keep the initial parameters).

    Every numeric argument may be traced; values live in ``state.hparams``.

    Args:
      patience: evaluations without improvement before stopping; integer >= 0.
      min_delta: minimum absolute improvement, >= 0.
      mode: ``"min"`` or ``"max"``.
      restore_best: tells the training loop to return the best parameters (static).
      baseline: optional value the metric must beat for an improvement to reset patience.
      start_from: evaluations with index < ``start_from`` are ignored (Keras
        ``start_from_epoch``); integer >= 0.

    Returns:
      A :class:`Controller` with state :class:`EarlyStoppingState`.

    Raises:
      ValueError: negative ``patience``/``start_from``/``min_delta``, non-finite ``baseline``,
        unknown ``mode``.
      TypeError: non-integer ``patience``/``start_from``, non-bool ``restore_best``.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> ctrl = jaxlr.early_stopping(patience=2)
      >>> states = jaxlr.controllers.simulate(ctrl, jnp.array([3.0, 2.0, 2.5, 2.2, 1.0]))
      >>> states.stop.tolist()
      [False, False, False, True, True]
      >>> int(states.best_step[-1]), float(states.best[-1])
      (1, 2.0)
    """
    fn = "early_stopping"
    check_choice(fn, "mode", mode, ("min", "max"))
    if not isinstance(restore_best, (bool, np.bool_)):
        fail(fn, f"`restore_best` must be a bool; got restore_best={shorten(restore_best)}.",
             error=TypeError)
    _check_scalar(fn, patience=patience, min_delta=min_delta, baseline=baseline,
                  start_from=start_from)
    check_steps(fn, patience=patience, start_from=start_from)
    check_positive(fn, allow_zero=True, min_delta=min_delta)
    if baseline is not None:
        check_number(fn, "baseline", baseline)
        arr = concrete(baseline)
        if arr is not None and not np.all(np.isfinite(arr)):
            fail(fn, f"`baseline` must be finite; got baseline={shorten(baseline)}.",
                 hint="Pass baseline=None for no baseline.")

    def init() -> EarlyStoppingState:
        base = _worst(mode) if baseline is None else _f32(baseline)
        hp = EarlyStoppingHParams(patience=_i32(patience), min_delta=_f32(min_delta),
                                  baseline=base, start_from=_i32(start_from))
        return EarlyStoppingState(stop=full(False, bool), improved=full(False, bool),
                                  best=_worst(mode), best_step=full(-1, jnp.int32),
                                  num_bad=full(0, jnp.int32),
                                  count=full(0, jnp.int32), hparams=hp)

    return Controller(init=init, update=_EARLY_STOPPING_UPDATES[mode], mode=mode,
                      restore_best=bool(restore_best), kind="early_stopping")


# ----------------------------------------------------------------------------------------------
# Divergence
# ----------------------------------------------------------------------------------------------


def divergence_update(state: DivergenceState, loss: ArrayLike) -> DivergenceState:
    """The update of every :func:`divergence` controller (one static function)."""
    hp = state.hparams
    loss = _f32(loss)
    beta = hp.smoothing
    k = state.count
    ema = beta * state.ema + (1.0 - beta) * loss
    smooth = ema / (1.0 - jnp.power(beta, (k + 1).astype(jnp.float32)))
    best = jnp.where(k == 0, smooth, jnp.minimum(state.best, smooth))
    bad = ~jnp.isfinite(loss) | ~jnp.isfinite(smooth) | (
        smooth - best > (hp.threshold - 1.0) * jnp.abs(best))
    was = state.diverged
    stop = was | bad
    return DivergenceState(
        ema=jnp.where(stop, state.ema, ema),
        best=jnp.where(stop, state.best, best),
        smoothed=jnp.where(was, jnp.float32(jnp.nan), smooth),
        count=_inc(k),
        diverged=stop,
        diverged_step=jnp.where(bad & ~was, k, state.diverged_step),
        hparams=hp,
    )


def divergence(*, threshold: ArrayLike = 4.0, smoothing: ArrayLike = 0.9) -> Controller:
    """Flags a run as diverged when its smoothed loss rises well above its best (per update).

    At update ``k`` the loss is smoothed by a debiased exponential moving average
    (``ema_k = beta ema_{k-1} + (1 - beta) loss_k``, ``smoothed_k = ema_k / (1 - beta^(k+1))``);
    the run diverges when a loss is not finite or ``smoothed_k > best + (threshold - 1) |best|``
    (``best`` the lowest smoothed loss so far). For positive losses that is fastai's and
    torch-lr-finder's ``smoothed > threshold * best``; the ``|best|`` form keeps its meaning for
    negative losses. ``diverged`` is sticky; the engine freezes a diverged run (its parameters
    and optimizer state stop changing) and reports ``diverged_step``.

    The finders use it for every candidate; ``fit(divergence=...)`` stops a run the same way.
    ``threshold=float("inf")`` flags only non-finite losses.

    Args:
      threshold: > 1 (fastai 4, torch-lr-finder 5); may be traced.
      smoothing: the EMA coefficient ``beta`` in [0, 1) (0: no smoothing); may be traced.

    Returns:
      A :class:`Controller` (``kind="divergence"``) whose ``update(state, loss)`` is called once
      per update with the batch loss.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> ctrl = jaxlr.controllers.divergence(threshold=2.0, smoothing=0.0)
      >>> s = jaxlr.controllers.simulate(ctrl, jnp.array([1.0, 0.5, 0.8, 1.2, 0.1]))
      >>> s.diverged.tolist(), int(s.diverged_step[-1])
      ([False, False, False, True, True], 3)
    """
    fn = "divergence"
    _check_scalar(fn, threshold=threshold, smoothing=smoothing)
    check_number(fn, "threshold", threshold)
    check_number(fn, "smoothing", smoothing)
    t, b = concrete(threshold), concrete(smoothing)
    if t is not None and not float(t) > 1.0:
        fail(fn, f"`threshold` must be > 1; got threshold={threshold!r}.",
             hint="fastai uses 4, torch-lr-finder 5; float('inf') flags only NaN/inf losses.")
    if b is not None and not 0.0 <= float(b) < 1.0:
        fail(fn, f"`smoothing` (the EMA coefficient beta) must be in [0, 1); got "
             f"smoothing={smoothing!r}.", hint="Use 0 for no smoothing, 0.98 like fastai.")

    def init() -> DivergenceState:
        if not any(isinstance(x, (jax.Array, jax.core.Tracer)) for x in (smoothing, threshold)):
            # host numbers: the state built with numpy and placed in one transfer
            f32, i32 = np.float32, np.int32
            return jax.device_put(DivergenceState(
                ema=f32(0.0), best=f32(np.inf), smoothed=f32(np.nan), count=i32(0),
                diverged=np.bool_(False), diverged_step=i32(-1),
                hparams=DivergenceHParams(smoothing=f32(smoothing), threshold=f32(threshold))))
        hp = DivergenceHParams(smoothing=_f32(smoothing), threshold=_f32(threshold))
        return DivergenceState(ema=full(0.0, jnp.float32),
                               best=full(np.inf, jnp.float32),
                               smoothed=full(np.nan, jnp.float32),
                               count=full(0, jnp.int32), diverged=full(False, bool),
                               diverged_step=full(-1, jnp.int32), hparams=hp)

    return Controller(init=init, update=divergence_update, mode="min", restore_best=False,
                      kind="divergence")


# ----------------------------------------------------------------------------------------------
# Helpers and the optax adapter
# ----------------------------------------------------------------------------------------------


def simulate(controller: Controller, metrics: ArrayLike, state: Any = None) -> Any:
    """Feeds a sequence of metrics to a controller with ``lax.scan``; returns stacked states.

    Args:
      controller: a :class:`Controller`.
      metrics: shape ``[num_evaluations]``.
      state: initial state (default ``controller.init()``).

    Returns:
      The state after each evaluation, every field with a leading ``[num_evaluations]`` axis.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> s = jaxlr.controllers.simulate(jaxlr.controllers.reduce_on_plateau(patience=0), jnp.ones(3))
      >>> s.scale.tolist()
      [1.0, 0.10000000149011612, 0.010000000707805157]
    """
    if not isinstance(controller, Controller):
        fail("simulate", f"`controller` must be a jaxlr Controller; got "
                         f"{type(controller).__name__}.",
             hint="Build one with jaxlr.controllers.reduce_on_plateau(...) or jaxlr.early_stopping(...).",
             error=TypeError)
    metrics = jnp.asarray(metrics)
    if metrics.ndim != 1:
        fail("simulate", f"`metrics` must be one-dimensional; got shape {metrics.shape}.")
    if state is None:
        state = controller.init()
    return _scan_updates(controller.update, state, metrics)


@functools.partial(jax.jit, static_argnums=0)
def _scan_updates(update: Callable[[Any, ArrayLike], Any], state: Any, metrics: jax.Array):
    def step(s, m):
        s = update(s, m)
        return s, s

    return jax.lax.scan(step, state, metrics)[1]


def plateau_transform(controller: Controller) -> optax.GradientTransformationExtraArgs:
    """An optax transformation that scales updates by a plateau controller's ``scale``.

    ``update(updates, state, params=None, *, value=None)`` takes the monitored metric
    keyword-only, like ``optax.contrib.reduce_on_plateau``: with a ``value`` the controller is
    updated first and the updates are scaled by the new scale; with ``value=None`` the scale is
    applied unchanged (a training loop that evaluates the metric only every few steps updates the
    controller then, e.g. by replacing the :class:`PlateauState` inside the optimizer state).
    The transformation's state *is* the controller's :class:`PlateauState`, so
    ``jaxlr.current_lr`` and ``jaxlr.hyperparams`` find it in an ``optax.chain``.

    Place it after the transformation that applies the learning rate (the scale multiplies the
    final update, i.e. the effective rate).

    Args:
      controller: a controller built by :func:`reduce_on_plateau`.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Examples:
      >>> import jax.numpy as jnp, optax, jaxlr
      >>> ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0)
      >>> tx = optax.chain(optax.sgd(1.0), jaxlr.controllers.plateau_transform(ctrl))
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> upd, state = tx.update(jnp.ones(2), state, params, value=1.0)
      >>> upd, state = tx.update(jnp.ones(2), state, params, value=1.0)  # no improvement
      >>> upd.tolist()
      [-0.5, -0.5]
    """
    if not isinstance(controller, Controller) or controller.kind != "plateau":
        got = controller.kind if isinstance(controller, Controller) else type(controller).__name__
        fail("plateau_transform", f"`controller` must be built by jaxlr.controllers.reduce_on_plateau; got "
                                  f"{got}.",
             hint="Early stopping ends training, it does not scale updates; pass it to fit().",
             error=TypeError)

    def init_fn(params: Any) -> PlateauState:
        del params
        return controller.init()

    def update_fn(updates: Any, state: PlateauState, params: Any = None, *,
                  value: ArrayLike | None = None, **extra_args: Any):
        del params, extra_args
        if value is not None:
            state = controller.update(state, value)
        scale = state.scale
        updates = jax.tree.map(lambda g: g * scale.astype(jnp.asarray(g).dtype), updates)
        return updates, state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
