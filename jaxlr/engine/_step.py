"""The train state and the one train step every training run in jaxlr is made of.

A :class:`TrainState` is a pytree (``step``, ``params``, ``opt_state``, optional ``model_state``,
``key`` and controller states), so it can be passed through ``jit``, carried by ``lax.scan``,
stacked for ``vmap`` (a population) and checkpointed. :func:`train_step` is the step of the
training kernel (:mod:`jaxlr.engine._run`): ``fit``, every finder candidate and every sweep trial
run exactly this function. :func:`train_step_fn` / :func:`make_train_step` expose it for your own
loops.

The loss convention is documented in :mod:`jaxlr.engine._problem` (``loss_fn(params, batch)``,
``loss_fn(params, model_state, batch) -> (loss, new_model_state)``, ``has_aux``, a ``key``
keyword for per-update randomness: ``fold_in(state.key, state.step)``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlr import optim as _opt
from jaxlr.controllers import divergence_update
from jaxlr._utils._static import ByValue
from jaxlr._utils._validation import fail, shorten
from jaxlr.engine._problem import Model, _accepts_key, _check_params

__all__ = [
    "TrainState",
    "train_step",
    "train_step_fn",
    "make_train_step",
    "eval_step_fn",
    "make_eval_step",
    "STEP_METRICS",
]

_F32 = np.dtype("float32")
_I32 = np.dtype("int32")

#: Metrics every train step returns (float32 scalars; ``finite`` is a bool).
STEP_METRICS = ("loss", "lr", "grad_norm", "update_norm", "finite")


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["step", "params", "opt_state", "model_state", "key", "plateau",
                 "early_stopping", "divergence"],
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
      plateau: the state of a reduce-on-plateau controller (its ``scale`` multiplies every
        update) or ``None``.
      early_stopping: the state of an early-stopping controller or ``None``; once it has
        stopped, the train step leaves the state unchanged.
      divergence: the state of a divergence controller (:func:`jaxlr.controllers.divergence`)
        or ``None``; once diverged, the train step leaves the state unchanged.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    model_state: Any = None
    key: Any = None
    plateau: Any = None
    early_stopping: Any = None
    divergence: Any = None

    @classmethod
    def create(cls, params: Any, optimizer: optax.GradientTransformation, *,
               key: jax.Array | None = None, model_state: Any = None, plateau: Any = None,
               early_stopping: Any = None, divergence: Any = None) -> "TrainState":
        """Initial state: ``optimizer.init(params)``, step 0.

        Args:
          params: pytree of floating-point arrays.
          optimizer: any optax gradient transformation (jaxlr optimizers keep their
            hyperparameters in the state).
          key: optional PRNG key for per-step randomness.
          model_state: optional non-trained variables (e.g. Flax ``batch_stats``).
          plateau: optional reduce-on-plateau controller (``jaxlr.controllers.reduce_on_plateau``); its
            initial state is stored.
          early_stopping: optional early-stopping controller (``jaxlr.early_stopping``).
          divergence: optional divergence controller (``jaxlr.controllers.divergence``).

        Examples:
          >>> import jax, jax.numpy as jnp, jaxlr
          >>> state = jaxlr.TrainState.create({"w": jnp.zeros(2)}, jaxlr.adam(1e-3))
          >>> int(state.step), float(jaxlr.current_lr(state))
          (0, 0.001...)
        """
        fn = "TrainState.create"
        check_optimizer(fn, optimizer)
        _check_params(fn, params)
        if key is not None and not isinstance(key, jax.Array):
            fail(fn, f"`key` must be a PRNG key (jax.random.key(0)); got key={shorten(key)}.",
                 error=TypeError)
        return cls(step=jnp.zeros([], _I32), params=params, opt_state=optimizer.init(params),
                   model_state=model_state, key=key,
                   plateau=_ctrl_init(fn, "plateau", plateau),
                   early_stopping=_ctrl_init(fn, "early_stopping", early_stopping),
                   divergence=_ctrl_init(fn, "divergence", divergence))

    def replace(self, **changes: Any) -> "TrainState":
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)


def check_optimizer(fn: str, optimizer: Any) -> None:
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        fail(fn, f"`optimizer` must be an optax GradientTransformation; got "
             f"optimizer={shorten(optimizer)}.", hint="e.g. jaxlr.adam(1e-3).", error=TypeError)


def check_controller(fn: str, name: str, ctrl: Any) -> Any:
    """A controller of the right kind (``plateau``, ``early_stopping``, ``divergence``)."""
    if ctrl is None:
        return None
    builder = {"plateau": "reduce_on_plateau", "early_stopping": "early_stopping",
               "divergence": "controllers.divergence"}[name]
    if not (hasattr(ctrl, "init") and hasattr(ctrl, "update")):
        fail(fn, f"`{name}` must be a jaxlr controller (with init/update); got "
             f"{name}={shorten(ctrl)}.", hint=f"e.g. {name}=jaxlr.{builder}(...).",
             error=TypeError)
    got = getattr(ctrl, "kind", name)
    if got != name:
        fail(fn, f"`{name}` must be a {name} controller; got a {got!r} controller.",
             hint=f"{name}=jaxlr.{builder}(...).")
    return ctrl


def _ctrl_init(fn: str, name: str, ctrl: Any) -> Any:
    ctrl = check_controller(fn, name, ctrl)
    return None if ctrl is None else ctrl.init()


# --------------------------------------------------------------------------------------------
# The step.


def _plateau_scale(state: TrainState) -> jax.Array | None:
    if state.plateau is None:
        return None
    return jnp.asarray(state.plateau.scale, _F32)


def _lr_metric(state: TrainState, scale: jax.Array | None) -> jax.Array:
    if not _opt.has_hyperparams(state.opt_state):
        return jnp.full([], jnp.nan, _F32)
    lr = _opt.current_lr(state.opt_state)
    return lr if scale is None else lr * scale


def step_key(state: TrainState) -> jax.Array | None:
    """The PRNG key of the next update: ``fold_in(state.key, state.step)``."""
    return None if state.key is None else jax.random.fold_in(state.key, state.step)


def train_step(model: Model, update: Callable[..., Any], state: TrainState, batch: Any, *,
               freeze: bool = True, extra_args: bool = False,
               ) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimizer update of one run: THE step of every training run in jaxlr.

    ``update`` is the optimizer's ``update`` function (its hyperparameters, for jaxlr
    optimizers, live in ``state.opt_state``). Transformations with extra arguments
    (``optax.GradientTransformationExtraArgs``, e.g. natural gradient, a plateau adapter) receive
    ``batch=`` and ``value=`` (the batch loss).

    An update is skipped when the loss or the gradient is not finite, when the early-stopping
    controller has stopped, or when the divergence controller has flagged the run: with
    ``freeze=True`` the state is then returned unchanged (a ``lax.cond``: one run updates its
    buffers in place; under ``vmap`` it becomes a select per lane, so each lane freezes on its
    own and never changes another lane). ``freeze=False``
    applies every update (a run whose record after a bad update is discarded anyway).

    Returns ``(state, metrics)``: ``loss`` (before the update), ``lr`` (the rate this update
    used, schedule value x plateau scale; NaN for optimizers that do not keep it in their
    state), ``grad_norm``, ``update_norm``, ``finite`` (bool), with a divergence controller
    ``smoothed`` and ``diverged``, plus the entries of a dict ``aux``.
    """
    key = step_key(state) if model.takes_key else None
    if model.takes_key and state.key is None:
        fail("train_step", "`loss_fn` takes a `key` argument but the TrainState has key=None.",
             hint="Give the run a key (fit(key=...), TrainState.create(..., key=...)).",
             error=TypeError)

    def f(p):
        loss, ms, aux = model.loss(p, state.model_state, batch, key)
        return loss, (ms, aux)

    (loss, (ms, aux)), grads = jax.value_and_grad(f, has_aux=True)(state.params)
    scale = _plateau_scale(state)
    lr = _lr_metric(state, scale)
    grad_norm = optax.tree.norm(grads).astype(_F32)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    metrics = {"loss": loss, "lr": lr, "grad_norm": grad_norm}
    go = finite
    divergence = state.divergence
    if divergence is not None:
        divergence = divergence_update(divergence, loss)
        metrics["smoothed"] = divergence.smoothed
        metrics["diverged"] = divergence.diverged
        go = go & ~divergence.diverged
    stopped = getattr(state.early_stopping, "stop", None)
    if stopped is not None:
        go = go & ~stopped

    def apply(st: TrainState) -> tuple[TrainState, jax.Array]:
        kw = {"batch": batch, "value": loss} if extra_args else {}
        updates, opt_state = update(grads, st.opt_state, st.params, **kw)
        if scale is not None:
            updates = jax.tree_util.tree_map(lambda u: u * scale.astype(u.dtype), updates)
        params = optax.apply_updates(st.params, updates)
        params = jax.tree_util.tree_map(lambda new, old: new.astype(old.dtype), params,
                                        st.params)
        new = st.replace(step=optax.safe_increment(st.step), params=params,
                         opt_state=opt_state, model_state=ms)
        return new, optax.tree.norm(updates).astype(_F32)

    if freeze:
        # one run: a branch (the frozen state is the input, the carried buffers are updated in
        # place); under vmap (a population) JAX turns it into a select per lane
        new, update_norm = jax.lax.cond(go, apply, lambda st: (st, jnp.zeros([], _F32)), state)
    else:
        new, update_norm = apply(state)
    if divergence is not None:
        new = new.replace(divergence=divergence)
    metrics.update(update_norm=update_norm, finite=finite)
    metrics.update(aux)
    return new, metrics


