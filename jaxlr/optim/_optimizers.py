"""Optimizers whose hyperparameters are data: learning rate (or a whole schedule), momentum, betas,
eps, weight decay and the clipping norm live in the optimizer state as float32 arrays.

Optax builders close over Python floats, so a new learning rate recompiles a jitted step. Here
every builder returns an ``optax.GradientTransformationExtraArgs`` whose state is a
:class:`HyperState`: the hyperparameters plus the state of the *optax* optimizer built from them.
At each update the optax optimizer (``optax.adam``, ``optax.sgd``, ...) is rebuilt from the traced
hyperparameters, exactly as ``optax.inject_hyperparams`` does, so the update rules are optax's own;
what differs is that

* the values stay float32 in the state even when the parameters are bfloat16 (they are handed to
  optax in the parameters' dtype when all parameters share one, so the arithmetic is the one a
  Python float hyperparameter gives, and nothing is rounded in the state);
* a schedule that is a pytree (every jaxlr schedule) is stored *whole* in the state, leaves as
  arrays, so a schedule with other values but the same structure is a new value of the same
  compiled program;
* :func:`set_hyperparams`, :func:`hyperparams` and :func:`current_lr` read and replace them in any
  optax chain that contains a jaxlr optimizer (clipping, masking, gradient accumulation, a
  reduce-on-plateau adapter, ...).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlr._utils._validation import (check_choice, check_positive, check_steps, concrete, fail,
                                      shorten)

__all__ = [
    "HyperState",
    "sgd",
    "momentum",
    "rmsprop",
    "adagrad",
    "adam",
    "adamw",
    "inject_hyperparams",
    "accumulate_gradients",
    "hyperparams",
    "set_hyperparams",
    "current_lr",
    "scale_lr",
]

_F32 = np.dtype("float32")
_I32 = np.dtype("int32")


class HyperState(NamedTuple):
    """State of a jaxlr optimizer.

    Attributes:
      count: shape=(), int32; number of updates applied so far (saturates at 2**31-1).
      hyperparams: dict name -> float32 array, or a schedule pytree (array leaves) evaluated at
        the schedule step; ``"learning_rate"`` is always present.
      schedule_step: shape=(), int32; the step at which schedules are evaluated when >= 0
        (set by ``fit(schedule_clock="time")``); -1 means "use ``count``".
      inner_state: the state of the optax optimizer.
    """

    count: jax.Array
    hyperparams: dict[str, Any]
    schedule_step: jax.Array
    inner_state: Any


# --------------------------------------------------------------------------------------------
# Hyperparameter values: numbers, arrays, pytree schedules, plain callables.


def _is_pytree_schedule(value: Any) -> bool:
    """A callable whose numeric fields are pytree leaves (e.g. every jaxlr schedule)."""
    if not callable(value):
        return False
    leaves, treedef = jax.tree_util.tree_flatten(value)
    if jax.tree_util.treedef_is_leaf(treedef):
        return False
    return all(isinstance(x, (int, float, np.ndarray, np.generic, jax.Array))
               and not isinstance(x, bool) for x in leaves)


@jax.tree_util.register_pytree_node_class
class _Closed:
    """A plain Python callable schedule held in the state as static structure (no leaves)."""

    def __init__(self, fn: Callable[[jax.Array], Any]):
        self.fn = fn

    def __call__(self, step):
        return self.fn(step)

    def __repr__(self) -> str:
        return f"{self.fn!r}"

    def __eq__(self, other) -> bool:
        return isinstance(other, _Closed) and other.fn is self.fn

    def __hash__(self) -> int:
        return hash(id(self.fn))

    def tree_flatten(self):
        return (), self.fn

    @classmethod
    def tree_unflatten(cls, fn, children):
        return cls(fn)


def _state_leaf(x: Any) -> jax.Array:
    """A numeric leaf as a non-weak array: floats -> float32, integers -> int32."""
    if isinstance(x, jax.core.Tracer):
        dtype = x.dtype
    else:
        dtype = np.asarray(x).dtype
    if jnp.issubdtype(dtype, jnp.floating):
        return jnp.asarray(x, _F32)
    if jnp.issubdtype(dtype, jnp.integer):
        return jnp.asarray(x, _I32)
    return jnp.asarray(x)


def _as_state_value(value: Any) -> Any:
    """Converts a hyperparameter for storage: array leaves (schedules keep their structure)."""
    if _is_pytree_schedule(value):
        return jax.tree_util.tree_map(_state_leaf, value)
    if callable(value):
        return _Closed(value)
    return _state_leaf(value)


def _compute_dtype(tree: Any) -> Any:
    """The dtype optax arithmetic should use: the parameters' floating dtype when they share
    one (bf16 parameters: bf16 arithmetic, exactly as a Python float hyperparameter gives),
    else float32."""
    dtypes = {jnp.result_type(x) for x in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(jnp.result_type(x), jnp.floating)}
    return dtypes.pop() if len(dtypes) == 1 else _F32


def _as_compute(x: jax.Array, dtype: Any) -> jax.Array:
    """A float32 hyperparameter value as handed to optax: in the parameters' dtype (a Python
    float meeting bf16 parameters is rounded to bf16 the same way)."""
    return jnp.array(jnp.asarray(x, _F32), dtype=dtype)     # a copy: the optax state may
    # keep it (schedule-free's b1), and a state must not alias its own hyperparameters


def _evaluate(value: Any, step: jax.Array) -> jax.Array:
    """The value of a hyperparameter at ``step`` (schedules are called, arrays returned)."""
    if callable(value):
        with jax.numpy_dtype_promotion("standard"):
            out = value(step)
        return jnp.asarray(out, _F32)
    return jnp.asarray(value, _F32)


def _check_hparam(fn: str, name: str, value: Any, *, low: float | None = None,
                  high: float | None = None, allow_low: bool = True,
                  allow_high: bool = True) -> None:
    """Validates a concrete hyperparameter (schedules and tracers are the caller's business)."""
    if value is None or callable(value):
        return
    if isinstance(value, bool) or not isinstance(
            value, (int, float, np.ndarray, np.generic, jax.Array)):
        fail(fn, f"`{name}` must be a number, an array or a schedule; got "
                 f"{name}={shorten(value)} of "
             f"type {type(value).__name__}.", error=TypeError)
    arr = concrete(value)
    if arr is None:
        return
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        fail(fn, f"`{name}` must be real-valued; got {name}={shorten(value)}.", error=TypeError)
    if not np.all(np.isfinite(arr)):
        fail(fn, f"`{name}` must be finite; got {name}={shorten(value)}.")
    if low is not None and np.any(arr < low if allow_low else arr <= low):
        fail(fn, f"`{name}` must be {'>=' if allow_low else '>'} {low}; got "
                 f"{name}={shorten(value)}.")
    if high is not None and np.any(arr > high if allow_high else arr >= high):
        fail(fn, f"`{name}` must be {'<=' if allow_high else '<'} {high}; got "
                 f"{name}={shorten(value)}.")


def _check_lr(fn: str, learning_rate: Any) -> None:
    if learning_rate is None:
        fail(fn, "`learning_rate` is required; got learning_rate=None.",
             hint="Pass a float (e.g. 1e-3), an array or a schedule (e.g. "
                  "jaxlr.warmup_cosine(...)).", error=TypeError)
    if callable(learning_rate):
        return
    _check_hparam(fn, "learning_rate", learning_rate, low=0.0)


# --------------------------------------------------------------------------------------------
# The wrapper


def inject_hyperparams(factory: Callable[..., optax.GradientTransformation],
                       hparams: dict[str, Any], *, name: str = "inject_hyperparams",
                       ) -> optax.GradientTransformationExtraArgs:
    """Wraps an optax optimizer factory so that its numeric arguments live in the state.

    ``factory(**values)`` must build the optax optimizer from the hyperparameter values (traced
    weakly-typed float32 scalars at update time); its state structure must not depend on the
    values. ``hparams`` maps names to initial values: numbers, arrays, pytree schedules (stored
    whole) or plain callables (closed over, evaluated at the schedule step, not replaceable).
    ``"learning_rate"`` must be one of them. A plain callable stays in the state as static
    structure: it can be read (:func:`current_lr`) but a different function is a new program.
    This is how every jaxlr optimizer is built; use it
    to give any other optax optimizer the same properties.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> import optax
      >>> opt = jaxlr.optim.inject_hyperparams(optax.lion, {"learning_rate": 1e-3, "b1": 0.9})
      >>> state = opt.init(jnp.zeros(3))
      >>> float(jaxlr.current_lr(jaxlr.set_hyperparams(state, learning_rate=0.5)))
      0.5
    """
    if not callable(factory):
        fail(name, f"`factory` must be a callable building an optax optimizer; got "
             f"factory={shorten(factory)}.", error=TypeError)
    return _inject(name, factory, hparams)


@functools.partial(jax.tree_util.register_dataclass, data_fields=["hyperparams"],
                   meta_fields=["name", "factory"])
@dataclasses.dataclass(frozen=True, eq=False)
class _HyperInit:
    """``init`` of a jaxlr optimizer: a pytree whose leaves are the hyperparameter values.

    A jaxlr optimizer is therefore itself a pytree (``jax.tree.leaves(jaxlr.adam(1e-3))`` are
    its hyperparameters): passed into a compiled program its values are traced, so an optimizer
    built again with other values runs the same program, and optimizers can be stacked and
    vmapped like any data.
    """

    name: str
    factory: Callable[..., optax.GradientTransformation]
    hyperparams: dict[str, Any]

    def __call__(self, params: Any) -> "HyperState":
        check_params(self.name, params)
        hp = {k: _as_state_value(v) for k, v in self.hyperparams.items()}
        if any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(params)):
            # Inside a compiled program (a finder candidate, a sweep trial) the values built
            # here are compile-time constants: the barrier keeps XLA from folding them into the
            # update, so the update rounds exactly as with values read from a state at run time
            # (what fit does): the same run, bit for bit.
            hp = jax.lax.optimization_barrier(hp)
        count = jnp.zeros([], _I32)
        with jax.numpy_dtype_promotion("standard"):
            inner = _build(self.factory, hp, count, _compute_dtype(params)).init(params)
        return HyperState(count=count, hyperparams=hp, schedule_step=jnp.full([], -1, _I32),
                          inner_state=inner)


