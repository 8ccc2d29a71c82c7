"""Train state and compiled train/eval steps.

A :class:`TrainState` is a pytree (``step``, ``params``, ``opt_state``, optional ``model_state``,
``key`` and controller states), so it can be passed through ``jit``, carried by ``lax.scan``,
stacked for ``vmap`` (a population) and checkpointed. :func:`train_step_fn` is the pure step
(usable inside ``scan``/``vmap``); :func:`make_train_step` is the same step jitted with buffer
donation.

Loss-function convention:

* ``loss_fn(params, batch) -> loss`` (a scalar), or ``-> (loss, aux)`` with ``has_aux=True``;
  a dict ``aux`` of scalars is merged into the step metrics.
* If the state has a ``model_state`` (e.g. Flax ``batch_stats``):
  ``loss_fn(params, model_state, batch) -> (loss, new_model_state)``, or
  ``-> (loss, (new_model_state, aux))`` with ``has_aux=True``.
* If ``loss_fn`` has a keyword parameter named ``key``, it receives a per-step PRNG key
  ``jax.random.fold_in(state.key, state.step)`` (dropout, noise); resuming is then bit-exact.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlr.optim import _optimizers as _opt
from jaxlr._utils._validation import fail

__all__ = [
    "TrainState",
    "train_step_fn",
    "make_train_step",
    "eval_step_fn",
    "make_eval_step",
]

_F32 = np.dtype("float32")
_I32 = np.dtype("int32")

#: Metrics every train step returns (float32 scalars; ``finite`` is a bool).
STEP_METRICS = ("loss", "lr", "grad_norm", "update_norm", "finite")


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["step", "params", "opt_state", "model_state", "key", "plateau",
                 "early_stopping"],
    meta_fields=[])
@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything a training run carries from step to step (a pytree).

    Attributes:
      step: shape=(), int32; number of train steps (micro-batches) taken.
      params: the trained parameters (a pytree of floating-point arrays).
      opt_state: the optimizer state (hyperparameters included, see :func:`jaxlr.hyperparams`).
      model_state: non-trained model variables (e.g. Flax ``batch_stats``) or ``None``.
      key: a PRNG key for per-step randomness (see the loss convention) or ``None``.
      plateau: the state of ``fit``'s reduce-on-plateau controller (its ``scale`` multiplies
        every update) or ``None``.
      early_stopping: the state of ``fit``'s early-stopping controller or ``None``.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    model_state: Any = None
    key: Any = None
    plateau: Any = None
    early_stopping: Any = None

    @classmethod
    def create(cls, params: Any, optimizer: optax.GradientTransformation, *,
               key: jax.Array | None = None, model_state: Any = None, plateau: Any = None,
               early_stopping: Any = None) -> "TrainState":
        """Initial state: ``optimizer.init(params)``, step 0.

        Args:
          params: pytree of floating-point arrays.
          optimizer: any optax gradient transformation (jaxlr optimizers keep their
            hyperparameters in the state).
          key: optional PRNG key for per-step randomness.
          model_state: optional non-trained variables (e.g. Flax ``batch_stats``).
          plateau: optional reduce-on-plateau controller (``jaxlr.reduce_on_plateau``); its
            initial state is stored.
          early_stopping: optional early-stopping controller (``jaxlr.early_stopping``).

        Examples:
          >>> import jax, jax.numpy as jnp, jaxlr
          >>> state = jaxlr.TrainState.create({"w": jnp.zeros(2)}, jaxlr.adam(1e-3))
          >>> int(state.step), float(jaxlr.current_lr(state))
          (0, 0.001...)
        """
        fn = "TrainState.create"
        if not hasattr(optimizer, "init") or not hasattr(optimizer, "update"):
            fail(fn, f"`optimizer` must be an optax GradientTransformation; got "
                 f"optimizer={optimizer!r}.", hint="e.g. jaxlr.adam(1e-3).", error=TypeError)
        _opt.check_params(fn, params)
        if key is not None and not isinstance(key, jax.Array):
            fail(fn, f"`key` must be a PRNG key (jax.random.key(0)); got key={key!r}.",
                 error=TypeError)
        return cls(step=jnp.zeros([], _I32), params=params, opt_state=optimizer.init(params),
                   model_state=model_state, key=key,
                   plateau=None if plateau is None else _controller(fn, "plateau",
                                                                    plateau).init(),
                   early_stopping=None if early_stopping is None else _controller(
                       fn, "early_stopping", early_stopping).init())

    def replace(self, **changes: Any) -> "TrainState":
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)


def _controller(fn: str, name: str, ctrl: Any) -> Any:
    if not (hasattr(ctrl, "init") and hasattr(ctrl, "update")):
        fail(fn, f"`{name}` must be a jaxlr controller (with init/update); got {name}={ctrl!r}.",
             hint=f"e.g. {name}=jaxlr.{'reduce_on_plateau' if name == 'plateau' else name}(...).",
             error=TypeError)
    return ctrl


def _accepts_key(fn: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    p = sig.parameters.get("key")
    return p is not None and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)


def _split_output(fn: str, out: Any, has_aux: bool, with_model_state: bool):
    """``(loss, new_model_state, aux)`` from a loss function's output."""
    if with_model_state:
        if not (isinstance(out, tuple) and len(out) == 2):
            fail(fn, "with a model_state, `loss_fn(params, model_state, batch)` must return "
                 f"(loss, new_model_state); got {type(out).__name__}.", error=TypeError)
        loss, rest = out
        if has_aux:
            if not (isinstance(rest, tuple) and len(rest) == 2):
                fail(fn, "with a model_state and has_aux=True, `loss_fn` must return "
                     "(loss, (new_model_state, aux)).", error=TypeError)
            ms, aux = rest
        else:
            ms, aux = rest, None
        return loss, ms, aux
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            fail(fn, "with has_aux=True, `loss_fn` must return (loss, aux); got "
                 f"{type(out).__name__}.", error=TypeError)
        return out[0], None, out[1]
    if isinstance(out, (tuple, list)):
        fail(fn, f"`loss_fn` returned a {type(out).__name__} of {len(out)} items; a scalar "
             "loss is expected.", hint="If it returns (loss, aux), pass has_aux=True.",
             error=TypeError)
    return out, None, None