def is_extra_args(optimizer: Any) -> bool:
    return isinstance(optimizer, optax.GradientTransformationExtraArgs)


# --------------------------------------------------------------------------------------------
# Public step builders for your own loops.


def _model_for(loss_fn: Callable[..., Any], has_aux: bool, with_model_state: bool) -> Model:
    return Model(loss_fn=loss_fn, has_aux=bool(has_aux), with_model_state=with_model_state,
                 takes_key=_accepts_key(loss_fn))


@dataclasses.dataclass(frozen=True, eq=False)
class _TrainStep(ByValue):
    """The pure step as a callable compared by value (compiled programs are reused)."""

    loss_fn: Callable[..., Any]
    optimizer: optax.GradientTransformation
    has_aux: bool
    skip_nonfinite: bool

    def __jaxlr_value_key__(self) -> Any:
        return (self.loss_fn, self.optimizer.update, self.has_aux, self.skip_nonfinite)


    def __call__(self, state: TrainState, batch: Any) -> tuple[TrainState, dict[str, jax.Array]]:
        if not isinstance(state, TrainState):
            fail("train_step", f"`state` must be a jaxlr.TrainState; got "
                 f"{type(state).__name__}.", hint="Create it with "
                 "jaxlr.TrainState.create(params, optimizer).", error=TypeError)
        model = _model_for(self.loss_fn, self.has_aux, state.model_state is not None)
        return train_step(model, self.optimizer.update, state, batch,
                          freeze=self.skip_nonfinite, extra_args=is_extra_args(self.optimizer))