@functools.partial(jax.tree_util.register_dataclass, data_fields=[],
                   meta_fields=["name", "factory"])
@dataclasses.dataclass(frozen=True)
class _HyperUpdate:
    """``update`` of a jaxlr optimizer: reads every hyperparameter from the state, so it holds
    no values and is the same static structure for every value."""

    name: str
    factory: Callable[..., optax.GradientTransformation]

    def __jaxlr_value_key__(self) -> Any:
        return (self.name, self.factory)

    def __call__(self, updates, state, params=None, **extra_args):
        step = jnp.where(state.schedule_step >= 0, state.schedule_step, state.count)
        tx = optax.with_extra_args_support(_build(self.factory, state.hyperparams, step,
                                                  _compute_dtype(updates)))
        with jax.numpy_dtype_promotion("standard"):
            new_updates, inner = tx.update(updates, state.inner_state, params, **extra_args)
        # The optax state must keep its dtypes (scan carries, checkpoints); cast back if a
        # transform promoted (e.g. a float32 hyperparameter meeting bfloat16 moments).
        inner = jax.tree_util.tree_map(
            lambda new, old: new.astype(old.dtype) if hasattr(old, "dtype") else new,
            inner, state.inner_state)
        new_updates = jax.tree_util.tree_map(lambda u, g: u.astype(g.dtype), new_updates,
                                             updates)
        count = optax.safe_increment(state.count)
        return new_updates, state._replace(count=count, inner_state=inner)