def _check_loss(fn: str, loss: Any) -> jax.Array:
    shape = jnp.shape(loss)
    if shape != ():
        fail(fn, f"`loss_fn` must return a scalar loss; got an array of shape {shape}.",
             hint="Reduce it, e.g. with jnp.mean(...).")
    dtype = jnp.result_type(loss)
    if not jnp.issubdtype(dtype, jnp.floating):
        fail(fn, f"`loss_fn` must return a floating-point scalar; got dtype {dtype}.",
             error=TypeError)
    return loss


def _call_loss(fn: str, loss_fn: Callable[..., Any], has_aux: bool, takes_key: bool,
               state: TrainState, params: Any, batch: Any):
    kwargs = {}
    if takes_key:
        if state.key is None:
            fail(fn, "`loss_fn` takes a `key` argument but the TrainState has key=None.",
                 hint="Create the state with TrainState.create(..., key=jax.random.key(0)).",
                 error=TypeError)
        kwargs["key"] = jax.random.fold_in(state.key, state.step)
    if state.model_state is None:
        out = loss_fn(params, batch, **kwargs)
    else:
        out = loss_fn(params, state.model_state, batch, **kwargs)
    loss, ms, aux = _split_output(fn, out, has_aux, state.model_state is not None)
    return _check_loss(fn, loss), ms, aux


def _aux_metrics(aux: Any) -> dict[str, jax.Array]:
    if aux is None:
        return {}
    if isinstance(aux, dict) and all(jnp.shape(v) == () for v in aux.values()):
        return {str(k): v for k, v in aux.items()}
    return {"aux": aux}


def _plateau_scale(state: TrainState) -> jax.Array | None:
    if state.plateau is None:
        return None
    return jnp.asarray(state.plateau.scale, _F32)


def train_step_fn(loss_fn: Callable[..., Any], optimizer: optax.GradientTransformation, *,
                  has_aux: bool = False, skip_nonfinite: bool = True,
                  ) -> Callable[[TrainState, Any], tuple[TrainState, dict[str, jax.Array]]]:
    """The pure (un-jitted) train step ``step(state, batch) -> (state, metrics)``.

    Usable inside ``jit``, ``lax.scan`` and ``vmap`` (a batched :class:`TrainState` trains a
    population; lanes are independent). :func:`make_train_step` is this step jitted with buffer
    donation.

    Metrics (float32 scalars): ``loss`` (before the update), ``lr`` (the rate this update used:
    schedule value x plateau scales), ``grad_norm`` (global norm of the raw gradient),
    ``update_norm`` (global norm of the applied update), ``finite`` (bool: loss and gradient
    finite), plus the entries of a dict ``aux``.

    Args:
      loss_fn: see the module docstring for the calling convention.
      optimizer: an optax gradient transformation (the one the state was created with).
      has_aux: ``loss_fn`` returns ``(loss, aux)``.
      skip_nonfinite: when the loss or the gradient is not finite, return the input state
        unchanged (``step`` included) and ``finite=False``, so a diverged lane of a population
        freezes and never poisons the others.

    A state whose early-stopping controller has triggered (``state.early_stopping.stop``) is
    returned unchanged too: in a vmapped population each lane stops (freezes) on its own.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> loss_fn = lambda p, b: jnp.mean((p["w"] * b - 1.0) ** 2)
      >>> step = jaxlr.engine.train_step_fn(loss_fn, jaxlr.sgd(0.1))
      >>> state = jaxlr.TrainState.create({"w": jnp.zeros(())}, jaxlr.sgd(0.1))
      >>> state, m = jax.jit(step)(state, jnp.ones(4))
      >>> float(m["loss"]), float(state.params["w"])
      (1.0, 0.2...)
    """
    _check_callable("train_step", loss_fn, optimizer)
    return _TrainStep(loss_fn, optimizer, bool(has_aux), bool(skip_nonfinite))


