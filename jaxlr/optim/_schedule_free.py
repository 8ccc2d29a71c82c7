r"""Schedule-free AdamW and SGD (Defazio et al. 2024) with hyperparameters as data.

Thin wrappers of ``optax.contrib.schedule_free_adamw`` / ``schedule_free_sgd`` built through
:func:`jaxlr.optim.inject_hyperparams`: the learning rate (a number or any jaxlr schedule, e.g. a
warm-up), ``b1``, ``b2``, ``eps``, ``weight_decay`` and ``weight_lr_power`` live in the optimizer
state as float32 arrays, so they can be swept under ``vmap``, replaced with
:func:`jaxlr.set_hyperparams` without recompiling, and read with :func:`jaxlr.current_lr`.

Schedule-free methods train at the interpolated point :math:`y` (the parameters the optimizer
updates) but should be *evaluated* at the averaged point :math:`x`:
:func:`eval_params` ``(opt_state, params) -> x`` recovers it from any optimizer state that
contains a schedule-free state (and returns ``params`` unchanged otherwise, so a training loop
may call it unconditionally before evaluating).

References:
  Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled", NeurIPS 2024
  (arXiv:2405.15682).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxlr import schedules
from jaxlr.optim._optimizers import inject_hyperparams
from jaxlr._utils._validation import check_steps, concrete, fail, shorten

__all__ = ["schedule_free_adamw", "schedule_free_sgd", "eval_params"]

_ScheduleFreeState = optax.contrib.ScheduleFreeState


def _check(fn: str, name: str, value: Any, *, low: float, high: float | None = None,
           open_low: bool = False, open_high: bool = True) -> None:
    if value is None or callable(value):
        return
    if isinstance(value, bool) or not isinstance(
            value, (int, float, np.ndarray, np.generic, jax.Array)):
        fail(fn, f"`{name}` must be a number or an array; got {name}={shorten(value)}.",
             error=TypeError)
    arr = concrete(value)
    if arr is None:
        return
    bad = ~np.isfinite(arr) | ((arr <= low) if open_low else (arr < low))
    if high is not None:
        bad |= (arr >= high) if open_high else (arr > high)
    if np.any(bad):
        lo = "(" if open_low else "["
        hi = "" if high is None else (f", {high})" if open_high else f", {high}]")
        allowed = f"in {lo}{low}{hi}" if high is not None else f"{'>' if open_low else '>='} {low}"
        fail(fn, f"`{name}` must be finite and {allowed}; got {name}={shorten(value)}.")


def _learning_rate(fn: str, learning_rate: Any, warmup_steps: Any) -> Any:
    if learning_rate is None:
        fail(fn, "`learning_rate` is required; got learning_rate=None.", error=TypeError)
    _check(fn, "learning_rate", learning_rate, low=0.0)
    if warmup_steps is None:
        return learning_rate
    check_steps(fn, minimum=0, warmup_steps=warmup_steps)
    base = learning_rate if callable(learning_rate) else schedules.constant(learning_rate)
    return schedules.warmup(base, warmup_steps)


def _sync_b1(tx: optax.GradientTransformationExtraArgs, b1: jax.Array):
    """Keeps ``ScheduleFreeState.b1`` equal to the ``b1`` used by the last update, so that the
    evaluation point is recovered with the value that produced the parameters."""

    def update_fn(updates, state, params=None, **extra_args):
        updates, state = tx.update(updates, state, params, **extra_args)
        return updates, state._replace(b1=jnp.asarray(b1).astype(jnp.asarray(state.b1).dtype))

    return optax.GradientTransformationExtraArgs(tx.init, update_fn)


def schedule_free_adamw(
    learning_rate: Any = 0.0025,
    *,
    warmup_steps: int | None = None,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    weight_lr_power: ArrayLike = 2.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Schedule-free AdamW (``optax.contrib.schedule_free_adamw``) with hyperparameters as data.

    The optimizer's parameters are the gradient point :math:`y`; evaluate the model at
    :func:`eval_params` ``(opt_state, params)``. With a constant ``learning_rate`` the updates
    equal optax's exactly. ``warmup_steps`` prepends a linear warm-up from 0 as a jaxlr schedule
    evaluated at the update count (update ``k`` uses ``lr * k / warmup_steps``, the rate optax's
    inner Adam uses too; optax's averaging weight reads its warm-up one step later, so with a
    warm-up the averaged point differs slightly from optax's). Any jaxlr schedule may be passed
    as ``learning_rate`` instead (schedule-free wants warm-up but no decay).

    Args:
      learning_rate: peak rate (float, array) or a schedule.
      warmup_steps: optional linear warm-up length (int >= 0).
      b1: interpolation/averaging parameter, in (0, 1) (schedule-free needs ``b1 > 0``).
      b2: second-moment decay in [0, 1).
      eps: added to the root of the second moment, >= 0.
      weight_decay: decoupled weight decay (multiplied by the rate), >= 0.
      weight_lr_power: power of the rate in the averaging weights, >= 0.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is a jaxlr ``HyperState``.

    References:
      Defazio et al., "The Road Less Scheduled", 2024.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.schedule_free_adamw(0.1)
      >>> params = jnp.ones(2)
      >>> state = opt.init(params)
      >>> u, state = opt.update(jnp.ones(2), state, params)
      >>> params = params + u
      >>> jaxlr.optim.eval_params(state, params).round(4).tolist()    # the averaged point x
      [0.9, 0.9]
    """
    fn = "schedule_free_adamw"
    lr = _learning_rate(fn, learning_rate, warmup_steps)
    _check(fn, "b1", b1, low=0.0, high=1.0, open_low=True)
    _check(fn, "b2", b2, low=0.0, high=1.0)
    _check(fn, "eps", eps, low=0.0)
    _check(fn, "weight_decay", weight_decay, low=0.0)
    _check(fn, "weight_lr_power", weight_lr_power, low=0.0)

    def factory(learning_rate, b1, b2, eps, weight_decay, weight_lr_power):
        tx = optax.contrib.schedule_free_adamw(
            learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
            weight_lr_power=weight_lr_power)
        return _sync_b1(tx, b1)

    return inject_hyperparams(factory, {
        "learning_rate": lr, "b1": b1, "b2": b2, "eps": eps, "weight_decay": weight_decay,
        "weight_lr_power": weight_lr_power}, name=fn)