def _build(factory, hp, step, dtype):
    with jax.numpy_dtype_promotion("standard"):
        return factory(**{k: _as_compute(_evaluate(v, step), dtype) for k, v in hp.items()})


def _inject(fn: str, factory: Callable[..., optax.GradientTransformation],
            hparams: dict[str, Any], name: str | None = None,
            ) -> optax.GradientTransformationExtraArgs:
    if "learning_rate" not in hparams:
        fail(fn, "the hyperparameters must include `learning_rate`; got "
             f"{sorted(hparams)}.", error=TypeError)
    label = name or fn
    return optax.GradientTransformationExtraArgs(_HyperInit(label, factory, dict(hparams)),
                                                 _HyperUpdate(label, factory))


def is_hyper_optimizer(optimizer: Any) -> bool:
    """True for an optimizer built by jaxlr (its hyperparameters are pytree leaves)."""
    return isinstance(getattr(optimizer, "init", None), _HyperInit)


def with_hyperparams(optimizer: Any, **new: Any) -> optax.GradientTransformationExtraArgs:
    """A copy of a jaxlr optimizer with some hyperparameters replaced (values may be traced).

    The structure stays the same, so a compiled program taking the optimizer as an argument is
    reused. This is how the finders give every candidate its own learning rate.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.optim.with_hyperparams(jaxlr.adam(1e-3), learning_rate=0.1)
      >>> float(jaxlr.current_lr(opt.init({"w": jnp.zeros(2)})))
      0.1...
    """
    fn = "with_hyperparams"
    if not is_hyper_optimizer(optimizer):
        fail(fn, f"`optimizer` must be built by jaxlr (jaxlr.adam, jaxlr.sgd, ... or "
             f"jaxlr.optim.inject_hyperparams); got {type(optimizer).__name__}.",
             hint="For an optax optimizer pass its factory (e.g. optax.adam) instead.",
             error=TypeError)
    init = optimizer.init
    unknown = sorted(set(new) - set(init.hyperparams))
    if unknown:
        fail(fn, f"unknown hyperparameters {unknown}; this optimizer has "
             f"{', '.join(sorted(init.hyperparams))}.")
    hp = {**init.hyperparams, **new}
    return optax.GradientTransformationExtraArgs(_HyperInit(init.name, init.factory, hp),
                                                 optimizer.update)