@dataclasses.dataclass(frozen=True)
class _TrainStep:
    """The pure step as a hashable callable: equal for equal (loss_fn, optimizer, options), so
    compiled programs taking it as a static argument are reused across ``fit`` calls."""

    loss_fn: Callable[..., Any]
    optimizer: optax.GradientTransformation
    has_aux: bool
    skip_nonfinite: bool

    def __call__(self, state: TrainState, batch: Any) -> tuple[TrainState, dict[str, jax.Array]]:
        fn = "train_step"
        loss_fn, optimizer, has_aux = self.loss_fn, self.optimizer, self.has_aux
        takes_key = _accepts_key(loss_fn)
        if not isinstance(state, TrainState):
            fail(fn, f"`state` must be a jaxlr.TrainState; got {type(state).__name__}.",
                 hint="Create it with jaxlr.TrainState.create(params, optimizer).",
                 error=TypeError)

        def f(p):
            loss, ms, aux = _call_loss(fn, loss_fn, has_aux, takes_key, state, p, batch)
            return loss, (ms, aux)

        (loss, (ms, aux)), grads = jax.value_and_grad(f, has_aux=True)(state.params)
        scale = _plateau_scale(state)
        lr = _opt.current_lr(state.opt_state) if _opt.has_hyper_state(
            state.opt_state) else jnp.full([], jnp.nan, _F32)
        if scale is not None:
            lr = lr * scale
        grad_norm = optax.tree.norm(grads).astype(_F32)
        loss32 = loss.astype(_F32)
        finite = jnp.isfinite(loss32) & jnp.isfinite(grad_norm)

        def apply(st):
            # Optimizers that need the batch (natural gradient) receive it as an extra
            # argument; optax chains forward extra arguments and ignore unknown ones.
            extra = ({"batch": batch}
                     if isinstance(optimizer, optax.GradientTransformationExtraArgs) else {})
            updates, opt_state = optimizer.update(grads, st.opt_state, st.params, **extra)
            if scale is not None:
                updates = jax.tree_util.tree_map(lambda u: u * scale.astype(u.dtype), updates)
            params = optax.apply_updates(st.params, updates)
            params = jax.tree_util.tree_map(lambda new, old: new.astype(old.dtype), params,
                                            st.params)
            new = st.replace(step=optax.safe_increment(st.step), params=params,
                             opt_state=opt_state,
                             model_state=st.model_state if ms is None else ms)
            return new, optax.tree.norm(updates).astype(_F32)

        go = finite if self.skip_nonfinite else None
        stopped = getattr(state.early_stopping, "stop", None)
        if stopped is not None:
            # A lane whose early-stopping controller has triggered is frozen (population
            # training under vmap: each lane stops independently).
            go = ~stopped if go is None else go & ~stopped
        if go is not None:
            # The update runs only for a finite step (lax.cond: no per-leaf select, buffers
            # stay in place); a non-finite or stopped step returns the state unchanged.
            new, update_norm = jax.lax.cond(
                go, apply, lambda st: (st, jnp.zeros([], _F32)), state)
        else:
            new, update_norm = apply(state)
        metrics = {"loss": loss32, "lr": lr, "grad_norm": grad_norm,
                   "update_norm": update_norm, "finite": finite}
        metrics.update(_aux_metrics(aux))
        return new, metrics


def _check_callable(fn: str, loss_fn: Any, optimizer: Any) -> None:
    if not callable(loss_fn):
        fail(fn, f"`loss_fn` must be callable; got loss_fn={loss_fn!r}.", error=TypeError)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        fail(fn, f"`optimizer` must be an optax GradientTransformation; got "
             f"optimizer={optimizer!r}.", hint="e.g. jaxlr.adam(1e-3).", error=TypeError)


