"""Base class, pytree registration and shared arithmetic for jaxlr schedules.

Every schedule is a frozen dataclass registered as a JAX pytree: numeric fields are children
(leaves), static flags (mode strings, ``periodic``, ...) are auxiliary data. Field values are kept
exactly as the user gave them (so ``repr`` and ``to_config`` are faithful) and converted to arrays
when the schedule is called. Structure (boundaries, cycles, restarts) is computed on int32 steps;
only within-phase fractions are floating point.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxlr._utils import _validation as validation
from jaxlr._utils._validation import shorten

INT32_MAX = 2**31 - 1
# Largest float32 strictly below 2**31 (used to clamp floating-point steps before casting).
_F32_BELOW_2_31 = 2147483520.0


def float_dtype() -> np.dtype:
    """The float dtype schedules return: float32, or float64 when x64 is enabled."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def as_float(x: Any) -> jax.Array:
    """A field value as a floating-point array of :func:`float_dtype`."""
    return jnp.asarray(x).astype(float_dtype())


def as_int(x: Any) -> jax.Array:
    """A step-count field as an int32 array."""
    return jnp.asarray(x).astype(jnp.int32)


def as_step(step: ArrayLike) -> jax.Array:
    """Converts a step (any int/float dtype, scalar or array) to int32 clamped to [0, 2**31-1].

    Floating-point steps are floored; negative steps count as step 0.
    """
    step = jnp.asarray(step)
    dtype = step.dtype
    if jnp.issubdtype(dtype, jnp.bool_) or not jnp.issubdtype(dtype, jnp.number):
        raise TypeError(f"schedule: `step` must be an integer (or float) array; got dtype {dtype}.")
    if jnp.issubdtype(dtype, jnp.floating):
        return jnp.clip(jnp.floor(step), 0.0, _F32_BELOW_2_31).astype(jnp.int32)
    if dtype == jnp.int32:
        return jnp.maximum(step, 0)
    info = jnp.iinfo(dtype)
    hi = min(int(info.max), INT32_MAX)
    return jnp.clip(step, 0, hi).astype(jnp.int32)


def safe_div(num: jax.Array, den: jax.Array, default: float = 1.0) -> jax.Array:
    """``num / den`` where ``den > 0``, else ``default`` (no NaN, no division by zero)."""
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, jnp.ones_like(den)), default)


def int_fraction(num: jax.Array, den: jax.Array) -> jax.Array:
    """Float fraction of two int32 arrays (``1`` where ``den <= 0``)."""
    return safe_div(num.astype(float_dtype()), den.astype(float_dtype()))


def cos_factor(remaining: jax.Array) -> jax.Array:
    """``(1 + cos(pi * (1 - remaining))) / 2`` computed as ``sin(pi/2 * remaining)**2``.

    ``remaining`` is the fraction of the phase still to go, in [0, 1]. The sine form keeps full
    relative precision near the end of a decay, where the cosine form cancels.
    """
    return jnp.square(jnp.sin((jnp.pi / 2) * remaining))


class Schedule(abc.ABC):
    """Base class of every jaxlr schedule: an immutable, callable pytree ``step -> value``.

    Subclasses are frozen dataclasses whose numeric fields are pytree leaves, so a schedule can
    be passed into a jitted function (new values, same compiled program), stored in optimizer
    state, or stacked with :func:`jaxlr.stack` for ``jax.vmap``. A schedule is an
    ``optax.Schedule``: ``optax.adam(learning_rate=s)`` works.

    Calling conventions shared by all schedules:

    * ``step`` may be a scalar or an array of any integer dtype (floats are floored); the result
      has the step's shape and dtype float32 (float64 under x64).
    * Steps are clamped to ``[0, 2**31 - 1]``; beyond its horizon a schedule holds its final value.
    """

    _name: ClassVar[str] = "schedule"
    _children: ClassVar[tuple[str, ...]] = ()
    _static: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def __call__(self, step: ArrayLike) -> jax.Array:
        """Value of the schedule at ``step`` (scalar or array of steps)."""

    def horizon(self) -> int | None:
        """Step from which the value stays constant, or ``None`` if it never settles."""
        return None

    def _fields(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self._fields())
        return f"{self._name}({args})"


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (np.ndarray, np.generic, jax.Array)) and not validation.is_traced(value):
        arr = np.asarray(value)
        return repr(arr.item()) if arr.ndim == 0 else repr(arr.tolist())
    return repr(value)


def _jitted_call(impl):
    compiled = jax.jit(impl)

    def __call__(self, step: ArrayLike) -> jax.Array:
        # Host integers beyond int32 would overflow when passed to jit: clamp them first.
        if isinstance(step, int) and not isinstance(step, bool):
            step = max(min(step, INT32_MAX), 0)
        elif isinstance(step, (np.ndarray, np.integer)) and np.issubdtype(
                np.asarray(step).dtype, np.integer):
            step = np.clip(step, -1, INT32_MAX).astype(np.int32)
        return compiled(self, step)

    __call__.__doc__ = impl.__doc__
    __call__.__wrapped__ = impl
    return __call__