def check_params(fn: str, params: Any) -> None:
    """TypeError unless every leaf of ``params`` is a floating-point array."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    if not leaves:
        fail(fn, f"`params` must be a pytree of floating-point arrays; got {shorten(params)} (no "
             "arrays).", error=TypeError)
    for path, leaf in leaves:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None:
            dtype = np.asarray(leaf).dtype
        if not jnp.issubdtype(dtype, jnp.floating):
            where = jax.tree_util.keystr(path) or "<root>"
            fail(fn, f"`params` must contain only floating-point arrays; params{where} has "
                 f"dtype {dtype}.", hint="Keep integer buffers (counters, indices) out of the "
                 "trained parameters, e.g. in TrainState.model_state.", error=TypeError)


def _with_extras(fn: str, tx: Callable[..., optax.GradientTransformation], *,
                 weight_decay: Any, max_grad_norm: Any) -> Callable[..., Any]:
    """Adds coupled L2 weight decay and global-norm clipping around an optax factory."""

    def factory(**hp):
        wd = hp.pop("weight_decay", None)
        clip = hp.pop("max_grad_norm", None)
        parts = []
        if clip is not None:
            parts.append(optax.clip_by_global_norm(clip))
        if wd is not None:
            parts.append(optax.add_decayed_weights(wd))
        parts.append(tx(**hp))
        return parts[0] if len(parts) == 1 else optax.chain(*parts)

    return factory


def _common(fn: str, learning_rate, weight_decay, max_grad_norm) -> dict[str, Any]:
    _check_lr(fn, learning_rate)
    hp: dict[str, Any] = {"learning_rate": learning_rate}
    if weight_decay is not None:
        _check_hparam(fn, "weight_decay", weight_decay, low=0.0)
        hp["weight_decay"] = weight_decay
    if max_grad_norm is not None:
        _check_hparam(fn, "max_grad_norm", max_grad_norm, low=0.0, allow_low=False)
        hp["max_grad_norm"] = max_grad_norm
    return hp


def _momentum_from_schedule(learning_rate: Any, momentum: Any, name: str) -> Any:
    """``learning_rate.momentum_schedule()`` (cyclic/one-cycle ``cycle_momentum=True``) or
    the given momentum."""
    get = getattr(learning_rate, "momentum_schedule", None)
    if get is None:
        return momentum
    sched = get()
    return momentum if sched is None else sched


# --------------------------------------------------------------------------------------------
# Builders


def sgd(learning_rate: Any, momentum: Any = None, nesterov: bool = False, *,
        weight_decay: Any = None, max_grad_norm: Any = None,
        ) -> optax.GradientTransformationExtraArgs:
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum: ``optax.sgd``.

    .. math:: v_{t+1} = \mu v_t + g_t, \quad \theta_{t+1} = \theta_t - \eta_t v_{t+1}

    Args:
      learning_rate: a float, an array or a schedule (``schedule(step) -> lr``).
      momentum: heavy-ball momentum :math:`\mu` (``None``: plain SGD). A ``cyclic``/``one_cycle``
        schedule built with ``cycle_momentum=True`` drives it (PyTorch's momentum cycling).
      nesterov: Nesterov momentum (Sutskever et al. 2013), as ``torch.optim.SGD(nesterov=True)``.
      weight_decay: coupled L2 decay: ``weight_decay * params`` is added to the gradient before
        the update (``torch.optim.SGD(weight_decay=)``).
      max_grad_norm: clip the gradient to this global norm first (``optax.clip_by_global_norm``).

    Returns:
      An optax gradient transformation whose state holds the hyperparameters (see
      :func:`set_hyperparams`).

    References:
      Robbins & Monro, "A Stochastic Approximation Method", 1951; Polyak, "Some methods
      of speeding up the convergence of iteration methods", 1964 (momentum); Sutskever et
      al., "On the importance of initialization and momentum in deep learning", ICML 2013
      (Nesterov form).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.sgd(0.1, momentum=0.9)
      >>> state = opt.init({"w": jnp.ones(2)})
      >>> updates, state = opt.update({"w": jnp.ones(2)}, state)
      >>> updates["w"]
      Array([-0.1, -0.1], dtype=float32)
    """
    fn = "sgd"
    hp = _common(fn, learning_rate, weight_decay, max_grad_norm)
    momentum = _momentum_from_schedule(learning_rate, momentum, "momentum")
    if momentum is not None:
        _check_hparam(fn, "momentum", momentum, low=0.0, high=1.0)
        hp["momentum"] = momentum
    if not isinstance(nesterov, bool):
        fail(fn, f"`nesterov` must be a bool; got nesterov={shorten(nesterov)}.", error=TypeError)
    if nesterov and momentum is None:
        fail(fn, "`nesterov=True` needs a momentum; got momentum=None.",
             hint="Pass momentum=0.9 (or use jaxlr.momentum(..., nesterov=True)).")
    base = functools.partial(optax.sgd, nesterov=nesterov)
    return _inject(fn, _with_extras(fn, base, weight_decay=weight_decay,
                                   max_grad_norm=max_grad_norm), hp)