def make_train_step(loss_fn: Callable[..., Any], optimizer: optax.GradientTransformation, *,
                    has_aux: bool = False, skip_nonfinite: bool = True, donate: bool = True,
                    ) -> Callable[[TrainState, Any], tuple[TrainState, dict[str, jax.Array]]]:
    """One jitted train step ``(state, batch) -> (state, metrics)`` with buffer donation.

    See :func:`train_step_fn` for the metrics and the loss convention. The input state's
    buffers are donated (reused for the output) unless ``donate=False``: do not use a state
    after passing it in. New hyperparameter values (``jaxlr.set_hyperparams``) and new
    schedule values of the same structure reuse the compiled program.

    For gradient accumulation wrap the optimizer: ``jaxlr.accumulate_gradients(opt, k)``.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> loss_fn = lambda p, b: jnp.mean((p - b) ** 2)
      >>> opt = jaxlr.adam(0.1)
      >>> step = jaxlr.make_train_step(loss_fn, opt)
      >>> state = jaxlr.TrainState.create(jnp.zeros(3), opt)
      >>> state, metrics = step(state, jnp.ones(3))
      >>> sorted(metrics)
      ['finite', 'grad_norm', 'loss', 'lr', 'update_norm']
    """
    step = train_step_fn(loss_fn, optimizer, has_aux=has_aux, skip_nonfinite=skip_nonfinite)
    jitted = jax.jit(step, donate_argnums=(0,) if donate else ())

    @functools.wraps(step)
    def train_step(state: TrainState, batch: Any):
        return jitted(state, batch)

    train_step.lower = jitted.lower  # type: ignore[attr-defined]
    train_step._jitted = jitted  # type: ignore[attr-defined]
    return train_step


def eval_step_fn(metric_fn: Callable[..., Any], *, has_aux: bool = False,
                 ) -> Callable[[TrainState, Any], dict[str, jax.Array]]:
    """The pure evaluation step ``(state, batch) -> metrics`` (a dict of float32 scalars).

    ``metric_fn`` follows the loss convention (so a loss function works as is) and may also
    return a dict of scalars (e.g. ``{"loss": ..., "accuracy": ...}``); a scalar is reported as
    ``"loss"``. With a model_state, a ``(value, new_model_state)`` output is accepted and the new
    model state ignored. No ``key`` is passed (evaluation is deterministic).
    """
    if not callable(metric_fn):
        fail("eval_step", f"`metric_fn` must be callable; got metric_fn={metric_fn!r}.",
             error=TypeError)
    return _EvalStep(metric_fn, bool(has_aux))


@dataclasses.dataclass(frozen=True)
class _EvalStep:
    """The pure evaluation step as a hashable callable (compiled programs are reused)."""

    metric_fn: Callable[..., Any]
    has_aux: bool

    def __call__(self, state: TrainState, batch: Any) -> dict[str, jax.Array]:
        fn = "eval_step"
        metric_fn, has_aux = self.metric_fn, self.has_aux
        if state.model_state is None:
            out = metric_fn(state.params, batch)
        else:
            out = metric_fn(state.params, state.model_state, batch)
            if isinstance(out, tuple) and len(out) == 2 and not has_aux:
                out = out[0]
        if has_aux:
            if state.model_state is not None:
                loss, (_, aux) = out
            else:
                loss, aux = out
            metrics = {"loss": _check_loss(fn, loss)}
            metrics.update(_aux_metrics(aux))
        elif isinstance(out, dict):
            metrics = dict(out)
        else:
            if isinstance(out, (tuple, list)):
                fail(fn, f"`metric_fn` returned a {type(out).__name__}; expected a scalar or a "
                     "dict of scalars.", hint="If it returns (loss, aux), pass has_aux=True.",
                     error=TypeError)
            metrics = {"loss": _check_loss(fn, out)}
        return {k: jnp.asarray(v).astype(_F32) for k, v in metrics.items()}


@functools.partial(jax.jit, static_argnames=("step",))
def _jit_eval(state: TrainState, batch: Any, *, step: _EvalStep) -> dict[str, jax.Array]:
    return step(state, batch)


def make_eval_step(metric_fn: Callable[..., Any], *, has_aux: bool = False,
                   ) -> Callable[[TrainState, Any], dict[str, jax.Array]]:
    """Jitted :func:`eval_step_fn`: ``eval_step(state, batch) -> dict of float32 scalars``.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> ev = jaxlr.make_eval_step(lambda p, b: {"mse": jnp.mean((p - b) ** 2)})
      >>> state = jaxlr.TrainState.create(jnp.zeros(2), jaxlr.sgd(0.1))
      >>> float(ev(state, jnp.ones(2))["mse"])
      1.0
    """
    return jax.jit(eval_step_fn(metric_fn, has_aux=has_aux))