def register(name: str, children: tuple[str, ...], static: tuple[str, ...] = (), *,
             jit: bool = True):
    """Class decorator: frozen dataclass + pytree registration + builder name.

    With ``jit=True`` the class's ``__call__`` is wrapped in ``jax.jit`` (the schedule is a pytree
    argument, so new values reuse the compiled program).
    """

    def wrap(cls):
        cls = dataclasses.dataclass(frozen=True, repr=False, eq=False)(cls)
        cls._name = name
        cls._children = children
        cls._static = static
        names = {f.name for f in dataclasses.fields(cls)}
        if names != set(children) | set(static):  # pragma: no cover - developer error
            raise RuntimeError(f"{cls.__name__}: fields {names} != children+static")
        jax.tree_util.register_dataclass(cls, data_fields=list(children),
                                         meta_fields=list(static))
        if jit:
            # Compiled once per (structure, step shape): eager calls are as fast as jitted ones,
            # and inside an outer jit the call is inlined.
            cls.__call__ = _jitted_call(cls.__call__)
        return cls

    return wrap


@register("function", children=(), static=("fn",), jit=False)
class FunctionSchedule(Schedule):
    """A plain callable ``step -> value`` wrapped as a :class:`Schedule` (PyTorch ``LambdaLR``).

    Combinators wrap plain callables with this class; the function is static pytree data (it is
    hashed by identity when the schedule is passed into ``jax.jit``). It cannot be converted to a
    config dict.
    """

    fn: Callable[[jax.Array], ArrayLike]

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        return jnp.broadcast_to(as_float(self.fn(step)), step.shape)

    def __repr__(self) -> str:
        return repr(self.fn)


def as_schedule(fn: str, name: str, value: Any) -> Schedule:
    """A :class:`Schedule` from a schedule or plain callable; TypeError otherwise."""
    if isinstance(value, Schedule):
        return value
    if callable(value):
        return FunctionSchedule(value)
    hint = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        hint = f"For a constant rate use jaxlr.constant({shorten(value)})."
    validation.fail(fn, f"`{name}` must be a schedule (a jaxlr.Schedule or a callable "
                        f"step -> value); got {name}={shorten(value)}.", hint=hint, error=TypeError)
    raise AssertionError  # unreachable


def evaluate(schedule: Schedule, step: jax.Array) -> jax.Array:
    """Evaluates a (sub-)schedule at int32 ``step`` and returns a float array."""
    return as_float(schedule(step))


def concrete_int(fn: str, name: str, value: Any) -> int:
    """Python int of a concrete step field (max over lanes for stacked schedules)."""
    arr = validation.concrete(value)
    if arr is None:
        validation.fail(fn, f"`{name}` is traced; the horizon needs concrete values.",
                        error=TypeError)
    return int(np.max(np.asarray(arr)))


def horizon(schedule: Any) -> int | None:
    """The step from which ``schedule`` is constant, or ``None`` if it never settles.

    ``s(t) == s(horizon(s))`` for every ``t >= horizon(s)``. Periodic schedules, exponential decay
    without a floor and plain callables return ``None``. For a stacked (batched) schedule the
    maximum over lanes is returned. Needs concrete (not traced) step fields.

    Examples:
      >>> import jaxlr
      >>> jaxlr.schedules.horizon(jaxlr.warmup_cosine(1.0, 10, 100))
      100
      >>> jaxlr.schedules.horizon(jaxlr.cosine_decay(1.0, 100, periodic=True)) is None
      True
    """
    if not isinstance(schedule, Schedule):
        if callable(schedule):
            return None
        validation.fail("horizon", f"`schedule` must be a jaxlr.Schedule; got {shorten(schedule)}.",
                        error=TypeError)
    return schedule.horizon()


def stack(schedules: Any) -> Schedule:
    """Stacks schedules of the same structure into one batched schedule for ``jax.vmap``.

    Every numeric field gets a leading axis (int fields int32, float fields float32), so
    ``jax.vmap(lambda s: s(t))(jaxlr.stack([s1, s2]))`` evaluates each schedule lane by lane.

    Args:
      schedules: a non-empty sequence of schedules built by the same builder with the same static
        options (mode strings, number of boundaries, nested structure).

    Returns:
      A schedule of the same type whose leaves have a leading axis of length ``len(schedules)``.

    Raises:
      ValueError: if the sequence is empty or the structures differ.

    Examples:
      >>> import jax, jaxlr
      >>> s = jaxlr.stack([jaxlr.cosine_decay(1.0, 10), jaxlr.cosine_decay(2.0, 20)])
      >>> jax.vmap(lambda s: s(5))(s).tolist()
      [0.5, 1.70710...]
    """
    schedules = list(schedules) if not isinstance(schedules, Schedule) else [schedules]
    if not schedules:
        validation.fail("stack", "`schedules` must contain at least one schedule; got [].")
    for i, s in enumerate(schedules):
        if not isinstance(s, Schedule):
            validation.fail("stack", f"`schedules[{i}]` must be a jaxlr.Schedule; got "
                                     f"{shorten(s)}.",
                            error=TypeError)
    first = jax.tree_util.tree_structure(schedules[0])
    for i, s in enumerate(schedules[1:], start=1):
        if jax.tree_util.tree_structure(s) != first:
            validation.fail(
                "stack", f"all schedules must have the same structure; "
                f"schedules[0]={shorten(schedules[0])} and schedules[{i}]={shorten(s)} differ.",
                hint="Stack schedules from the same builder with the same static options and "
                     "the same number of boundaries.")

    def _stack(*xs):
        arrs = [jnp.asarray(x) for x in xs]
        if any(jnp.issubdtype(a.dtype, jnp.floating) for a in arrs):
            dtype = float_dtype()
        else:
            dtype = jnp.int32
        return jnp.stack([a.astype(dtype) for a in arrs])

    return jax.tree_util.tree_map(_stack, *schedules)