def train_step_fn(loss_fn: Callable[..., Any], optimizer: optax.GradientTransformation, *,
                  has_aux: bool = False, skip_nonfinite: bool = True,
                  ) -> Callable[[TrainState, Any], tuple[TrainState, dict[str, jax.Array]]]:
    """The pure (un-jitted) train step ``step(state, batch) -> (state, metrics)``.

    This is :func:`train_step`, the step every jaxlr training run is made of, bound to a loss
    and an optimizer. Usable inside ``jit``, ``lax.scan`` and ``vmap`` (a batched
    :class:`TrainState` trains a population; lanes are independent).

    Metrics (float32 scalars): ``loss`` (before the update), ``lr`` (the rate this update used:
    schedule value x plateau scales), ``grad_norm`` (global norm of the raw gradient),
    ``update_norm`` (global norm of the applied update), ``finite`` (bool: loss and gradient
    finite), plus the entries of a dict ``aux``.

    Args:
      loss_fn: see :mod:`jaxlr.engine` for the calling convention.
      optimizer: an optax gradient transformation (the one the state was created with).
      has_aux: ``loss_fn`` returns ``(loss, aux)``.
      skip_nonfinite: when the loss or the gradient is not finite, return the input state
        unchanged (``step`` included) and ``finite=False``, so a diverged lane of a population
        freezes and never poisons the others.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> loss_fn = lambda p, b: jnp.mean((p["w"] * b - 1.0) ** 2)
      >>> step = jaxlr.engine.train_step_fn(loss_fn, jaxlr.sgd(0.1))
      >>> state = jaxlr.TrainState.create({"w": jnp.zeros(())}, jaxlr.sgd(0.1))
      >>> state, m = jax.jit(step)(state, jnp.ones(4))
      >>> float(m["loss"]), float(state.params["w"])
      (1.0, 0.2...)
    """
    if not callable(loss_fn):
        fail("train_step", f"`loss_fn` must be callable; got loss_fn={shorten(loss_fn)}.",
             error=TypeError)
    check_optimizer("train_step", optimizer)
    return _TrainStep(loss_fn, optimizer, bool(has_aux), bool(skip_nonfinite))


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
    def run_step(state: TrainState, batch: Any):
        return jitted(state, batch)

    run_step.lower = jitted.lower  # type: ignore[attr-defined]
    run_step._jitted = jitted  # type: ignore[attr-defined]
    return run_step