def momentum(learning_rate: Any, momentum: Any = 0.9, *, nesterov: bool = False,
             weight_decay: Any = None, max_grad_norm: Any = None,
             ) -> optax.GradientTransformationExtraArgs:
    r"""SGD with Polyak heavy-ball momentum (``nesterov=True``: Nesterov momentum).

    Same as :func:`sgd` with a momentum (default 0.9); matches ``torch.optim.SGD(momentum=,
    dampening=0)`` (velocity accumulates raw gradients, the learning rate multiplies it).

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods",
      1964; Nesterov, "A method for solving the convex programming problem with
      convergence rate O(1/k^2)", 1983.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.momentum(0.1, 0.5)
      >>> state = opt.init(jnp.zeros(1))
      >>> u1, state = opt.update(jnp.ones(1), state)
      >>> u2, state = opt.update(jnp.ones(1), state)
      >>> float(u2[0])
      -0.15...
    """
    if momentum is None:
        fail("momentum", "`momentum` must be a number or a schedule; got momentum=None.",
             hint="Use jaxlr.sgd for plain SGD.", error=TypeError)
    return sgd(learning_rate, momentum, nesterov, weight_decay=weight_decay,
               max_grad_norm=max_grad_norm)


def rmsprop(learning_rate: Any, decay: Any = 0.9, eps: Any = 1e-8, *,
            initial_scale: float = 0.0, eps_in_sqrt: bool = True, centered: bool = False,
            momentum: Any = None, nesterov: bool = False, bias_correction: bool = False,
            weight_decay: Any = None, max_grad_norm: Any = None,
            ) -> optax.GradientTransformationExtraArgs:
    r"""RMSprop (Hinton 2012; ``centered=True``: Graves 2013): ``optax.rmsprop``.

    Optax's defaults: ``eps`` goes inside the square root (``eps_in_sqrt=True``); PyTorch's
    ``torch.optim.RMSprop`` puts it outside, so use ``eps_in_sqrt=False`` and ``decay=0.99``,
    ``eps=1e-8`` for PyTorch parity. The momentum (optional) is applied after the learning rate,
    as in optax and PyTorch.

    References:
      Tieleman & Hinton, "Lecture 6.5 - RMSProp", COURSERA: Neural Networks for
      Machine Learning, 2012; Graves, "Generating Sequences With Recurrent Neural
      Networks", 2013 (centered variant).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.rmsprop(0.01, centered=True, momentum=0.9)
      >>> state = opt.init(jnp.zeros(2))
      >>> sorted(jaxlr.hyperparams(state))
      ['decay', 'eps', 'learning_rate', 'momentum']
    """
    fn = "rmsprop"
    hp = _common(fn, learning_rate, weight_decay, max_grad_norm)
    _check_hparam(fn, "decay", decay, low=0.0, high=1.0)
    _check_hparam(fn, "eps", eps, low=0.0)
    hp.update(decay=decay, eps=eps)
    momentum = _momentum_from_schedule(learning_rate, momentum, "momentum")
    if momentum is not None:
        _check_hparam(fn, "momentum", momentum, low=0.0, high=1.0)
        hp["momentum"] = momentum
    if nesterov and momentum is None:
        fail(fn, "`nesterov=True` needs a momentum; got momentum=None.",
             hint="Pass momentum=0.9.")
    _check_hparam(fn, "initial_scale", initial_scale, low=0.0)
    base = functools.partial(optax.rmsprop, initial_scale=initial_scale,
                             eps_in_sqrt=eps_in_sqrt, centered=centered, nesterov=nesterov,
                             bias_correction=bias_correction)
    return _inject(fn, _with_extras(fn, base, weight_decay=weight_decay,
                                   max_grad_norm=max_grad_norm), hp)


def adagrad(learning_rate: Any, initial_accumulator_value: float = 0.1, eps: Any = 1e-7, *,
            weight_decay: Any = None, max_grad_norm: Any = None,
            ) -> optax.GradientTransformationExtraArgs:
    r"""Adagrad (Duchi et al. 2011): ``optax.adagrad``.

    Optax's defaults (``initial_accumulator_value=0.1``, ``eps=1e-7``); PyTorch uses 0 and 1e-10
    with ``eps`` outside the root.

    References:
      Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization", JMLR 2011.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.adagrad(1.0, initial_accumulator_value=0.0, eps=0.0)
      >>> state = opt.init(jnp.zeros(1))
      >>> u, state = opt.update(jnp.full(1, 2.0), state)
      >>> float(u[0])
      -1.0
    """
    fn = "adagrad"
    hp = _common(fn, learning_rate, weight_decay, max_grad_norm)
    _check_hparam(fn, "eps", eps, low=0.0)
    _check_hparam(fn, "initial_accumulator_value", initial_accumulator_value, low=0.0)
    hp["eps"] = eps
    base = functools.partial(optax.adagrad, initial_accumulator_value=initial_accumulator_value)
    return _inject(fn, _with_extras(fn, base, weight_decay=weight_decay,
                                   max_grad_norm=max_grad_norm), hp)