def schedule_free_sgd(
    learning_rate: Any = 1.0,
    *,
    warmup_steps: int | None = None,
    b1: ArrayLike = 0.9,
    weight_decay: ArrayLike | None = None,
    weight_lr_power: ArrayLike = 2.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Schedule-free SGD (``optax.contrib.schedule_free_sgd``) with hyperparameters as data.

    See :func:`schedule_free_adamw` for the evaluation point and the warm-up.

    Args:
      learning_rate: rate (float, array) or a schedule.
      warmup_steps: optional linear warm-up length (int >= 0).
      b1: interpolation/averaging parameter in (0, 1).
      weight_decay: optional coupled weight decay (added to the gradient), >= 0.
      weight_lr_power: power of the rate in the averaging weights, >= 0.

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.schedule_free_sgd(0.5, b1=0.5)
      >>> state = opt.init(jnp.zeros(1))
      >>> float(jaxlr.current_lr(jaxlr.set_hyperparams(state, learning_rate=0.25)))
      0.25
    """
    fn = "schedule_free_sgd"
    lr = _learning_rate(fn, learning_rate, warmup_steps)
    _check(fn, "b1", b1, low=0.0, high=1.0, open_low=True)
    _check(fn, "weight_decay", weight_decay, low=0.0)
    _check(fn, "weight_lr_power", weight_lr_power, low=0.0)
    hp = {"learning_rate": lr, "b1": b1, "weight_lr_power": weight_lr_power}
    if weight_decay is not None:
        hp["weight_decay"] = weight_decay

    def factory(learning_rate, b1, weight_lr_power, weight_decay=None):
        tx = optax.contrib.schedule_free_sgd(learning_rate, b1=b1, weight_decay=weight_decay,
                                             weight_lr_power=weight_lr_power)
        return _sync_b1(tx, b1)

    return inject_hyperparams(factory, hp, name=fn)


def _is_sf(x: Any) -> bool:
    return isinstance(x, _ScheduleFreeState)


def eval_params(opt_state: Any, params: Any) -> Any:
    r"""The parameters to evaluate a model at: schedule-free's averaged point, else ``params``.

    For an optimizer state containing a schedule-free state (:func:`schedule_free_adamw`,
    :func:`schedule_free_sgd`, ``optax.contrib.schedule_free*``, also inside chains and jaxlr
    wrappers) returns :math:`x = (y - (1 - \beta_1) z) / \beta_1` with :math:`y` = ``params``;
    for any other optimizer returns ``params`` unchanged. Works on a batched (population) state
    (leading lane axis on both arguments), eagerly, under ``jit`` and under ``vmap``.

    Args:
      opt_state: the optimizer state (or a ``jaxlr.TrainState``, whose ``opt_state`` is used).
      params: the trained parameters (the optimizer's :math:`y`).

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> state = jaxlr.adam(0.1).init(jnp.ones(2))
      >>> jaxlr.optim.eval_params(state, jnp.ones(2)).tolist()       # not schedule-free: unchanged
      [1.0, 1.0]
    """
    opt_state = getattr(opt_state, "opt_state", opt_state) if not _is_sf(opt_state) else opt_state
    found = [n for n in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: _is_sf(x)
                                                  or x is None) if _is_sf(n)]
    if not found:
        return params
    sf = found[0]
    b1 = jnp.asarray(sf.b1)

    def point(y, z):
        b = b1.reshape(b1.shape + (1,) * (jnp.ndim(y) - b1.ndim)).astype(jnp.asarray(y).dtype)
        return ((y - (1 - b) * z.astype(b.dtype)) / b).astype(jnp.asarray(y).dtype)

    return jax.tree_util.tree_map(point, params, sf.z)