# --------------------------------------------------------------------------------------------
# Evaluation.


def evaluate(model: Model, state: TrainState, batches: list[Any]) -> dict[str, jax.Array]:
    """Validation metrics of ``state`` on ``batches`` (weighted by batch size), float32.

    Schedule-free optimizers are evaluated at their averaged point
    (:func:`jaxlr.optim.eval_params`).
    """
    params = _opt.eval_params(state.opt_state, state.params)
    parts = [(model.evaluate(params, state.model_state, b), _batch_len(b)) for b in batches]
    if len(parts) == 1:
        return {k: v.astype(_F32) for k, v in parts[0][0].items()}
    total = float(sum(n for _, n in parts))
    return {k: (sum(m[k].astype(_F32) * (n / total) for m, n in parts)).astype(_F32)
            for k in parts[0][0]}


def _batch_len(batch: Any) -> int:
    leaves = jax.tree_util.tree_leaves(batch)
    return int(np.shape(leaves[0])[0]) if leaves and np.ndim(leaves[0]) else 1


@dataclasses.dataclass(frozen=True, eq=False)
class _EvalStep(ByValue):
    metric_fn: Callable[..., Any]
    has_aux: bool

    def __jaxlr_value_key__(self) -> Any:
        return (self.metric_fn, self.has_aux)


    def __call__(self, state: TrainState, batch: Any) -> dict[str, jax.Array]:
        with_ms = state.model_state is not None
        if self.has_aux:
            model = Model(loss_fn=self.metric_fn, has_aux=True, with_model_state=with_ms)
        else:
            model = Model(loss_fn=self.metric_fn, eval_fn=self.metric_fn,
                          with_model_state=with_ms)
        return model.evaluate(state.params, state.model_state, batch)


def eval_step_fn(metric_fn: Callable[..., Any], *, has_aux: bool = False,
                 ) -> Callable[[TrainState, Any], dict[str, jax.Array]]:
    """The pure evaluation step ``(state, batch) -> metrics`` (a dict of float32 scalars).

    ``metric_fn`` follows the loss convention (so a loss function works as is) and may also
    return a dict of scalars (e.g. ``{"loss": ..., "accuracy": ...}``); a scalar is reported as
    ``"loss"``. With a model_state, a ``(value, new_model_state)`` output is accepted and the new
    model state ignored. No ``key`` is passed (evaluation is deterministic).
    """
    if not callable(metric_fn):
        fail("eval_step", f"`metric_fn` must be callable; got metric_fn={shorten(metric_fn)}.",
             error=TypeError)
    return _EvalStep(metric_fn, bool(has_aux))


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