def adam(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
         eps_root: Any = 0.0, mu_dtype: Any = None, *, nesterov: bool = False,
         weight_decay: Any = None, max_grad_norm: Any = None,
         ) -> optax.GradientTransformationExtraArgs:
    r"""Adam (Kingma & Ba 2015): ``optax.adam``; ``nesterov=True`` gives NAdam (Dozat 2016).

    Positional arguments follow ``optax.adam(learning_rate, b1, b2, eps, eps_root, mu_dtype)``;
    ``mu_dtype`` (the dtype of the first moment) is static structure, the others are data.

    ``weight_decay`` here is coupled L2 (added to the gradient, as ``torch.optim.Adam``); use
    :func:`adamw` for decoupled decay. A ``cyclic``/``one_cycle`` schedule built with
    ``cycle_momentum=True`` drives ``b1`` (PyTorch cycles Adam's beta1 *by default*; jaxlr only
    when asked).

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015; Dozat,
      "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.adam(1e-3)
      >>> state = opt.init({"w": jnp.zeros(3)})
      >>> f = jax.jit(lambda s: opt.update({"w": jnp.ones(3)}, s)[0]["w"])
      >>> f(state)
      Array([-0.001, -0.001, -0.001], dtype=float32)
      >>> f(jaxlr.set_hyperparams(state, learning_rate=0.1))   # same program, new value
      Array([-0.1, -0.1, -0.1], dtype=float32)
    """
    fn = "adam"
    hp = _common(fn, learning_rate, weight_decay, max_grad_norm)
    b1 = _momentum_from_schedule(learning_rate, b1, "b1")
    for k, v in (("b1", b1), ("b2", b2)):
        _check_hparam(fn, k, v, low=0.0, high=1.0, allow_high=False)
    _check_hparam(fn, "eps", eps, low=0.0)
    _check_hparam(fn, "eps_root", eps_root, low=0.0)
    hp.update(b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    base = functools.partial(optax.adam, nesterov=nesterov, mu_dtype=mu_dtype)
    return _inject(fn, _with_extras(fn, base, weight_decay=weight_decay,
                                   max_grad_norm=max_grad_norm), hp)


def adamw(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
          eps_root: Any = 0.0, mu_dtype: Any = None, weight_decay: Any = 1e-4,
          mask: Any = None, *, nesterov: bool = False, max_grad_norm: Any = None,
          ) -> optax.GradientTransformationExtraArgs:
    r"""AdamW, decoupled weight decay (Loshchilov & Hutter 2019): ``optax.adamw``.

    Positional arguments follow ``optax.adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype,
    weight_decay, mask)``; ``mu_dtype`` and ``mask`` are static structure, the others data.

    The decay is scaled by the learning rate (``params -= lr * weight_decay * params``), as in
    optax and ``torch.optim.AdamW``; optax's default ``weight_decay=1e-4`` (PyTorch: 1e-2).

    References:
      Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.adamw(0.1, weight_decay=0.5)
      >>> state = opt.init(jnp.ones(1))
      >>> u, _ = opt.update(jnp.zeros(1), state, jnp.ones(1))
      >>> float(u[0])   # zero gradient: only the decay, -lr * wd * p
      -0.05...
    """
    fn = "adamw"
    _check_lr(fn, learning_rate)
    b1 = _momentum_from_schedule(learning_rate, b1, "b1")
    for k, v in (("b1", b1), ("b2", b2)):
        _check_hparam(fn, k, v, low=0.0, high=1.0, allow_high=False)
    _check_hparam(fn, "eps", eps, low=0.0)
    _check_hparam(fn, "eps_root", eps_root, low=0.0)
    _check_hparam(fn, "weight_decay", weight_decay, low=0.0)
    hp = _common(fn, learning_rate, None, max_grad_norm)
    hp.update(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay)

    def base(**kw):
        clip = kw.pop("max_grad_norm", None)
        tx = optax.adamw(mask=mask, nesterov=nesterov, mu_dtype=mu_dtype, **kw)
        return tx if clip is None else optax.chain(optax.clip_by_global_norm(clip), tx)

    return _inject(fn, base, hp)


def accumulate_gradients(optimizer: optax.GradientTransformation, every_k: int,
                         ) -> optax.GradientTransformationExtraArgs:
    """Gradient accumulation over ``every_k`` micro-batches (``optax.MultiSteps``).

    The wrapped optimizer is applied once every ``every_k`` calls, to the mean of the
    accumulated gradients; the other calls return zero updates. Its schedules therefore count
    *optimizer updates*, not micro-batches: ``warmup_steps=100`` with ``every_k=4`` warms up over
    400 micro-batches (as ``gradient_accumulation_steps`` in HF ``Trainer``). :func:`current_lr`
    and the ``lr`` metric report the rate of the next real update.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.accumulate_gradients(jaxlr.sgd(1.0), every_k=2)
      >>> state = opt.init(jnp.zeros(1))
      >>> u, state = opt.update(jnp.ones(1), state)
      >>> float(u[0])
      0.0
      >>> u, state = opt.update(jnp.full(1, 3.0), state)
      >>> float(u[0])    # -lr * mean(1, 3)
      -2.0
    """
    check_steps("accumulate_gradients", every_k=every_k, minimum=1)
    tx = optax.MultiSteps(optimizer, every_k_schedule=int(every_k)).gradient_transformation()

    def init_fn(params):
        with jax.numpy_dtype_promotion("standard"):  # optax.MultiSteps is not strict-clean
            return tx.init(params)

    def update_fn(updates, state, params=None, **extra_args):
        with jax.numpy_dtype_promotion("standard"):
            return tx.update(updates, state, params, **extra_args)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# --------------------------------------------------------------------------------------------
# Reading and replacing hyperparameters


def _is_train_state(x: Any) -> bool:
    """A :class:`jaxlr.TrainState` (or any state with ``opt_state`` and ``plateau``), recognised
    by its fields: the optimizer layer sits below the engine and does not import it."""
    return hasattr(x, "opt_state") and hasattr(x, "params") and hasattr(x, "plateau")


def _is_hyper(x: Any) -> bool:
    return isinstance(x, HyperState)


def _is_plateau(x: Any) -> bool:
    fields = getattr(type(x), "_fields", None)
    return (fields is not None and type(x).__name__ == "PlateauState" and "scale" in fields)


def _find(opt_state: Any, pred: Callable[[Any], bool]) -> list[Any]:
    nodes = jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: pred(x) or x is None)
    return [n for n in nodes if pred(n)]


