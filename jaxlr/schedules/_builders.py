"""Learning-rate schedule builders: every numeric argument may be a traced JAX array.

Each builder validates its concrete arguments and returns a frozen, callable pytree (a subclass of
:class:`jaxlr.Schedule`). Conventions (see the README's schedule section):

* **Step indexing**: optimizer update ``k`` (k = 0, 1, ...) uses ``schedule(k)``, like PyTorch's
  ``get_last_lr()`` before the k-th ``step()``, Keras, HF and optax.
* **Clamping**: beyond its horizon a schedule holds its final value; where a peer differs an
  explicit option reproduces it (``cosine_decay(periodic=True)``).
* **Boundaries**: a value changes *at* its boundary step (``step >= b``), like PyTorch and optax.
* **Integer structure**: boundaries, cycle indices and restarts use int32 arithmetic; only the
  within-phase fraction is floating point.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from jaxlr._utils import _validation as validation
from jaxlr._utils._validation import shorten as _short
from jaxlr.schedules._base import (
    INT32_MAX,
    Schedule,
    as_float,
    as_int,
    as_schedule,
    as_step,
    concrete_int,
    cos_factor,
    evaluate,
    float_dtype,
    int_fraction,
    register,
    safe_div,
)

# --------------------------------------------------------------------------------------------
# Validation helpers (concrete values only; traced values are the caller's responsibility).
# --------------------------------------------------------------------------------------------


def _check_lr(fn: str, **named: Any) -> None:
    """Learning rates / values: real, finite, >= 0."""
    validation.check_positive(fn, allow_zero=True, **named)


def _check_bool(fn: str, name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        validation.fail(fn, f"`{name}` must be True or False; got {name}={_short(value)}.",
                        error=TypeError)


def _check_int(fn: str, name: str, value: Any, minimum: int) -> None:
    """An integer (not a float, not a bool) >= minimum; skips tracers."""
    if validation.is_traced(value):
        return
    arr = np.asarray(value)
    if isinstance(value, bool) or not np.issubdtype(arr.dtype, np.integer):
        hint = None
        if (np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr))
                and np.all(arr == np.round(arr))):
            hint = f"Pass an int, e.g. {name}={int(np.round(arr).ravel()[0])}."
        validation.fail(fn, f"`{name}` must be an integer; got {name}={_short(value)}.", hint=hint,
                        error=TypeError)
    if np.any(arr < minimum) or np.any(arr > INT32_MAX):
        validation.fail(fn, f"`{name}` must be an integer in [{minimum}, 2**31 - 1]; "
                            f"got {name}={_short(value)}.")


def _shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return (len(value),)
    return tuple(jnp.shape(value)) if validation.is_traced(value) else np.shape(value)


def _as_vector(value: Any) -> Any:
    """Lists become tuples (immutable); arrays are kept as given."""
    return tuple(value) if isinstance(value, list) else value


def _check_vector(fn: str, name: str, value: Any) -> None:
    if isinstance(value, (str, bytes, dict)) or len(_shape(value)) != 1:
        validation.fail(fn, f"`{name}` must be a 1-D sequence; got {name}={_short(value)}.",
                        error=TypeError if not hasattr(value, "shape")
                        and not isinstance(value, (list, tuple)) else ValueError)
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            validation.check_number(fn, f"{name}[{i}]", v)
    else:
        validation.check_number(fn, name, value)


def _check_boundaries(fn: str, name: str, value: Any) -> None:
    """A 1-D sequence of integer steps >= 0, sorted non-decreasingly."""
    _check_vector(fn, name, value)
    if validation.is_traced(value):
        return
    arr = np.asarray(value)
    if arr.size == 0:
        return
    if not np.issubdtype(arr.dtype, np.integer):
        validation.fail(fn, f"`{name}` must be integer steps; got {name}={_short(value)}.",
                        hint="Pass ints, e.g. [1000, 2000].", error=TypeError)
    if np.any(arr < 0) or np.any(arr > INT32_MAX):
        validation.fail(fn, f"`{name}` must be steps in [0, 2**31 - 1]; got "
                            f"{name}={_short(value)}.")
    if np.any(np.diff(arr) < 0):
        validation.fail(fn, f"`{name}` must be sorted in increasing order; got "
                            f"{name}={_short(value)}.",
                        hint=f"Use {name}={_short(sorted(arr.tolist()))}.")


def _check_open_unit(fn: str, name: str, value: Any) -> None:
    validation.check_number(fn, name, value)
    arr = validation.concrete(value)
    if arr is not None and np.any(~((arr > 0) & (arr < 1))):
        validation.fail(fn, f"`{name}` must be in the open interval (0, 1); got "
                            f"{name}={_short(value)}.")


def _check_order(fn: str, low_name: str, low: Any, high_name: str, high: Any,
                 hint: str | None = None) -> None:
    """ValueError unless ``low <= high`` (elementwise) where both are concrete."""
    lo, hi = _concrete_float(low), _concrete_float(high)
    if lo is not None and hi is not None and np.any(lo > hi):
        validation.fail(fn, f"`{low_name}` must be <= `{high_name}`; got "
                            f"{low_name}={_short(low)}, "
                            f"{high_name}={_short(high)}.", hint=hint)


def _check_at_least_one(fn: str, name: str, value: Any, hint: str) -> None:
    arr = _concrete_float(value)
    if arr is not None and np.any(arr < 1):
        validation.fail(fn, f"`{name}` must be >= 1; got {name}={_short(value)}.",
                        hint=hint)


def _concrete_float(value: Any) -> np.ndarray | None:
    arr = validation.concrete(value)
    return None if arr is None else np.asarray(arr, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Shared arithmetic.
# --------------------------------------------------------------------------------------------


def _count_le(boundaries: Any, step: jax.Array) -> jax.Array:
    """Number of boundaries ``<= step`` (int32), O(1) graph size in the number of boundaries."""
    b = _vector(boundaries, jnp.int32)
    n = b.shape[-1]
    if n == 0:
        return jnp.zeros(step.shape, jnp.int32)
    if n <= 16:
        return jnp.sum(step[..., None] >= b, axis=-1, dtype=jnp.int32)
    return jnp.searchsorted(b, step, side="right", method="scan").astype(jnp.int32)


def _vector(value: Any, dtype) -> jax.Array:
    """A 1-D field (tuple of numbers or an array) as one array; O(1) graph for concrete tuples."""
    if isinstance(value, tuple):
        if not value:
            return jnp.zeros((0,), dtype)
        if not validation.is_traced(value):
            return jnp.asarray(np.asarray(value).astype(dtype))
        return jnp.stack([jnp.asarray(x).astype(dtype) for x in value])
    return jnp.asarray(value).astype(dtype)


def _pow(base: jax.Array, exponent: jax.Array) -> jax.Array:
    """``base ** exponent`` for ``base >= 0`` as ``exp2(exponent * log2(base))`` (much faster
    than ``jnp.power`` with a traced float exponent on CPU; ``0 ** 0 == 1``)."""
    zero = base == 0
    safe = jnp.where(zero, jnp.ones_like(base), base)
    out = jnp.exp2(exponent * jnp.log2(safe))
    return jnp.where(zero, jnp.where(exponent == 0, 1.0, 0.0).astype(out.dtype), out)


def _pow_fast_integers(base: jax.Array, exponent: jax.Array) -> jax.Array:
    """``base ** exponent`` with a scalar exponent; exponents 1 and 2 (the common polynomial
    powers) take a branch without transcendental functions."""
    if jnp.ndim(exponent) != 0:
        return _pow(base, exponent)
    index = jnp.where(exponent == 1, 0, jnp.where(exponent == 2, 1, 2))
    return lax.switch(index, [lambda b, e: b, lambda b, e: b * b, _pow], base, exponent)


def _ramp(shape: str, init: jax.Array, target: jax.Array, frac: jax.Array) -> jax.Array:
    """Warm-up ramp from ``init`` (frac=0) to ``target`` (frac=1)."""
    if shape == "linear":
        return init + (target - init) * frac
    if shape == "cosine":
        return init + (target - init) * cos_factor(frac)
    # exponential: geometric interpolation (needs init > 0)
    return init * _pow(target / init, frac)


def _anneal(anneal: str, start: jax.Array, end: jax.Array, remaining: jax.Array) -> jax.Array:
    """Value between ``start`` (remaining=1) and ``end`` (remaining=0), linear or cosine."""
    factor = remaining if anneal == "linear" else cos_factor(remaining)
    return end + (start - end) * factor


# --------------------------------------------------------------------------------------------
# Simple decays.
# --------------------------------------------------------------------------------------------


@register("constant", children=("value",))
class Constant(Schedule):
    """Schedule returned by :func:`constant`."""

    value: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        value = as_float(self.value)
        return jnp.broadcast_to(value, jnp.broadcast_shapes(value.shape, step.shape))

    def horizon(self) -> int | None:
        return 0


def constant(value: ArrayLike) -> Constant:
    """A constant value at every step.

    Reproduces ``optax.constant_schedule(value)``.

    Args:
      value: the learning rate (>= 0); may be traced.

    Returns:
      A :class:`jaxlr.Schedule`.

    References:
      Robbins & Monro, "A Stochastic Approximation Method", Ann. Math. Stat. 1951
      (the fixed step size baseline); peer: ``optax.constant_schedule``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.constant(0.1)
      >>> float(s(1000))
      0.1
    """
    _check_lr("constant", value=value)
    return Constant(value)


@register("step_decay", children=("init_value", "step_size", "decay_rate"))
class StepDecay(Schedule):
    """Schedule returned by :func:`step_decay`."""

    init_value: Any
    step_size: Any
    decay_rate: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        k = step // jnp.maximum(as_int(self.step_size), 1)
        return as_float(self.init_value) * _pow(as_float(self.decay_rate),
                                                k.astype(float_dtype()))


def step_decay(init_value: ArrayLike, step_size: ArrayLike,
               decay_rate: ArrayLike = 0.1) -> StepDecay:
    """Multiplies the value by ``decay_rate`` every ``step_size`` steps.

    .. math:: \\eta_t = \\eta_0 \\gamma^{\\lfloor t / s \\rfloor}

    Reproduces ``torch.optim.lr_scheduler.StepLR(step_size, gamma=decay_rate)`` (and Keras
    ``ExponentialDecay(staircase=True)`` with ``decay_steps=step_size``).

    Args:
      init_value: value at step 0 (>= 0).
      step_size: number of steps between decays (int >= 1).
      decay_rate: multiplicative factor per decay (PyTorch ``gamma``; >= 0).

    References:
      Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (rate x0.96 every
      8 epochs); peer: PyTorch ``StepLR``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.step_decay(1.0, step_size=10, decay_rate=0.5)
      >>> [float(s(t)) for t in (0, 9, 10, 25)]
      [1.0, 1.0, 0.5, 0.25]
    """
    fn = "step_decay"
    _check_lr(fn, init_value=init_value, decay_rate=decay_rate)
    validation.check_steps(fn, minimum=1, step_size=step_size)
    return StepDecay(init_value, step_size, decay_rate)


@register("multistep_decay", children=("init_value", "milestones", "decay_rate"))
class MultistepDecay(Schedule):
    """Schedule returned by :func:`multistep_decay`."""

    init_value: Any
    milestones: Any
    decay_rate: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        k = _count_le(self.milestones, step)
        return as_float(self.init_value) * _pow(as_float(self.decay_rate),
                                                k.astype(float_dtype()))

    def horizon(self) -> int | None:
        if not _shape(self.milestones)[0]:
            return 0
        return concrete_int(self._name, "milestones", self.milestones)


def multistep_decay(init_value: ArrayLike, milestones: Any,
                    decay_rate: ArrayLike = 0.1) -> MultistepDecay:
    """Multiplies the value by ``decay_rate`` at each milestone step.

    Reproduces ``torch.optim.lr_scheduler.MultiStepLR(milestones, gamma=decay_rate)``: a
    repeated milestone applies the factor twice. The count of passed milestones is an int32
    comparison (a binary search for more than 16 milestones), so milestones beyond 2**24 are
    exact.

    Args:
      init_value: value at step 0 (>= 0).
      milestones: sorted 1-D sequence (or int array) of steps >= 0; may be traced.
      decay_rate: factor applied at each milestone (PyTorch ``gamma``).

    References:
      He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (rate
      /10 at fixed iterations); peer: PyTorch ``MultiStepLR``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.multistep_decay(1.0, [2, 4, 4], decay_rate=0.5)
      >>> [float(s(t)) for t in range(6)]
      [1.0, 1.0, 0.5, 0.5, 0.125, 0.125]
    """
    fn = "multistep_decay"
    _check_lr(fn, init_value=init_value, decay_rate=decay_rate)
    _check_boundaries(fn, "milestones", milestones)
    return MultistepDecay(init_value, _as_vector(milestones), decay_rate)


@register("exponential_decay", children=("init_value", "decay_rate", "decay_steps", "end_value"),
          static=("staircase",))
class ExponentialDecay(Schedule):
    """Schedule returned by :func:`exponential_decay`."""

    init_value: Any
    decay_rate: Any
    decay_steps: Any
    staircase: bool
    end_value: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        d = jnp.maximum(as_int(self.decay_steps), 1)
        q = step // d
        p = q.astype(float_dtype())
        if not self.staircase:
            p = p + int_fraction(step - q * d, d)
        rate = as_float(self.decay_rate)
        value = as_float(self.init_value) * _pow(rate, p)
        if self.end_value is not None:
            end = as_float(self.end_value)
            value = jnp.where(rate < 1, jnp.maximum(value, end), jnp.minimum(value, end))
        return value

    def horizon(self) -> int | None:
        if self.end_value is None:
            return None
        init, rate, end = (_concrete_float(x) for x in (self.init_value, self.decay_rate,
                                                         self.end_value))
        d = _concrete_float(self.decay_steps)
        if init is None or rate is None or end is None or d is None:
            validation.fail("horizon", "exponential_decay fields are traced; the horizon needs "
                                       "concrete values.", error=TypeError)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.log(end / init) / np.log(rate)
            n = np.ceil(p) * d if self.staircase else np.ceil(p * d)
        settled = (rate == 1) | ((rate < 1) & (end >= init)) | ((rate > 1) & (end <= init))
        n = np.where(settled, 0.0, n)
        if not np.all(np.isfinite(n)):
            return None
        return int(np.max(n))


def exponential_decay(init_value: ArrayLike, decay_rate: ArrayLike, decay_steps: ArrayLike = 1,
                      *, staircase: bool = False,
                      end_value: ArrayLike | None = None) -> ExponentialDecay:
    """Exponential decay: the value is multiplied by ``decay_rate`` every ``decay_steps`` steps.

    .. math:: \\eta_t = \\eta_0 \\, r^{t / d} \\quad(\\lfloor t/d \\rfloor \\text{ if staircase})

    Reproduces ``torch.optim.lr_scheduler.ExponentialLR(gamma=decay_rate)`` (``decay_steps=1``),
    Keras ``ExponentialDecay(initial_learning_rate, decay_steps, decay_rate, staircase)`` and
    ``optax.exponential_decay(init_value, transition_steps=decay_steps, decay_rate, staircase=,
    end_value=)``. ``end_value`` is a floor when ``decay_rate < 1`` (a ceiling when > 1).
    ``t / d`` is split into an exact integer quotient and a float remainder.

    Args:
      init_value: value at step 0 (>= 0).
      decay_rate: factor per ``decay_steps`` steps (> 0).
      decay_steps: int >= 1.
      staircase: decay in discrete jumps (static).
      end_value: optional floor (ceiling if the rate is > 1); ``None`` for none.

    References:
      Bengio, "Practical Recommendations for Gradient-Based Training of Deep
      Architectures", 2012; peers: PyTorch ``ExponentialLR``, Keras
      ``ExponentialDecay``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.exponential_decay(1.0, 0.5, decay_steps=2, end_value=0.2)
      >>> [round(float(s(t)), 4) for t in (0, 1, 2, 4, 100)]
      [1.0, 0.7071, 0.5, 0.25, 0.2]
    """
    fn = "exponential_decay"
    _check_lr(fn, init_value=init_value)
    validation.check_positive(fn, decay_rate=decay_rate)
    validation.check_steps(fn, minimum=1, decay_steps=decay_steps)
    _check_bool(fn, "staircase", staircase)
    if end_value is not None:
        _check_lr(fn, end_value=end_value)
    return ExponentialDecay(init_value, decay_rate, decay_steps, bool(staircase), end_value)


@register("inverse_time_decay", children=("init_value", "decay_rate", "decay_steps"),
          static=("staircase",))
class InverseTimeDecay(Schedule):
    """Schedule returned by :func:`inverse_time_decay`."""

    init_value: Any
    decay_rate: Any
    decay_steps: Any
    staircase: bool

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        d = jnp.maximum(as_int(self.decay_steps), 1)
        q = step // d
        p = q.astype(float_dtype())
        if not self.staircase:
            p = p + int_fraction(step - q * d, d)
        return as_float(self.init_value) / (1 + as_float(self.decay_rate) * p)


def inverse_time_decay(init_value: ArrayLike, decay_rate: ArrayLike, decay_steps: ArrayLike = 1,
                       *, staircase: bool = False) -> InverseTimeDecay:
    """Inverse time decay ("time-based decay").

    .. math:: \\eta_t = \\frac{\\eta_0}{1 + r \\, t / d}

    Reproduces Keras ``InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate,
    staircase)``; Keras 2's ``SGD(decay=r)`` is ``decay_steps=1``.

    Args:
      init_value: value at step 0 (>= 0).
      decay_rate: >= 0.
      decay_steps: int >= 1.
      staircase: use ``floor(t / d)`` (static).

    References:
      Robbins & Monro, "A Stochastic Approximation Method", Ann. Math. Stat.
      1951 (O(1/t) steps); Bottou, "Stochastic Gradient Descent Tricks", Neural
      Networks: Tricks of the Trade, 2012; peer: Keras ``InverseTimeDecay``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.inverse_time_decay(1.0, 0.5, decay_steps=10)
      >>> [float(s(t)) for t in (0, 10, 20)]
      [1.0, 0.666..., 0.5]
    """
    fn = "inverse_time_decay"
    _check_lr(fn, init_value=init_value, decay_rate=decay_rate)
    validation.check_steps(fn, minimum=1, decay_steps=decay_steps)
    _check_bool(fn, "staircase", staircase)
    return InverseTimeDecay(init_value, decay_rate, decay_steps, bool(staircase))


@register("polynomial_decay", children=("init_value", "end_value", "decay_steps", "power"),
          static=("cycle",))
class PolynomialDecay(Schedule):
    """Schedule returned by :func:`polynomial_decay`."""

    init_value: Any
    end_value: Any
    decay_steps: Any
    power: Any
    cycle: bool

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        d = jnp.maximum(as_int(self.decay_steps), 1)
        fd = float_dtype()
        if self.cycle:
            # Keras: decay_steps *= ceil(step / decay_steps) (1 at step 0), no clamping.
            mult = jnp.where(step == 0, 1, (step - 1) // d + 1)
            rem = jnp.where(step == 0, d, d - (step - (mult - 1) * d))  # no int32 overflow
            remaining = rem.astype(fd) / (mult.astype(fd) * d.astype(fd))
        else:
            remaining = int_fraction(d - jnp.minimum(step, d), d)
        init, end = as_float(self.init_value), as_float(self.end_value)
        return end + (init - end) * _pow_fast_integers(remaining, as_float(self.power))

    def horizon(self) -> int | None:
        return None if self.cycle else concrete_int(self._name, "decay_steps", self.decay_steps)


def polynomial_decay(init_value: ArrayLike, end_value: ArrayLike, decay_steps: ArrayLike, *,
                     power: ArrayLike = 1.0, cycle: bool = False) -> PolynomialDecay:
    """Polynomial decay from ``init_value`` to ``end_value`` over ``decay_steps`` steps.

    .. math:: \\eta_t = \\eta_{end} + (\\eta_0 - \\eta_{end}) (1 - \\min(t, T)/T)^p

    Reproduces Keras ``PolynomialDecay(initial_learning_rate, decay_steps, end_learning_rate,
    power, cycle)`` (``cycle=True`` stretches the horizon to the next multiple of ``decay_steps``,
    a sawtooth), ``torch.optim.lr_scheduler.PolynomialLR(total_iters=decay_steps, power)`` (with
    ``end_value=0``) and ``optax.polynomial_schedule(init_value, end_value, power,
    transition_steps=decay_steps)``.

    Args:
      init_value: value at step 0 (>= 0).
      end_value: value from ``decay_steps`` on (>= 0).
      decay_steps: int >= 1.
      power: exponent (> 0).
      cycle: Keras's cycling (static).

    References:
      Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional
      Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI 2018 (the "poly"
      policy); peers: Keras ``PolynomialDecay``, PyTorch ``PolynomialLR``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.polynomial_decay(1.0, 0.0, 10, power=2.0)
      >>> [float(s(t)) for t in (0, 5, 10, 20)]
      [1.0, 0.25, 0.0, 0.0]
    """
    fn = "polynomial_decay"
    _check_lr(fn, init_value=init_value, end_value=end_value)
    validation.check_steps(fn, minimum=1, decay_steps=decay_steps)
    validation.check_positive(fn, power=power)
    _check_bool(fn, "cycle", cycle)
    return PolynomialDecay(init_value, end_value, decay_steps, power, bool(cycle))


@register("linear", children=("init_value", "end_value", "steps"))
class Linear(Schedule):
    """Schedule returned by :func:`linear`."""

    init_value: Any
    end_value: Any
    steps: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        n = as_int(self.steps)
        remaining = int_fraction(n - jnp.minimum(step, n), n)
        init, end = as_float(self.init_value), as_float(self.end_value)
        return end + (init - end) * remaining

    def horizon(self) -> int | None:
        return concrete_int(self._name, "steps", self.steps)


def linear(init_value: ArrayLike, end_value: ArrayLike, steps: ArrayLike) -> Linear:
    """Linear interpolation from ``init_value`` to ``end_value`` over ``steps`` steps, then held.

    Reproduces ``optax.linear_schedule(init_value, end_value, transition_steps=steps)``;
    ``torch.optim.lr_scheduler.LinearLR(start_factor, end_factor, total_iters)`` on a base rate
    ``lr`` is ``linear(lr * start_factor, lr * end_factor, total_iters)``.

    Args:
      init_value: value at step 0 (>= 0).
      end_value: value from ``steps`` on (>= 0).
      steps: int >= 1.

    References:
      Goodfellow, Bengio & Courville, "Deep Learning", MIT Press 2016, sec. 8.3.1
      (linear decay to iteration tau); peer: ``optax.linear_schedule``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.linear(0.0, 1.0, 4)
      >>> [float(s(t)) for t in range(6)]
      [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    fn = "linear"
    _check_lr(fn, init_value=init_value, end_value=end_value)
    validation.check_steps(fn, minimum=1, steps=steps)
    return Linear(init_value, end_value, steps)


# --------------------------------------------------------------------------------------------
# Cosine family.
# --------------------------------------------------------------------------------------------


@register("cosine_decay", children=("init_value", "decay_steps", "end_value"),
          static=("periodic",))
class CosineDecay(Schedule):
    """Schedule returned by :func:`cosine_decay`."""

    init_value: Any
    decay_steps: Any
    end_value: Any
    periodic: bool

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        d = jnp.maximum(as_int(self.decay_steps), 1)
        init, end = as_float(self.init_value), as_float(self.end_value)
        if self.periodic:
            # cos(pi t / T) with period 2T, computed from t mod T and the parity of t // T.
            q = step // d
            r = step - q * d
            odd = (q & 1) == 1
            factor = cos_factor(int_fraction(d - r, d))
            factor = jnp.where(odd, 1 - factor, factor)
        else:
            factor = cos_factor(int_fraction(d - jnp.minimum(step, d), d))
        return end + (init - end) * factor

    def horizon(self) -> int | None:
        if self.periodic:
            return None
        return concrete_int(self._name, "decay_steps", self.decay_steps)


def cosine_decay(init_value: ArrayLike, decay_steps: ArrayLike, *, end_value: ArrayLike = 0.0,
                 periodic: bool = False) -> CosineDecay:
    """Cosine annealing from ``init_value`` to ``end_value`` over ``decay_steps`` updates.

    .. math:: \\eta_t = \\eta_{end} + (\\eta_0 - \\eta_{end}) \\tfrac12 (1 + \\cos(\\pi t / T))

    Reproduces ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=decay_steps,
    eta_min=end_value)`` exactly for t <= T; beyond T it holds ``end_value`` unless
    ``periodic=True`` (PyTorch parity: the value rises back to ``init_value`` at 2T).
    ``optax.cosine_decay_schedule(init_value, decay_steps, alpha)`` is
    ``end_value = alpha * init_value``; Keras ``CosineDecay`` likewise.

    Args:
      init_value: value at step 0 (>= 0).
      decay_steps: int >= 1 (PyTorch ``T_max``).
      end_value: value at ``decay_steps`` (PyTorch ``eta_min``; >= 0).
      periodic: continue the cosine beyond ``decay_steps`` like PyTorch (static).

    References:
      Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.cosine_decay(1.0, 100)
      >>> float(s(50))
      0.5
    """
    fn = "cosine_decay"
    _check_lr(fn, init_value=init_value, end_value=end_value)
    validation.check_steps(fn, minimum=1, decay_steps=decay_steps)
    _check_bool(fn, "periodic", periodic)
    return CosineDecay(init_value, decay_steps, end_value, bool(periodic))


def _restart_cond(carry):
    step, _, _, i, start, length = carry
    return jnp.any((step - start >= length) & (i < 32))


def _restart_body(carry):
    step, m2, limit, i, start, length = carry
    adv = (step - start >= length) & (i < 32)
    start = jnp.where(adv, start + length, start)
    grown = jnp.where(length > limit, INT32_MAX, length * m2)
    length = jnp.where(adv, grown, length)
    return step, m2, limit, i + adv.astype(jnp.int32), start, length


def _restart_cycle(step: jax.Array, period: jax.Array, mult: jax.Array):
    """Cycle index, start step and length for restarts with integer ``period`` and ``mult``.

    ``mult == 1`` uses the closed form; ``mult >= 2`` walks the (at most 31) cycle starts with
    int32 arithmetic, stopping as soon as every lane has found its cycle. (The loop functions
    are module-level so eager calls hit the compilation cache.)
    """
    step, period, mult = jnp.broadcast_arrays(step, jnp.maximum(period, 1), jnp.maximum(mult, 1))
    i1 = step // period
    start1 = i1 * period
    m2 = jnp.maximum(mult, 2)
    zero = jnp.zeros_like(step)
    _, _, _, i2, start2, len2 = lax.while_loop(
        _restart_cond, _restart_body, (step, m2, INT32_MAX // m2, zero, zero, period))
    geometric = mult >= 2
    return (jnp.where(geometric, i2, i1), jnp.where(geometric, start2, start1),
            jnp.where(geometric, len2, period))


@register("cosine_restarts",
          children=("init_value", "period", "period_mult", "peak_decay", "end_value",
                    "num_cycles"))
class CosineRestarts(Schedule):
    """Schedule returned by :func:`cosine_restarts`."""

    init_value: Any
    period: Any
    period_mult: Any
    peak_decay: Any
    end_value: Any
    num_cycles: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        i, start, length = _restart_cycle(step, as_int(self.period), as_int(self.period_mult))
        factor = cos_factor(int_fraction(length - (step - start), length))
        peak = _pow(as_float(self.peak_decay), i.astype(float_dtype()))
        init, end = as_float(self.init_value), as_float(self.end_value)
        value = end + (init - end) * peak * factor
        if self.num_cycles is not None:
            value = jnp.where(i >= as_int(self.num_cycles), end, value)
        return value

    def horizon(self) -> int | None:
        if self.num_cycles is None:
            return None
        p = concrete_int(self._name, "period", self.period)
        m = concrete_int(self._name, "period_mult", self.period_mult)
        n = concrete_int(self._name, "num_cycles", self.num_cycles)
        total = p * n if m == 1 else p * (m**n - 1) // (m - 1)
        return min(total, INT32_MAX)


def cosine_restarts(init_value: ArrayLike, period: ArrayLike, *, period_mult: ArrayLike = 1,
                    peak_decay: ArrayLike = 1.0, end_value: ArrayLike = 0.0,
                    num_cycles: ArrayLike | None = None) -> CosineRestarts:
    """Cosine annealing with warm restarts (SGDR).

    Cycle ``i`` lasts ``period * period_mult**i`` steps and starts at step
    :math:`S_i = \\sum_{j<i} P m^j`; within it

    .. math:: \\eta_t = \\eta_{end} + (\\eta_0 - \\eta_{end})\\, d^{\\,i}\\,
              \\tfrac12 (1 + \\cos(\\pi (t - S_i) / (P m^i)))

    so every restart step gets the (decayed) peak. The cycle is found with int32 arithmetic
    (no floating-point ``log``), exact for every step up to 2**31 - 1.

    Peers: ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0=period,
    T_mult=period_mult, eta_min=end_value)``; Keras ``CosineDecayRestarts(initial_learning_rate,
    first_decay_steps=period, t_mul=period_mult, m_mul=peak_decay, alpha=end_value /
    init_value)`` (integer ``t_mul`` only); timm ``CosineLRScheduler(t_initial=period,
    cycle_mul=period_mult, cycle_decay=peak_decay, cycle_limit=num_cycles, lr_min=end_value)``
    (timm decays ``peak - lr_min`` differently when both ``cycle_decay != 1`` and ``lr_min > 0``).
    After ``num_cycles`` cycles the value holds ``end_value``.

    Args:
      init_value: peak of the first cycle (>= 0, >= ``end_value``).
      period: length of the first cycle, int >= 1 (PyTorch ``T_0``).
      period_mult: integer growth factor of the cycle length, >= 1 (PyTorch ``T_mult``).
      peak_decay: factor applied to the peak at each restart (Keras ``m_mul``; > 0).
      end_value: value at the end of each cycle (PyTorch ``eta_min``; 0 <= end_value <=
        init_value).
      num_cycles: optional number of cycles (int >= 1) after which ``end_value`` is held.

    References:
      Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.cosine_restarts(1.0, 10, period_mult=2)
      >>> [round(float(s(t)), 4) for t in (0, 5, 10, 20, 30, 70)]
      [1.0, 0.5, 1.0, 0.5, 1.0, 1.0]
    """
    fn = "cosine_restarts"
    _check_lr(fn, init_value=init_value, end_value=end_value)
    validation.check_steps(fn, minimum=1, period=period)
    _check_order(fn, "end_value", end_value, "init_value", init_value,
                 hint="`end_value` is the minimum of each cycle (PyTorch eta_min) and "
                      "`init_value` the first peak.")
    _check_int(fn, "period_mult", period_mult, minimum=1)
    validation.check_positive(fn, peak_decay=peak_decay)
    if num_cycles is not None:
        _check_int(fn, "num_cycles", num_cycles, minimum=1)
    return CosineRestarts(init_value, period, period_mult, peak_decay, end_value, num_cycles)


# --------------------------------------------------------------------------------------------
# Cyclical schedules.
# --------------------------------------------------------------------------------------------

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


@register("cyclic",
          children=("min_value", "peak_value", "step_size_up", "step_size_down", "gamma",
                    "base_momentum", "max_momentum"),
          static=("mode", "cycle_momentum"))
class Cyclic(Schedule):
    """Schedule returned by :func:`cyclic`."""

    min_value: Any
    peak_value: Any
    step_size_up: Any
    step_size_down: Any
    mode: str
    gamma: Any
    cycle_momentum: bool
    base_momentum: Any
    max_momentum: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        up = jnp.maximum(as_int(self.step_size_up), 1)
        down = up if self.step_size_down is None else jnp.maximum(as_int(self.step_size_down), 1)
        total = up + down
        cycle = step // total + 1  # PyTorch's 1-based cycle number
        r = step - (cycle - 1) * total
        scale = jnp.where(r <= up, int_fraction(r, up), int_fraction(total - r, down))
        fd = float_dtype()
        if self.mode == "triangular":
            amplitude = jnp.ones((), fd)
        elif self.mode == "triangular2":
            amplitude = jnp.exp2(-(cycle - 1).astype(fd))
        else:  # exp_range: scaled per iteration
            amplitude = _pow(as_float(self.gamma), step.astype(fd))
        low, high = as_float(self.min_value), as_float(self.peak_value)
        return low + (high - low) * scale * amplitude

    def momentum_schedule(self) -> CyclicMomentum | None:
        """Momentum cycled inversely to the learning rate (PyTorch ``cycle_momentum=True``).

        Momentum is ``max_momentum`` when the rate is ``min_value`` and ``base_momentum`` at the
        peak, with the same mode and amplitude scaling. ``None`` when ``cycle_momentum=False``.
        """
        if not self.cycle_momentum:
            return None
        return CyclicMomentum(self.step_size_up, self.step_size_down, self.mode, self.gamma,
                              self.base_momentum, self.max_momentum)


def cyclic(min_value: ArrayLike, peak_value: ArrayLike, step_size_up: ArrayLike,
           step_size_down: ArrayLike | None = None, *, mode: str = "triangular",
           gamma: ArrayLike = 1.0, cycle_momentum: bool = False, base_momentum: ArrayLike = 0.8,
           max_momentum: ArrayLike = 0.9) -> Cyclic:
    """Cyclical learning rate: triangular waves between ``min_value`` and ``peak_value``.

    Reproduces ``torch.optim.lr_scheduler.CyclicLR(base_lr=min_value, max_lr=peak_value,
    step_size_up, step_size_down, mode, gamma)``: ``triangular`` (constant amplitude),
    ``triangular2`` (amplitude halves every cycle) and ``exp_range`` (amplitude
    ``gamma**step``). The position in the cycle is int32 arithmetic. PyTorch cycles momentum by
    default; here ``cycle_momentum=False`` by default, and with ``cycle_momentum=True``
    :meth:`Cyclic.momentum_schedule` gives PyTorch's momentum curve (defaults
    ``base_momentum=0.8``, ``max_momentum=0.9`` as in ``CyclicLR``). The schedule is periodic: it
    has no horizon.

    Args:
      min_value: lower bound (PyTorch ``base_lr``; 0 <= min_value <= peak_value).
      peak_value: upper bound (PyTorch ``max_lr``; >= ``min_value``).
      step_size_up: steps from min to peak, int >= 1.
      step_size_down: steps from peak back to min, int >= 1 (default: ``step_size_up``).
      mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"`` (static).
      gamma: per-step amplitude factor in ``exp_range`` mode, in (0, 1] (a larger one would
        take the rate above ``peak_value``).
      cycle_momentum: whether :meth:`Cyclic.momentum_schedule` returns a schedule (static).
      base_momentum: momentum at the peak rate (<= ``max_momentum``).
      max_momentum: momentum at the minimum rate.

    References:
      Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.cyclic(1.0, 5.0, 4, mode="triangular2")
      >>> [float(s(t)) for t in (0, 2, 4, 8, 12)]
      [1.0, 3.0, 5.0, 1.0, 3.0]
    """
    fn = "cyclic"
    _check_lr(fn, min_value=min_value, peak_value=peak_value)
    _check_order(fn, "min_value", min_value, "peak_value", peak_value,
                 hint="The rate cycles between min_value (low) and peak_value (high); swap "
                      "them.")
    validation.check_steps(fn, minimum=1, step_size_up=step_size_up)
    if step_size_down is not None:
        validation.check_steps(fn, minimum=1, step_size_down=step_size_down)
    validation.check_choice(fn, "mode", mode, _CYCLIC_MODES)
    validation.check_positive(fn, gamma=gamma)
    g = _concrete_float(gamma)
    if g is not None and np.any(g > 1):
        validation.fail(fn, f"`gamma` must be in (0, 1]; got gamma={_short(gamma)}.",
                        hint="exp_range shrinks the amplitude by gamma per step; a gamma > 1 "
                             "would take the rate above peak_value.")
    _check_bool(fn, "cycle_momentum", cycle_momentum)
    _check_lr(fn, base_momentum=base_momentum, max_momentum=max_momentum)
    _check_order(fn, "base_momentum", base_momentum, "max_momentum", max_momentum)
    return Cyclic(min_value, peak_value, step_size_up, step_size_down, mode, gamma,
                  bool(cycle_momentum), base_momentum, max_momentum)


@register("cyclic_momentum",
          children=("step_size_up", "step_size_down", "gamma", "base_momentum", "max_momentum"),
          static=("mode",))
class CyclicMomentum(Schedule):
    """Schedule returned by :func:`cyclic_momentum` (and :meth:`Cyclic.momentum_schedule`)."""

    step_size_up: Any
    step_size_down: Any
    mode: str
    gamma: Any
    base_momentum: Any
    max_momentum: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        # The wave of `cyclic` run from max_momentum down to base_momentum and back.
        wave = Cyclic(self.max_momentum, self.base_momentum, self.step_size_up,
                      self.step_size_down, self.mode, self.gamma, False, self.base_momentum,
                      self.max_momentum)
        return wave(step)


def cyclic_momentum(step_size_up: ArrayLike, step_size_down: ArrayLike | None = None, *,
                    mode: str = "triangular", gamma: ArrayLike = 1.0,
                    base_momentum: ArrayLike = 0.8, max_momentum: ArrayLike = 0.9
                    ) -> CyclicMomentum:
    """The momentum curve of :func:`cyclic` (also ``cyclic(...).momentum_schedule()``).

    Momentum is ``max_momentum`` where the rate is at its minimum and ``base_momentum`` at its
    peak, with the same cycle lengths, mode and amplitude scaling (PyTorch ``CyclicLR`` with
    ``cycle_momentum=True``).

    References:
      Smith, "A disciplined approach to neural network hyper-parameters: Part 1 -- learning
      rate, batch size, momentum, and weight decay", 2018 (cyclical momentum).

    Examples:
      >>> import jaxlr
      >>> m = jaxlr.schedules.BUILDERS["cyclic_momentum"](2, base_momentum=0.8,
      ...                                                 max_momentum=0.9)
      >>> [round(float(m(t)), 3) for t in (0, 1, 2, 4)]
      [0.9, 0.85, 0.8, 0.9]
    """
    fn = "cyclic_momentum"
    validation.check_steps(fn, minimum=1, step_size_up=step_size_up)
    if step_size_down is not None:
        validation.check_steps(fn, minimum=1, step_size_down=step_size_down)
    validation.check_choice(fn, "mode", mode, _CYCLIC_MODES)
    validation.check_positive(fn, gamma=gamma)
    g = _concrete_float(gamma)
    if g is not None and np.any(g > 1):
        validation.fail(fn, f"`gamma` must be in (0, 1]; got gamma={_short(gamma)}.")
    _check_lr(fn, base_momentum=base_momentum, max_momentum=max_momentum)
    _check_order(fn, "base_momentum", base_momentum, "max_momentum", max_momentum)
    return CyclicMomentum(step_size_up, step_size_down, mode, gamma, base_momentum,
                          max_momentum)


_ANNEALS = ("cos", "linear")


def _one_cycle_value(step: jax.Array, total_steps: Any, pct_start: Any, three_phase: bool,
                     anneal: str, values: tuple[jax.Array, ...]) -> jax.Array:
    """PyTorch OneCycleLR phases: knots at 0, pct*T-1, (2*pct*T-2), T-1 with ``values``.

    Knots are floats in PyTorch; each is split into an int32 part and a fraction in [0, 1), so
    phase selection (``step <= knot``) is an exact integer comparison and the within-phase
    fraction is computed from small differences.
    """
    fd = float_dtype()
    total = jnp.maximum(as_int(total_steps), 1)
    step = jnp.minimum(step, total - 1)  # hold the value of the last step (PyTorch raises)
    e1 = as_float(pct_start) * total.astype(fd) - 1
    knots = [e1, 2 * e1] if three_phase else [e1]
    knots.append((total - 1).astype(fd))
    ints = [jnp.floor(k) for k in knots]
    parts = [(ki.astype(jnp.int32), k - ki) for k, ki in zip(knots, ints)]
    parts.insert(0, (jnp.zeros((), jnp.int32), jnp.zeros((), fd)))
    # phase index: number of inner knots strictly below step (the last phase absorbs the rest)
    phase = jnp.zeros(step.shape, jnp.int32)
    for ki, _ in parts[1:-1]:
        phase = phase + (step > ki).astype(jnp.int32)

    def pick(items):
        out = items[0]
        for j in range(1, len(items)):
            out = jnp.where(phase == j, items[j], out)
        return out

    si, sf = pick([p[0] for p in parts[:-1]]), pick([p[1] for p in parts[:-1]])
    ei, ef = pick([p[0] for p in parts[1:]]), pick([p[1] for p in parts[1:]])
    v0, v1 = pick(list(values[:-1])), pick(list(values[1:]))
    length = (ei - si).astype(fd) + (ef - sf)
    remaining = (ei - step).astype(fd) + ef
    frac_remaining = jnp.clip(safe_div(remaining, length, default=0.0), 0.0, 1.0)
    return _anneal("linear" if anneal == "linear" else "cos", v0, v1, frac_remaining)


@register("one_cycle",
          children=("peak_value", "total_steps", "pct_start", "div_factor", "final_div_factor",
                    "base_momentum", "max_momentum"),
          static=("anneal", "three_phase", "cycle_momentum"))
class OneCycle(Schedule):
    """Schedule returned by :func:`one_cycle`."""

    peak_value: Any
    total_steps: Any
    pct_start: Any
    div_factor: Any
    final_div_factor: Any
    anneal: str
    three_phase: bool
    cycle_momentum: bool
    base_momentum: Any
    max_momentum: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        peak = as_float(self.peak_value)
        initial = peak / as_float(self.div_factor)
        final = initial / as_float(self.final_div_factor)
        values = (initial, peak, initial, final) if self.three_phase else (initial, peak, final)
        return _one_cycle_value(step, self.total_steps, self.pct_start, self.three_phase,
                                self.anneal, values)

    def horizon(self) -> int | None:
        return max(concrete_int(self._name, "total_steps", self.total_steps) - 1, 0)

    def momentum_schedule(self) -> OneCycleMomentum | None:
        """Momentum cycled inversely to the learning rate (PyTorch ``cycle_momentum=True``).

        ``max_momentum -> base_momentum -> max_momentum`` over the same phases (three-phase:
        ``max -> base -> max -> max``). ``None`` when ``cycle_momentum=False``.
        """
        if not self.cycle_momentum:
            return None
        return OneCycleMomentum(self.total_steps, self.pct_start, self.base_momentum,
                                self.max_momentum, self.anneal, self.three_phase)


@register("one_cycle_momentum",
          children=("total_steps", "pct_start", "base_momentum", "max_momentum"),
          static=("anneal", "three_phase"))
class OneCycleMomentum(Schedule):
    """Momentum schedule of :meth:`OneCycle.momentum_schedule` (PyTorch ``OneCycleLR``)."""

    total_steps: Any
    pct_start: Any
    base_momentum: Any
    max_momentum: Any
    anneal: str
    three_phase: bool

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        base, top = as_float(self.base_momentum), as_float(self.max_momentum)
        values = (top, base, top, top) if self.three_phase else (top, base, top)
        return _one_cycle_value(step, self.total_steps, self.pct_start, self.three_phase,
                                self.anneal, values)

    def horizon(self) -> int | None:
        return max(concrete_int(self._name, "total_steps", self.total_steps) - 1, 0)


def one_cycle_momentum(total_steps: ArrayLike, *, pct_start: ArrayLike = 0.3,
                       base_momentum: ArrayLike = 0.85, max_momentum: ArrayLike = 0.95,
                       anneal: str = "cos", three_phase: bool = False) -> OneCycleMomentum:
    """The momentum curve of :func:`one_cycle` (also ``one_cycle(...).momentum_schedule()``).

    References:
      Smith, "A disciplined approach to neural network hyper-parameters: Part 1 -- learning
      rate, batch size, momentum, and weight decay", 2018 (cyclical momentum).

    Examples:
      >>> import jaxlr
      >>> m = jaxlr.schedules.one_cycle_momentum(10, anneal="linear")
      >>> [round(float(m(t)), 3) for t in (0, 2, 9)]
      [0.95, 0.85, 0.95]
    """
    fn = "one_cycle_momentum"
    validation.check_steps(fn, minimum=1, total_steps=total_steps)
    _check_open_unit(fn, "pct_start", pct_start)
    _check_lr(fn, base_momentum=base_momentum, max_momentum=max_momentum)
    _check_order(fn, "base_momentum", base_momentum, "max_momentum", max_momentum)
    validation.check_choice(fn, "anneal", anneal, _ANNEALS)
    _check_bool(fn, "three_phase", three_phase)
    return OneCycleMomentum(total_steps, pct_start, base_momentum, max_momentum, anneal,
                            bool(three_phase))


def one_cycle(peak_value: ArrayLike, total_steps: ArrayLike, *, pct_start: ArrayLike = 0.3,
              div_factor: ArrayLike = 25.0, final_div_factor: ArrayLike = 1e4,
              anneal: str = "cos", three_phase: bool = False, cycle_momentum: bool = False,
              base_momentum: ArrayLike = 0.85, max_momentum: ArrayLike = 0.95) -> OneCycle:
    """The 1cycle policy: warm up to ``peak_value``, then anneal far below the start.

    Reproduces ``torch.optim.lr_scheduler.OneCycleLR(max_lr=peak_value, total_steps,
    pct_start, anneal_strategy=anneal, div_factor, final_div_factor, three_phase)`` including
    its phase boundaries: the rate starts at ``peak/div_factor``, peaks at step
    ``pct_start*T - 1`` and reaches ``peak/div_factor/final_div_factor`` at step ``T - 1``
    (three-phase: back to the start value at ``2*pct_start*T - 2`` first). Beyond ``T - 1`` it
    holds the final value (PyTorch raises). Momentum cycling follows PyTorch with
    ``cycle_momentum=True`` (defaults ``base_momentum=0.85``, ``max_momentum=0.95``), exposed by
    :meth:`OneCycle.momentum_schedule`; optax's ``cosine_onecycle_schedule`` uses other phase
    boundaries.

    Args:
      peak_value: maximum rate (PyTorch ``max_lr``; >= 0).
      total_steps: int >= 1.
      pct_start: fraction of steps spent warming up, in (0, 1).
      div_factor: ``initial = peak_value / div_factor`` (>= 1: the start is not above the
        peak).
      final_div_factor: ``final = initial / final_div_factor`` (>= 1: the end is not above the
        start).
      anneal: ``"cos"`` or ``"linear"`` (static).
      three_phase: PyTorch's three-phase variant (static).
      cycle_momentum: whether :meth:`OneCycle.momentum_schedule` returns a schedule (static).
      base_momentum: momentum at the peak rate (<= ``max_momentum``).
      max_momentum: momentum at the start and end.

    References:
      Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
      Learning Rates", 2019.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.one_cycle(25.0, 10, anneal="linear", final_div_factor=2.0)
      >>> [round(float(s(t)), 2) for t in range(10)]
      [1.0, 13.0, 25.0, 21.5, 18.0, 14.5, 11.0, 7.5, 4.0, 0.5]
    """
    fn = "one_cycle"
    _check_lr(fn, peak_value=peak_value)
    validation.check_steps(fn, minimum=1, total_steps=total_steps)
    _check_open_unit(fn, "pct_start", pct_start)
    validation.check_positive(fn, div_factor=div_factor, final_div_factor=final_div_factor)
    _check_at_least_one(fn, "div_factor", div_factor,
                        "The start is peak_value / div_factor; a div_factor < 1 would start "
                        "above the peak.")
    _check_at_least_one(fn, "final_div_factor", final_div_factor,
                        "The end is the start / final_div_factor; a final_div_factor < 1 would "
                        "end above the start.")
    validation.check_choice(fn, "anneal", anneal, _ANNEALS)
    _check_bool(fn, "three_phase", three_phase)
    _check_bool(fn, "cycle_momentum", cycle_momentum)
    _check_lr(fn, base_momentum=base_momentum, max_momentum=max_momentum)
    _check_order(fn, "base_momentum", base_momentum, "max_momentum", max_momentum)
    return OneCycle(peak_value, total_steps, pct_start, div_factor, final_div_factor, anneal,
                    bool(three_phase), bool(cycle_momentum), base_momentum, max_momentum)


# --------------------------------------------------------------------------------------------
# Warm-up schedules.
# --------------------------------------------------------------------------------------------

_WARMUP_SHAPES = ("linear", "cosine", "exponential")


@register("warmup", children=("schedule", "warmup_steps", "init_value"), static=("shape",))
class Warmup(Schedule):
    """Schedule returned by :func:`warmup`."""

    schedule: Schedule
    warmup_steps: Any
    init_value: Any
    shape: str

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        w = as_int(self.warmup_steps)
        target = evaluate(self.schedule, jnp.zeros_like(step))
        after = evaluate(self.schedule, jnp.maximum(step - w, 0))
        ramp = _ramp(self.shape, as_float(self.init_value), target, int_fraction(step, w))
        return jnp.where(step < w, ramp, after)

    def horizon(self) -> int | None:
        inner = self.schedule.horizon()
        if inner is None:
            return None
        return min(inner + concrete_int(self._name, "warmup_steps", self.warmup_steps), INT32_MAX)


def warmup(schedule: Any, warmup_steps: ArrayLike, *, init_value: ArrayLike = 0.0,
           shape: str = "linear") -> Warmup:
    """Prepends a warm-up ramp to ANY schedule (a jaxlr schedule or a callable).

    For ``step < warmup_steps`` the value ramps from ``init_value`` to ``schedule(0)``
    (``shape``: ``"linear"``, ``"cosine"`` or ``"exponential"``, i.e. geometric, which needs
    ``init_value > 0``); from then on it is ``schedule(step - warmup_steps)``.
    ``warmup_steps=0`` means no warm-up. HF's ``get_linear_schedule_with_warmup(W, T)`` on a
    rate ``lr`` is ``warmup(linear(lr, 0.0, T - W), W)``; HF's
    ``get_constant_schedule_with_warmup`` is ``warmup(constant(lr), W)``.

    Args:
      schedule: the schedule to warm up into (``Schedule`` or callable ``step -> value``).
      warmup_steps: int >= 0.
      init_value: value at step 0 (>= 0; > 0 for the exponential shape).
      shape: ramp shape (static).

    References:
      Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.warmup(jaxlr.linear(10.0, 0.0, 8), 2)
      >>> [float(s(t)) for t in range(5)]
      [0.0, 5.0, 10.0, 8.75, 7.5]
    """
    fn = "warmup"
    schedule = as_schedule(fn, "schedule", schedule)
    validation.check_steps(fn, minimum=0, warmup_steps=warmup_steps)
    validation.check_choice(fn, "shape", shape, _WARMUP_SHAPES)
    if shape == "exponential":
        validation.check_positive(fn, init_value=init_value)
    else:
        _check_lr(fn, init_value=init_value)
    return Warmup(schedule, warmup_steps, init_value, shape)


def _check_total_vs_warmup(fn: str, total_steps: Any, warmup_steps: Any, hint: str) -> None:
    t, w = validation.concrete(total_steps), validation.concrete(warmup_steps)
    if t is not None and w is not None and np.any(t <= w):
        validation.fail(fn, f"`total_steps` must be greater than `warmup_steps`; got "
                            f"total_steps={_short(total_steps)}, "
                            f"warmup_steps={_short(warmup_steps)}.",
                        hint=hint)


@register("warmup_cosine",
          children=("peak_value", "warmup_steps", "total_steps", "init_value", "end_value"))
class WarmupCosine(Schedule):
    """Schedule returned by :func:`warmup_cosine`."""

    peak_value: Any
    warmup_steps: Any
    total_steps: Any
    init_value: Any
    end_value: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        w, t = as_int(self.warmup_steps), as_int(self.total_steps)
        peak, end = as_float(self.peak_value), as_float(self.end_value)
        ramp = _ramp("linear", as_float(self.init_value), peak, int_fraction(step, w))
        d = jnp.maximum(t - w, 1)
        since = jnp.minimum(jnp.maximum(step - w, 0), d)
        decay = end + (peak - end) * cos_factor(int_fraction(d - since, d))
        return jnp.where(step < w, ramp, decay)

    def horizon(self) -> int | None:
        return concrete_int(self._name, "total_steps", self.total_steps)


def warmup_cosine(peak_value: ArrayLike, warmup_steps: ArrayLike, total_steps: ArrayLike, *,
                  init_value: ArrayLike = 0.0, end_value: ArrayLike = 0.0) -> WarmupCosine:
    """Linear warm-up to ``peak_value`` then cosine decay to ``end_value`` at ``total_steps``.

    Reproduces ``optax.warmup_cosine_decay_schedule(init_value, peak_value, warmup_steps,
    decay_steps=total_steps, end_value)`` (the total includes the warm-up) and HF
    ``get_cosine_schedule_with_warmup(num_warmup_steps, num_training_steps)`` (``lr`` as
    ``peak_value``; HF keeps oscillating past the end, here the value holds ``end_value``).
    Unlike optax, every argument may be traced (optax fails under ``vmap`` over
    ``peak_value``).

    Args:
      peak_value: value at the end of warm-up (>= 0), the largest value.
      warmup_steps: int >= 0.
      total_steps: int > ``warmup_steps``.
      init_value: value at step 0 (0 <= init_value <= peak_value).
      end_value: value from ``total_steps`` on (0 <= end_value <= peak_value).

    References:
      Goyal et al. 2017 (warm-up); Loshchilov & Hutter, "SGDR", ICLR 2017 (cosine).

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.warmup_cosine(1.0, warmup_steps=10, total_steps=110)
      >>> [float(s(t)) for t in (0, 5, 10, 60, 110)]
      [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    fn = "warmup_cosine"
    _check_lr(fn, peak_value=peak_value, init_value=init_value, end_value=end_value)
    _check_order(fn, "init_value", init_value, "peak_value", peak_value,
                 hint="The warm-up rises from init_value to peak_value.")
    _check_order(fn, "end_value", end_value, "peak_value", peak_value,
                 hint="The cosine decays from peak_value to end_value.")
    validation.check_steps(fn, minimum=0, warmup_steps=warmup_steps)
    validation.check_steps(fn, minimum=1, total_steps=total_steps)
    _check_total_vs_warmup(fn, total_steps, warmup_steps,
                           "For a constant rate after warm-up use "
                           "jaxlr.warmup(jaxlr.constant(...), ...).")
    return WarmupCosine(peak_value, warmup_steps, total_steps, init_value, end_value)


_DECAY_SHAPES = ("linear", "cosine", "1-sqrt")


@register("warmup_stable_decay",
          children=("peak_value", "total_steps", "warmup_steps", "decay_steps", "end_value",
                    "init_value"),
          static=("decay_shape",))
class WarmupStableDecay(Schedule):
    """Schedule returned by :func:`warmup_stable_decay`."""

    peak_value: Any
    total_steps: Any
    warmup_steps: Any
    decay_steps: Any
    end_value: Any
    decay_shape: str
    init_value: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        w, t = as_int(self.warmup_steps), as_int(self.total_steps)
        d = jnp.maximum(as_int(self.decay_steps), 1)
        peak, end = as_float(self.peak_value), as_float(self.end_value)
        ramp = _ramp("linear", as_float(self.init_value), peak, int_fraction(step, w))
        decay_start = t - d
        left = jnp.clip(t - step, 0, d)  # steps of decay still to go
        remaining = int_fraction(left, d)
        if self.decay_shape == "linear":
            factor = remaining
        elif self.decay_shape == "cosine":
            factor = cos_factor(remaining)
        else:  # 1-sqrt (Hägele et al. 2024)
            factor = 1 - jnp.sqrt(int_fraction(d - left, d))
        decay = end + (peak - end) * factor
        return jnp.where(step < w, ramp, jnp.where(step < decay_start, peak, decay))

    def horizon(self) -> int | None:
        return concrete_int(self._name, "total_steps", self.total_steps)


def warmup_stable_decay(peak_value: ArrayLike, total_steps: ArrayLike, *,
                        warmup_steps: ArrayLike, decay_steps: ArrayLike,
                        end_value: ArrayLike = 0.0, decay_shape: str = "linear",
                        init_value: ArrayLike = 0.0) -> WarmupStableDecay:
    """Warm-up, stable plateau at ``peak_value``, then a final decay (WSD, "trapezoidal").

    Linear warm-up from ``init_value`` over ``warmup_steps``; ``peak_value`` until
    ``total_steps - decay_steps``; then decay to ``end_value`` at ``total_steps`` with
    ``decay_shape`` ``"linear"``, ``"cosine"`` or ``"1-sqrt"`` (``1 - sqrt(progress)``).
    Reproduces HF ``get_wsd_schedule(num_warmup_steps, num_decay_steps, num_training_steps=
    total_steps, decay_type=decay_shape, min_lr_ratio=end_value / peak_value)`` (HF warms up
    from the minimum: pass ``init_value=end_value`` to match when ``min_lr_ratio > 0``).

    Args:
      peak_value: plateau value (>= 0), the largest value.
      total_steps: int >= 1.
      warmup_steps: int >= 0.
      decay_steps: int >= 1; ``warmup_steps + decay_steps <= total_steps``.
      end_value: value from ``total_steps`` on (0 <= end_value <= peak_value).
      decay_shape: static.
      init_value: value at step 0 (0 <= init_value <= peak_value).

    References:
      Hägele et al., "Scaling Laws and Compute-Optimal Training Beyond Fixed Training
      Durations", NeurIPS 2024.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.warmup_stable_decay(1.0, 10, warmup_steps=2, decay_steps=4)
      >>> [float(s(t)) for t in range(11)]
      [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """
    fn = "warmup_stable_decay"
    _check_lr(fn, peak_value=peak_value, end_value=end_value, init_value=init_value)
    _check_order(fn, "init_value", init_value, "peak_value", peak_value,
                 hint="The warm-up rises from init_value to the peak_value plateau.")
    _check_order(fn, "end_value", end_value, "peak_value", peak_value,
                 hint="The final phase decays from peak_value to end_value.")
    validation.check_steps(fn, minimum=1, total_steps=total_steps, decay_steps=decay_steps)
    validation.check_steps(fn, minimum=0, warmup_steps=warmup_steps)
    validation.check_choice(fn, "decay_shape", decay_shape, _DECAY_SHAPES)
    t, w, d = (validation.concrete(x) for x in (total_steps, warmup_steps, decay_steps))
    if t is not None and w is not None and d is not None and np.any(w + d > t):
        validation.fail(fn, f"`warmup_steps + decay_steps` must be <= `total_steps`; got "
                            f"warmup_steps={_short(warmup_steps)}, "
                            f"decay_steps={_short(decay_steps)}, "
                            f"total_steps={_short(total_steps)}.",
                        hint="Shorten the warm-up or the decay, or raise total_steps.")
    return WarmupStableDecay(peak_value, total_steps, warmup_steps, decay_steps, end_value,
                             decay_shape, init_value)


@register("inverse_sqrt", children=("peak_value", "warmup_steps", "timescale"))
class InverseSqrt(Schedule):
    """Schedule returned by :func:`inverse_sqrt`."""

    peak_value: Any
    warmup_steps: Any
    timescale: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        w = as_int(self.warmup_steps)
        if self.timescale is None:
            ts = jnp.where(w > 0, w, 10_000)
        else:
            ts = jnp.maximum(as_int(self.timescale), 1)
        fd = float_dtype()
        peak = as_float(self.peak_value)
        ramp = peak * int_fraction(step, w)
        shifted = jnp.maximum(step - w, 0).astype(fd) + ts.astype(fd)
        decay = peak * jax.lax.rsqrt(shifted / ts.astype(fd))
        return jnp.where(step < w, ramp, decay)


def inverse_sqrt(peak_value: ArrayLike, warmup_steps: ArrayLike, *,
                 timescale: ArrayLike | None = None) -> InverseSqrt:
    """Linear warm-up, then decay proportional to the inverse square root of the step.

    .. math:: \\eta_t = \\eta_{peak} / \\sqrt{(t - W + \\tau) / \\tau} \\quad (t \\ge W)

    Reproduces HF ``get_inverse_sqrt_schedule(num_warmup_steps, timescale)`` (``timescale``
    defaults to ``warmup_steps``, or 10000 without warm-up). With ``timescale=warmup_steps``
    this is the Transformer ("Noam") schedule ``d**-0.5 * min(t**-0.5, t * W**-1.5)`` with
    ``peak_value = (d * W)**-0.5`` (Noam counts steps from 1).

    Args:
      peak_value: value at the end of warm-up (>= 0).
      warmup_steps: int >= 0.
      timescale: int >= 1 or ``None``.

    References:
      Vaswani et al., "Attention Is All You Need", NeurIPS 2017.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.inverse_sqrt(1.0, 4)
      >>> [float(s(t)) for t in (0, 2, 4, 12)]
      [0.0, 0.5, 1.0, 0.5]
    """
    fn = "inverse_sqrt"
    _check_lr(fn, peak_value=peak_value)
    validation.check_steps(fn, minimum=0, warmup_steps=warmup_steps)
    if timescale is not None:
        validation.check_steps(fn, minimum=1, timescale=timescale)
    return InverseSqrt(peak_value, warmup_steps, timescale)


# --------------------------------------------------------------------------------------------
# Piecewise schedules.
# --------------------------------------------------------------------------------------------


@register("piecewise_constant", children=("boundaries", "values"))
class PiecewiseConstant(Schedule):
    """Schedule returned by :func:`piecewise_constant`."""

    boundaries: Any
    values: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        values = _vector(self.values, float_dtype())
        return jnp.take(values, _count_le(self.boundaries, step), mode="clip")

    def horizon(self) -> int | None:
        if not _shape(self.boundaries)[0]:
            return 0
        return concrete_int(self._name, "boundaries", self.boundaries)


def piecewise_constant(boundaries: Any, values: Any) -> PiecewiseConstant:
    """``values[i]`` for ``boundaries[i-1] <= step < boundaries[i]`` (changes *at* a boundary).

    ``len(values) == len(boundaries) + 1``. Boundaries and values are arrays (may be traced), and
    the lookup is a vectorised count (binary search beyond 16 boundaries): the compiled graph has
    the same size for 10 or 10,000 boundaries. ``optax.piecewise_constant_schedule(init_value,
    {b_i: s_i})`` is ``values = init_value * cumprod([1, s_0, s_1, ...])``.

    Args:
      boundaries: sorted 1-D integer steps >= 0.
      values: 1-D, ``len(boundaries) + 1`` values >= 0.

    References:
      Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1
      Hour", 2017 (piecewise-constant step schedules); peer:
      ``optax.piecewise_constant_schedule``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.piecewise_constant([3, 6], [1.0, 0.1, 0.01])
      >>> [float(s(t)) for t in (0, 2, 3, 5, 6, 100)]
      [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    """
    fn = "piecewise_constant"
    _check_boundaries(fn, "boundaries", boundaries)
    _check_vector(fn, "values", values)
    nb, nv = _shape(boundaries)[0], _shape(values)[0]
    if nv != nb + 1:
        validation.fail(fn, f"`values` must have len(boundaries) + 1 = {nb + 1} entries; got "
                            f"{nv} (boundaries={_short(boundaries)}, values={_short(values)}).")
    if not isinstance(values, (list, tuple)):
        _check_lr(fn, values=values)
    else:
        for i, v in enumerate(values):
            _check_lr(fn, **{f"values[{i}]": v})
    return PiecewiseConstant(_as_vector(boundaries), _as_vector(values))


@register("piecewise_linear", children=("boundaries", "values"))
class PiecewiseLinear(Schedule):
    """Schedule returned by :func:`piecewise_linear`."""

    boundaries: Any
    values: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        b = _vector(self.boundaries, jnp.int32)
        v = _vector(self.values, float_dtype())
        n = b.shape[-1]
        if n == 1:
            return jnp.broadcast_to(v[0], step.shape)
        hi = jnp.clip(_count_le(b, step), 1, n - 1)
        lo = hi - 1
        b_lo, b_hi = jnp.take(b, lo), jnp.take(b, hi)
        v_lo, v_hi = jnp.take(v, lo), jnp.take(v, hi)
        span = b_hi - b_lo
        left = jnp.clip(b_hi - step, 0, span)
        return v_hi + (v_lo - v_hi) * safe_div(left.astype(float_dtype()),
                                               span.astype(float_dtype()), default=0.0)

    def horizon(self) -> int | None:
        return concrete_int(self._name, "boundaries", self.boundaries)


def piecewise_linear(boundaries: Any, values: Any) -> PiecewiseLinear:
    """Linear interpolation between knots ``(boundaries[i], values[i])``, held outside.

    Like ``numpy.interp`` on integer steps (``optax.piecewise_interpolate_schedule`` with
    ``interpolate_type="linear"`` expressed as absolute knots instead of scales); a repeated
    boundary makes a jump. Works on vector steps (optax's version does not).

    Args:
      boundaries: sorted 1-D integer steps >= 0 (at least one).
      values: 1-D values >= 0, same length.

    References:
      Smith, "Cyclical Learning Rates for Training Neural Networks", WACV
      2017 (piecewise-linear policies); peer: ``numpy.interp``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.piecewise_linear([0, 10, 20], [0.0, 1.0, 0.5])
      >>> [float(s(t)) for t in (0, 5, 10, 15, 30)]
      [0.0, 0.5, 1.0, 0.75, 0.5]
    """
    fn = "piecewise_linear"
    _check_boundaries(fn, "boundaries", boundaries)
    _check_vector(fn, "values", values)
    nb, nv = _shape(boundaries)[0], _shape(values)[0]
    if nb < 1:
        validation.fail(fn, f"`boundaries` must have at least one knot; got "
                            f"boundaries={_short(boundaries)}.")
    if nv != nb:
        validation.fail(fn, f"`values` must have len(boundaries) = {nb} entries; got {nv} "
                            f"(boundaries={_short(boundaries)}, values={_short(values)}).")
    if not isinstance(values, (list, tuple)):
        _check_lr(fn, values=values)
    else:
        for i, v in enumerate(values):
            _check_lr(fn, **{f"values[{i}]": v})
    return PiecewiseLinear(_as_vector(boundaries), _as_vector(values))


@register("table", children=("values",))
class Table(Schedule):
    """Schedule returned by :func:`table`."""

    values: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        values = _vector(self.values, float_dtype())
        return jnp.take(values, jnp.clip(step, 0, values.shape[-1] - 1), axis=-1)

    def horizon(self) -> int | None:
        return max(_shape(self.values)[-1] - 1, 0)


def table(values: Any) -> Table:
    """The precomputed value ``values[t]`` at step ``t``, held at ``values[-1]`` afterwards.

    A schedule read from memory: one gather per call, whatever produced the values (a ramp,
    a schedule exported from another framework, rates logged by an earlier run). The values are
    an array child, so a new table of the same length reuses the compiled program. Inside a
    training step this is the cheapest schedule there is: :func:`jaxlr.lr_find` evaluates its
    exponential ramp once, before its training loop, and trains with ``table`` of it.
    PyTorch's ``LambdaLR(lambda t: values[t] / lr)`` on a base rate ``lr`` is the same schedule.

    Args:
      values: 1-D, at least one value >= 0 (may be traced).

    References:
      Smith, "Cyclical Learning Rates for Training Neural Networks", WACV
      2017 (the range test's precomputed ramp); peer: PyTorch ``LambdaLR`` over a list.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.schedules.table([0.1, 0.2, 0.4])
      >>> [round(float(s(t)), 4) for t in (0, 1, 2, 3, 100)]
      [0.1, 0.2, 0.4, 0.4, 0.4]
      >>> jaxlr.schedules.horizon(s)
      2
    """
    fn = "table"
    _check_vector(fn, "values", values)
    if _shape(values)[0] < 1:
        validation.fail(fn, f"`values` must hold at least one value; got values={_short(values)}.",
                        hint="Pass the rate of every step, e.g. table([0.1, 0.05, 0.01]).")
    if not isinstance(values, (list, tuple)):
        _check_lr(fn, values=values)
    else:
        for i, v in enumerate(values):
            _check_lr(fn, **{f"values[{i}]": v})
    return Table(_as_vector(values))


# --------------------------------------------------------------------------------------------
# Combinators.
# --------------------------------------------------------------------------------------------


@register("join", children=("schedules", "boundaries"))
class Join(Schedule):
    """Schedule returned by :func:`join`."""

    schedules: tuple[Schedule, ...]
    boundaries: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        b = _vector(self.boundaries, jnp.int32)
        out = evaluate(self.schedules[0], step)
        for i, s in enumerate(self.schedules[1:]):
            out = jnp.where(step >= b[i], evaluate(s, jnp.maximum(step - b[i], 0)), out)
        return out

    def horizon(self) -> int | None:
        last = self.schedules[-1].horizon()
        if last is None:
            return None
        start = concrete_int(self._name, "boundaries", self.boundaries) if len(
            self.schedules) > 1 else 0
        return min(start + last, INT32_MAX)


def join(schedules: Any, boundaries: Any) -> Join:
    """Runs ``schedules[i]`` from ``boundaries[i-1]``; schedule i sees ``step - boundaries[i-1]``.

    Reproduces ``optax.join_schedules(schedules, boundaries)`` and
    ``torch.optim.lr_scheduler.SequentialLR(schedulers, milestones=boundaries)``.

    Args:
      schedules: non-empty sequence of schedules or callables.
      boundaries: ``len(schedules) - 1`` sorted integer steps (may be traced).

    References:
      Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017
      (warm-up joined to a step schedule); peers: PyTorch ``SequentialLR``,
      ``optax.join_schedules``.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.join([jaxlr.linear(0.0, 1.0, 4), jaxlr.cosine_decay(1.0, 4)], [4])
      >>> [float(s(t)) for t in (0, 2, 4, 6, 8)]
      [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    fn = "join"
    if isinstance(schedules, Schedule) or callable(schedules) or not isinstance(
            schedules, (list, tuple)):
        validation.fail(fn, f"`schedules` must be a list of schedules; got "
                            f"schedules={_short(schedules)}.", error=TypeError)
    if not schedules:
        validation.fail(fn, "`schedules` must contain at least one schedule; got [].")
    items = tuple(as_schedule(fn, f"schedules[{i}]", s) for i, s in enumerate(schedules))
    _check_boundaries(fn, "boundaries", boundaries)
    nb = _shape(boundaries)[0]
    if nb != len(items) - 1:
        validation.fail(fn, f"`boundaries` must have len(schedules) - 1 = {len(items) - 1} "
                            f"entries; got {nb} (boundaries={_short(boundaries)}).")
    return Join(items, _as_vector(boundaries))


@register("multiply", children=("schedules",))
class Multiply(Schedule):
    """Schedule returned by :func:`multiply`."""

    schedules: tuple[Schedule, ...]

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        out = evaluate(self.schedules[0], step)
        for s in self.schedules[1:]:
            out = out * evaluate(s, step)
        return out

    def horizon(self) -> int | None:
        hs = [s.horizon() for s in self.schedules]
        return None if any(h is None for h in hs) else max(hs)

    def __repr__(self) -> str:
        return f"multiply({', '.join(repr(s) for s in self.schedules)})"


def multiply(*schedules: Any) -> Multiply:
    """Product of schedules (``torch.optim.lr_scheduler.ChainedScheduler`` of closed forms).

    Args:
      *schedules: one or more schedules or callables.

    References:
      A combinator, no paper of its own; peer: PyTorch ``ChainedScheduler`` (closed
      forms multiply).

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.multiply(jaxlr.constant(2.0), jaxlr.linear(1.0, 0.0, 10))
      >>> float(s(5))
      1.0
    """
    fn = "multiply"
    if not schedules:
        validation.fail(fn, "needs at least one schedule; got none.")
    return Multiply(tuple(as_schedule(fn, f"schedules[{i}]", s)
                          for i, s in enumerate(schedules)))


@register("scale", children=("schedule", "factor"))
class Scale(Schedule):
    """Schedule returned by :func:`scale`."""

    schedule: Schedule
    factor: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        return evaluate(self.schedule, step) * as_float(self.factor)

    def horizon(self) -> int | None:
        return self.schedule.horizon()


def scale(schedule: Any, factor: ArrayLike) -> Scale:
    """``factor * schedule(step)``; ``factor`` may be traced (e.g. "this shape at this peak").

    Args:
      schedule: a schedule or callable.
      factor: real number (>= 0 when concrete).

    References:
      Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017
      (scaling a schedule by the linear batch-size rule, see ``jaxlr.scale_lr``).

    Examples:
      >>> import jaxlr
      >>> float(jaxlr.schedules.scale(jaxlr.cosine_decay(1.0, 10), 3e-4)(0))
      0.0003
    """
    fn = "scale"
    schedule = as_schedule(fn, "schedule", schedule)
    _check_lr(fn, factor=factor)
    return Scale(schedule, factor)


@register("clip", children=("schedule", "min_value", "max_value"))
class Clip(Schedule):
    """Schedule returned by :func:`clip`."""

    schedule: Schedule
    min_value: Any
    max_value: Any

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        out = evaluate(self.schedule, step)
        if self.min_value is not None:
            out = jnp.maximum(out, as_float(self.min_value))
        if self.max_value is not None:
            out = jnp.minimum(out, as_float(self.max_value))
        return out

    def horizon(self) -> int | None:
        return self.schedule.horizon()


def clip(schedule: Any, min_value: ArrayLike | None = None,
         max_value: ArrayLike | None = None) -> Clip:
    """Clips a schedule's values to ``[min_value, max_value]`` (either bound may be ``None``).

    Args:
      schedule: a schedule or callable.
      min_value: lower bound or ``None``.
      max_value: upper bound or ``None``.

    References:
      A combinator, no paper of its own; peers: ``min_lr``/``eta_min`` floors in PyTorch
      and Keras schedulers.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.schedules.clip(jaxlr.linear(1.0, 0.0, 10), min_value=0.2)
      >>> [round(float(s(t)), 2) for t in (0, 5, 10)]
      [1.0, 0.5, 0.2]
    """
    fn = "clip"
    schedule = as_schedule(fn, "schedule", schedule)
    if min_value is None and max_value is None:
        validation.fail(fn, "needs `min_value`, `max_value` or both; got neither.")
    if min_value is not None:
        _check_lr(fn, min_value=min_value)
    if max_value is not None:
        _check_lr(fn, max_value=max_value)
    lo, hi = validation.concrete(min_value), validation.concrete(max_value)
    if min_value is not None and max_value is not None and lo is not None and hi is not None:
        if np.any(lo > hi):
            validation.fail(fn, f"`min_value` must be <= `max_value`; got min_value="
                                f"{_short(min_value)}, max_value={_short(max_value)}.")
    return Clip(schedule, min_value, max_value)


#: Builders by name (used by ``parse``, ``to_config`` and ``from_config``).
BUILDERS = {
    "constant": constant,
    "step_decay": step_decay,
    "multistep_decay": multistep_decay,
    "exponential_decay": exponential_decay,
    "inverse_time_decay": inverse_time_decay,
    "polynomial_decay": polynomial_decay,
    "linear": linear,
    "cosine_decay": cosine_decay,
    "cosine_restarts": cosine_restarts,
    "cyclic": cyclic,
    "cyclic_momentum": cyclic_momentum,
    "one_cycle": one_cycle,
    "one_cycle_momentum": one_cycle_momentum,
    "warmup": warmup,
    "warmup_cosine": warmup_cosine,
    "warmup_stable_decay": warmup_stable_decay,
    "inverse_sqrt": inverse_sqrt,
    "piecewise_constant": piecewise_constant,
    "piecewise_linear": piecewise_linear,
    "table": table,
    "join": join,
    "multiply": multiply,
    "scale": scale,
    "clip": clip,
}