def _hyper_states(fn: str, opt_state: Any) -> list[HyperState]:
    found = _find(opt_state, _is_hyper)
    if not found:
        fail(fn, "`opt_state` contains no jaxlr optimizer state (HyperState); got a "
             f"{type(opt_state).__name__}.", hint="Build the optimizer with jaxlr.adam, "
             "jaxlr.sgd, ... or wrap an optax factory with jaxlr.optim.inject_hyperparams.",
             error=TypeError)
    return found


def hyperparams(opt_state: Any) -> dict[str, Any]:
    """The hyperparameters in ``opt_state``: stored values and the ones used by the next update.

    Returns a dict name -> value at the next update's schedule step (float32 arrays; a batched
    state gives batched values). A stored schedule is evaluated; the stored schedule itself is
    available as ``opt_state.hyperparams``. ``learning_rate`` includes every reduce-on-plateau
    scale found in the state, as :func:`current_lr` (a :class:`jaxlr.TrainState` is accepted
    too). If a chain holds several jaxlr optimizers, the first one (in tree order) is reported.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> state = jaxlr.adam(1e-3, b1=0.8).init(jnp.zeros(2))
      >>> {k: float(v) for k, v in sorted(jaxlr.hyperparams(state).items())}
      {'b1': 0.8..., 'b2': 0.999..., 'eps': 1e-08, 'eps_root': 0.0, 'learning_rate': 0.001...}
    """
    inner = opt_state.opt_state if _is_train_state(opt_state) else opt_state
    hs = _hyper_states("hyperparams", inner)[0]
    out = {k: _value_at(v, hs) for k, v in hs.hyperparams.items()}
    out["learning_rate"] = current_lr(opt_state)
    return out


def _value_at(value: Any, hs: HyperState) -> jax.Array:
    step = jnp.where(hs.schedule_step >= 0, hs.schedule_step, hs.count)
    if callable(value):
        if jnp.ndim(step) == 0:
            return _evaluate(value, step)
        # batched state (population): evaluate lane by lane
        return jax.vmap(_evaluate)(value, step)
    return jnp.asarray(value, _F32)


def current_lr(opt_state: Any) -> jax.Array:
    """The learning rate the next update will use (schedule value x reduce-on-plateau scale).

    Works on the state of any jaxlr optimizer, on optax chains containing one (clipping,
    masking, ``accumulate_gradients``, a reduce-on-plateau adapter whose state is a
    ``PlateauState``: its ``scale`` multiplies the rate), on a batched (population) state, and
    on a :class:`jaxlr.TrainState` (which adds the scale of ``fit``'s plateau controller).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> import optax
      >>> opt = optax.chain(optax.clip_by_global_norm(1.0), jaxlr.sgd(0.5))
      >>> float(jaxlr.current_lr(opt.init(jnp.zeros(2))))
      0.5
    """
    extra = jnp.ones([], _F32)
    if _is_train_state(opt_state):
        if opt_state.plateau is not None:
            extra = jnp.asarray(opt_state.plateau.scale, _F32)
        opt_state = opt_state.opt_state
    hs = _hyper_states("current_lr", opt_state)[0]
    lr = _value_at(hs.hyperparams["learning_rate"], hs) * extra
    for p in _find(opt_state, _is_plateau):
        lr = lr * jnp.asarray(p.scale, _F32)
    return lr


def set_hyperparams(opt_state: Any, **new: Any) -> Any:
    """Returns ``opt_state`` with hyperparameters replaced (no recompilation of a jitted step).

    A number or array replaces a number (same shape: a batched state takes one value per lane
    or a scalar broadcast to all lanes); a schedule replaces a schedule of the same structure
    (e.g. ``jaxlr.warmup_cosine`` with other values). Values are stored as float32 (int32 for
    integer schedule fields). Every jaxlr optimizer state found in the tree is updated.

    Raises:
      ValueError: unknown name, or a value whose structure differs from the stored one.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> state = jaxlr.sgd(0.1, momentum=0.9).init(jnp.zeros(2))
      >>> state = jaxlr.set_hyperparams(state, learning_rate=0.3, momentum=0.5)
      >>> float(jaxlr.current_lr(state))
      0.3...
    """
    fn = "set_hyperparams"
    states = _hyper_states(fn, opt_state)
    known = set(states[0].hyperparams)
    for name in new:
        if name not in known:
            fail(fn, f"unknown hyperparameter {shorten(name)}; this optimizer has "
                 f"{', '.join(sorted(known))}.", hint="Options that are not hyperparameters "
                 "(nesterov, centered, mask, ...) are fixed when the optimizer is built.")

    def replace(hs: Any) -> Any:
        if not _is_hyper(hs):
            return hs
        hp = dict(hs.hyperparams)
        for name, value in new.items():
            old = hp[name]
            if _is_pytree_schedule(old) or _is_pytree_schedule(value):
                if (jax.tree_util.tree_structure(old) != jax.tree_util.tree_structure(value)):
                    fail(fn, f"`{name}` must have the structure of the stored value to avoid "
                         f"recompiling; stored {shorten(old)}, got {name}={shorten(value)}.",
                         hint="Rebuild the optimizer (and its state) to change the kind of "
                              "schedule.")
                hp[name] = jax.tree_util.tree_map(
                    lambda o, v: jnp.broadcast_to(jnp.asarray(v, o.dtype), o.shape), old, value)
            else:
                _check_hparam(fn, name, value)
                v = jnp.asarray(value, _F32)
                try:
                    hp[name] = jnp.broadcast_to(v, jnp.shape(old))
                except ValueError:
                    fail(fn, f"`{name}` must be a scalar or have the stored shape "
                         f"{tuple(jnp.shape(old))}; got shape {tuple(jnp.shape(v))}.")
        return hs._replace(hyperparams=hp)

    return jax.tree_util.tree_map(replace, opt_state, is_leaf=_is_hyper)


def set_schedule_step(opt_state: Any, step: jax.Array) -> Any:
    """Makes schedules evaluate at ``step`` instead of the update count (``-1``: count)."""
    step = jnp.asarray(step, _I32)

    def replace(hs: Any) -> Any:
        if not _is_hyper(hs):
            return hs
        return hs._replace(schedule_step=jnp.broadcast_to(step, jnp.shape(hs.schedule_step)))

    return jax.tree_util.tree_map(replace, opt_state, is_leaf=_is_hyper)


def has_hyperparams(opt_state: Any) -> bool:
    """True when ``opt_state`` holds a jaxlr optimizer state (hyperparameters as data)."""
    return bool(_find(opt_state, _is_hyper))


has_hyper_state = has_hyperparams


def learning_rate_schedule(opt_state: Any) -> Any:
    """The stored learning rate (a number or a schedule pytree) of the first jaxlr optimizer."""
    return _hyper_states("learning_rate_schedule", opt_state)[0].hyperparams["learning_rate"]


# --------------------------------------------------------------------------------------------


def scale_lr(base_lr: Any, batch_size: int, base_batch_size: int, rule: str = "linear",
             ) -> jax.Array:
    r"""Scales a learning rate tuned at ``base_batch_size`` to ``batch_size``.

    * ``"linear"`` (Goyal et al. 2017): :math:`\eta = \eta_0 \cdot B / B_0`. Large scaled rates
      need a gradual warm-up (Goyal et al. use 5 epochs of linear warm-up from :math:`\eta_0`),
      e.g. ``jaxlr.warmup_cosine(scale_lr(...), warmup_steps=5 * steps_per_epoch, ...)``.
    * ``"sqrt"`` (Krizhevsky 2014; Hoffer et al. 2017): :math:`\eta = \eta_0 \sqrt{B / B_0}`,
      usually better for adaptive optimizers such as Adam.

    References:
      Goyal et al., *Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour*, 2017.
      Krizhevsky, *One weird trick for parallelizing convolutional neural networks*, 2014.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> float(jaxlr.scale_lr(0.1, batch_size=1024, base_batch_size=256))
      0.4
      >>> float(jaxlr.scale_lr(1e-3, batch_size=1024, base_batch_size=256, rule="sqrt"))
      0.002
    """
    fn = "scale_lr"
    check_positive(fn, base_lr=base_lr)
    check_steps(fn, batch_size=batch_size, base_batch_size=base_batch_size, minimum=1)
    check_choice(fn, "rule", rule, ("linear", "sqrt"))
    ratio = jnp.asarray(batch_size, _F32) / jnp.asarray(base_batch_size, _F32)
    factor = ratio if rule == "linear" else jnp.sqrt(ratio)
    return jnp.asarray(base_lr, _F32) * factor

