r"""Natural gradient descent: Fisher / generalised Gauss-Newton preconditioning.

For a model :math:`z = f(\theta, x)` trained with a likelihood loss :math:`L = \frac1N\sum_i
\ell(z_i, y_i)`, the generalised Gauss-Newton matrix

.. math:: G = J^\top H_z J, \qquad J = \partial z / \partial \theta, \quad
          H_z = \nabla^2_z L

equals the Fisher information matrix when :math:`\ell` is the negative log-likelihood of an
exponential family in its natural parameters (softmax cross-entropy: categorical; squared error:
Gaussian). The natural-gradient direction :math:`d = (G + \lambda I)^{-1} \nabla L` is computed
*matrix-free*: :math:`Gv` is one ``jax.jvp`` through the model, one Hessian-vector product of the
output loss and one transposed Jacobian product; the linear system is solved by conjugate gradient
with a fixed number of iterations (a ``fori_loop`` inside the compiled step). The update is
:math:`-\eta_t d` (or :math:`-\eta_t v`, :math:`v \leftarrow \mu v + d`, with momentum).

The optimizer needs the batch in its update (to linearise the model): it is an
``optax.GradientTransformationExtraArgs`` whose ``update(grads, state, params, *, batch)`` takes
the ``(inputs, targets)`` batch keyword-only. All hyperparameters (learning rate or schedule,
damping, momentum, CG iterations, Levenberg-Marquardt factors) live in the state as float32
arrays, as in every jaxlr optimizer (:func:`jaxlr.set_hyperparams`, :func:`jaxlr.current_lr`,
vmap over lanes).

**When to use kfac-jax instead.** `kfac-jax <https://github.com/google-deepmind/kfac-jax>`_
(DeepMind) is the established library for natural-gradient methods at scale: it approximates the
Fisher by Kronecker-factored blocks per layer (K-FAC), amortises inversions over many steps, and
supports multi-device training, but needs its layer-tagging machinery and a loss registered with
its own API. This module is the small, exact, matrix-free alternative: any ``apply_fn``, no
registration, exact Fisher-vector products, sweepable hyperparameters; its cost is
``cg_iters`` extra forward+backward passes per step, so it suits small and medium models (and
studying the method). The diagonal empirical-Fisher variant is cheap but a much cruder
approximation (empirical Fisher: see Kunstner et al. 2019).

References:
  Amari, "Natural gradient works efficiently in learning", Neural Computation 10(2), 1998.
  Martens, "Deep learning via Hessian-free optimization", ICML 2010.
  Martens, "New insights and perspectives on the natural gradient method", JMLR 21, 2020
  (arXiv:1412.1193, 2014).
  Schraudolph, "Fast curvature matrix-vector products for second-order gradient descent",
  Neural Computation 14(7), 2002.
  Kunstner, Balles & Hennig, "Limitations of the empirical Fisher approximation for natural
  gradient descent", NeurIPS 2019.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxlr.optim._optimizers import inject_hyperparams
from jaxlr._utils._validation import check_choice, check_steps, concrete, fail, is_traced, shorten

__all__ = [
    "NaturalGradientState",
    "DiagonalFisherState",
    "natural_gradient",
    "diagonal_natural_gradient",
    "fisher_vector_product",
]

_F32 = np.dtype("float32")
_LOSSES = ("softmax_cross_entropy", "squared_error")

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


# ----------------------------------------------------------------------------------------------
# Output losses (batch means, as jaxlr.tasks' losses)
# ----------------------------------------------------------------------------------------------


def softmax_cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean categorical negative log-likelihood; integer labels ``[N]`` or probabilities
    ``[N, K]``."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    if jnp.ndim(targets) == jnp.ndim(logits):
        per = -jnp.sum(targets.astype(logp.dtype) * logp, axis=-1)
    else:
        idx = jnp.asarray(targets).astype(jnp.int32)[..., None]
        per = -jnp.take_along_axis(logp, idx, axis=-1)[..., 0]
    return jnp.mean(per)


def squared_error(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean squared error over all elements, ``mean((outputs - targets) ** 2)`` (a Gaussian
    likelihood with fixed variance)."""
    return jnp.mean(jnp.square(outputs - jnp.asarray(targets).astype(outputs.dtype)))


def _resolve_loss(fn: str, loss: Any) -> LossFn:
    if callable(loss):
        return loss
    check_choice(fn, "loss", loss, _LOSSES)
    return softmax_cross_entropy if loss == "softmax_cross_entropy" else squared_error


def _default_split(batch: Any) -> tuple[Any, Any]:
    return batch[0], batch[1]


# ----------------------------------------------------------------------------------------------
# Pytree linear algebra
# ----------------------------------------------------------------------------------------------


def _vdot(a: Any, b: Any) -> jax.Array:
    parts = [jnp.vdot(x.astype(_F32), y.astype(_F32))
             for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))]
    return sum(parts, jnp.zeros((), _F32))


def _axpy(alpha: jax.Array, x: Any, y: Any) -> Any:
    """``alpha * x + y`` leafwise, keeping each leaf's dtype."""
    return jax.tree_util.tree_map(lambda a, b: (alpha.astype(a.dtype) * a + b).astype(b.dtype),
                                  x, y)


def _scale(alpha: jax.Array, x: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: alpha.astype(a.dtype) * a, x)


def _cg(matvec: Callable[[Any], Any], b: Any, iters: jax.Array) -> tuple[Any, jax.Array]:
    """Conjugate gradient for ``A x = b`` from ``x = 0``, exactly ``iters`` iterations.

    Divisions are guarded (a converged residual gives zero steps, not NaN). Returns ``x`` and the
    relative residual ``|b - A x| / |b|``.
    """
    zero = jnp.zeros((), _F32)
    x0 = jax.tree_util.tree_map(jnp.zeros_like, b)
    rr0 = _vdot(b, b)

    def body(_, carry):
        x, r, p, rr = carry
        ap = matvec(p)
        pap = _vdot(p, ap)
        alpha = jnp.where(pap > 0, rr / jnp.where(pap > 0, pap, 1.0), zero)
        x = _axpy(alpha, p, x)
        r = _axpy(-alpha, ap, r)
        rr_new = _vdot(r, r)
        beta = jnp.where(rr > 0, rr_new / jnp.where(rr > 0, rr, 1.0), zero)
        p = _axpy(beta, p, r)
        return x, r, p, rr_new

    x, _, _, rr = jax.lax.fori_loop(0, iters, body, (x0, b, b, rr0))
    rel = jnp.sqrt(rr / jnp.where(rr0 > 0, rr0, 1.0))
    return x, rel


class _Curvature(NamedTuple):
    outputs: jax.Array
    jvp: Callable[[Any], jax.Array]
    vjp: Callable[[jax.Array], Any]
    hvp: Callable[[jax.Array], jax.Array]


def _linearise(apply_fn: Callable[..., jax.Array], loss_fn: LossFn, params: Any, inputs: Any,
               targets: Any) -> _Curvature:
    """Linearises the model and the output loss once; the products below reuse the residuals."""
    outputs, jvp = jax.linearize(lambda p: apply_fn(p, inputs), params)
    transpose = jax.linear_transpose(jvp, params)
    _, hvp = jax.linearize(jax.grad(lambda z: loss_fn(z, targets)), outputs)
    return _Curvature(outputs, jvp, lambda u: transpose(u)[0], hvp)


def _ggn(c: _Curvature, v: Any) -> Any:
    return c.vjp(c.hvp(c.jvp(v)))


def fisher_vector_product(apply_fn: Callable[..., jax.Array],
                          loss: str | LossFn, params: Any, batch: Any, vector: Any, *,
                          split_batch: Callable[[Any], tuple[Any, Any]] | None = None) -> Any:
    r"""The Fisher (generalised Gauss-Newton) matrix of ``loss`` at ``params`` times ``vector``.

    :math:`G v = J^\top H_z J v` with :math:`J` the Jacobian of ``apply_fn(params, inputs)`` and
    :math:`H_z` the Hessian of the batch-mean output loss, computed with ``jax.linearize`` and its
    transpose (the matrix is never formed). For softmax cross-entropy and squared error this is
    the Fisher information of the model's likelihood, scaled as the batch-mean loss.

    Args:
      apply_fn: ``apply_fn(params, inputs) -> outputs``.
      loss: ``"softmax_cross_entropy"``, ``"squared_error"`` or a callable
        ``loss(outputs, targets) -> scalar`` (the batch mean; convex in ``outputs``).
      params: the parameters (a pytree).
      batch: ``(inputs, targets)`` (or anything ``split_batch`` understands).
      vector: a pytree like ``params``.
      split_batch: ``batch -> (inputs, targets)``; default ``batch[0], batch[1]``.

    Returns:
      A pytree like ``params``.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> apply = lambda w, x: x @ w                      # linear model, squared error
      >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> v = jaxlr.optim.fisher_vector_product(apply, "squared_error", jnp.zeros(2),
      ...                                 (x, jnp.zeros(2)), jnp.ones(2))
      >>> v.tolist()                                      # (2 / N) X^T X v
      [1.0, 4.0]
    """
    loss_fn = _resolve_loss("fisher_vector_product", loss)
    inputs, targets = (split_batch or _default_split)(batch)
    return _ggn(_linearise(apply_fn, loss_fn, params, inputs, targets), vector)


# ----------------------------------------------------------------------------------------------
# Natural gradient with CG
# ----------------------------------------------------------------------------------------------


class NaturalGradientState(NamedTuple):
    """Inner state of :func:`natural_gradient` (inside the jaxlr ``HyperState``)."""

    damping_scale: jax.Array  # shape=(), float32; Levenberg-Marquardt multiplier of `damping`
    rho: jax.Array            # shape=(), float32; last reduction ratio (NaN: not adaptive)
    cg_residual: jax.Array    # shape=(), float32; relative CG residual of the last solve
    velocity: Any             # like params (momentum buffer) or () without momentum


def _needs(fn: str, params: Any, batch: Any) -> None:
    if params is None:
        fail(fn, "`update` needs `params` (the model is linearised at them); got params=None.",
             hint="Call update(grads, state, params, batch=batch).", error=TypeError)
    if batch is None:
        fail(fn, "`update` needs the training batch to compute Fisher-vector products; got "
                 "batch=None.",
             hint="Call update(grads, state, params, batch=(inputs, targets)); "
                  "jaxlr.make_train_step/fit pass it to optimizers that take extra arguments.",
             error=TypeError)


def _check_nonneg(fn: str, **named: Any) -> None:
    for name, value in named.items():
        if value is None or callable(value):
            continue
        if isinstance(value, bool) or not isinstance(
                value, (int, float, np.ndarray, np.generic, jax.Array)):
            fail(fn, f"`{name}` must be a number or an array; got {name}={shorten(value)}.",
                 error=TypeError)
        arr = concrete(value)
        if arr is not None and not (np.all(np.isfinite(arr)) and np.all(arr >= 0)):
            fail(fn, f"`{name}` must be finite and >= 0; got {name}={shorten(value)}.")


def _check_momentum(fn: str, momentum: Any) -> None:
    _check_nonneg(fn, momentum=momentum)
    arr = None if momentum is None or callable(momentum) else concrete(momentum)
    if arr is not None and np.any(arr >= 1):
        fail(fn, f"`momentum` must be in [0, 1); got momentum={shorten(momentum)}.")


def _check_lr(fn: str, learning_rate: Any) -> None:
    if learning_rate is None:
        fail(fn, "`learning_rate` is required; got learning_rate=None.",
             hint="Pass a float (e.g. 1.0 for natural gradient), an array or a jaxlr schedule.",
             error=TypeError)
    _check_nonneg(fn, learning_rate=learning_rate)


def _check_apply(fn: str, apply_fn: Any) -> None:
    if not callable(apply_fn):
        fail(fn, f"`apply_fn` must be callable as apply_fn(params, inputs) -> outputs; got "
                 f"apply_fn={shorten(apply_fn)}.",
             hint="For a jaxlr task use task.apply; for Flax, lambda p, x: model.apply(p, x).",
             error=TypeError)


def natural_gradient(
    learning_rate: Any,
    apply_fn: Callable[..., jax.Array],
    *,
    loss: str | LossFn = "softmax_cross_entropy",
    damping: ArrayLike = 1.0,
    momentum: ArrayLike | None = None,
    cg_iters: ArrayLike = 10,
    adaptive_damping: bool = False,
    damping_decrease: ArrayLike = 2.0 / 3.0,
    damping_increase: ArrayLike = 1.5,
    min_damping: ArrayLike = 1e-2,
    split_batch: Callable[[Any], tuple[Any, Any]] | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Natural gradient descent with matrix-free Fisher products and conjugate gradient.

    Each update solves :math:`(G + \lambda I) d = g` by ``cg_iters`` conjugate-gradient
    iterations (from :math:`d_0 = 0`; the first iterate is the gradient with the exact
    line-search step of the quadratic model), where :math:`G` is the Fisher / generalised
    Gauss-Newton matrix of the batch (see :func:`fisher_vector_product`) and :math:`g` the
    gradient passed in. The update is :math:`-\eta_t d`; with ``momentum``
    :math:`v \leftarrow \mu v + d`, update :math:`-\eta_t v`.

    With ``adaptive_damping=True`` the damping follows the Levenberg-Marquardt rule of Martens
    (2010): after each step the reduction ratio
    :math:`\rho = (L(\theta + u) - L(\theta)) / (g^\top u + \tfrac12 u^\top G u)` of the batch
    output loss is computed (one extra forward pass and Jacobian product), and
    :math:`\lambda` is multiplied by ``damping_decrease`` when :math:`\rho > 3/4`, by
    ``damping_increase`` when :math:`\rho < 1/4` (or not finite), floored at ``min_damping``; a
    step with :math:`\rho \le 0` (the batch loss did not decrease) or a non-finite one is
    rejected (zero update, momentum unchanged). The adapted value is
    ``damping * state.damping_scale``, so :func:`jaxlr.set_hyperparams` of ``damping`` still
    rescales it. Without rejection, the damping shrinks over a run of well-predicted minibatch
    steps until one catastrophic step; with it, adaptive damping is robust.

    **Choosing the damping.** On mini-batches the Fisher of one batch has low rank, and a small
    fixed damping amplifies the gradient's components along its near-null directions by up to
    :math:`1/\lambda`: an occasional huge step can wreck a network (on the digits MLP with
    batches of 64, ``damping=0.1`` at rate 1 reaches a good loss fast and then may collapse).
    Use ``damping`` of order 1 for a fixed value, or ``adaptive_damping=True`` starting at 1 with
    a floor ``min_damping`` of 0.01-0.3: it is the robust choice (the fastest in steps in
    ``scripts/bench_natural_gradient.py``).

    ``update(grads, state, params, *, batch)`` needs the ``(inputs, targets)`` batch the
    gradient was computed on. The loss used for curvature is ``loss`` on ``apply_fn``'s output;
    extra terms of your training loss (weight decay, ...) enter only through ``grads``.

    Args:
      learning_rate: step size :math:`\eta_t`: a float, an array or any jaxlr schedule
        (1.0 is the Newton-like step on the model's quadratic approximation).
      apply_fn: ``apply_fn(params, inputs) -> outputs`` (logits or predictions).
      loss: ``"softmax_cross_entropy"`` (integer labels or probabilities), ``"squared_error"``
        (``mean((outputs - targets)**2)``, as ``jaxlr.tasks`` regression), or a callable
        ``loss(outputs, targets) -> scalar`` batch mean, convex in the outputs.
      damping: Tikhonov damping :math:`\lambda >= 0` (the initial value when adaptive).
      momentum: optional heavy-ball momentum in [0, 1) (``None``: no buffer).
      cg_iters: conjugate-gradient iterations per update (integer >= 1; data, may be traced).
      adaptive_damping: enable the Levenberg-Marquardt rule (static).
      damping_decrease, damping_increase: its factors (< 1 and > 1).
      min_damping: floor of the adapted damping (adaptive only).
      split_batch: ``batch -> (inputs, targets)``; default ``(batch[0], batch[1])``.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with hyperparameters in its state.

    References:
      Amari 1998; Martens 2010; Martens 2020 (see the module docstring).

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> apply = lambda w, x: x @ w
      >>> x, y = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), jnp.array([1.0, 2.0, 3.0])
      >>> opt = jaxlr.optim.natural_gradient(1.0, apply, loss="squared_error", damping=0.0,
      ...                              cg_iters=2)
      >>> w = jnp.zeros(2)
      >>> g = jax.grad(lambda w: jnp.mean((apply(w, x) - y) ** 2))(w)
      >>> u, _ = opt.update(g, opt.init(w), w, batch=(x, y))
      >>> (w + u).round(4).tolist()                 # one step: the least-squares solution
      [1.4444, 1.1111]
    """
    fn = "natural_gradient"
    _check_lr(fn, learning_rate)
    _check_apply(fn, apply_fn)
    loss_fn = _resolve_loss(fn, loss)
    if not isinstance(adaptive_damping, (bool, np.bool_)):
        fail(fn, f"`adaptive_damping` must be a bool; got "
                 f"adaptive_damping={shorten(adaptive_damping)}.",
             error=TypeError)
    _check_nonneg(fn, damping=damping, min_damping=min_damping)
    _check_momentum(fn, momentum)
    check_steps(fn, minimum=1, cg_iters=cg_iters)
    _check_nonneg(fn, damping_decrease=damping_decrease, damping_increase=damping_increase)
    dec, inc = concrete(damping_decrease), concrete(damping_increase)
    if dec is not None and not (0 < float(dec) < 1):
        fail(fn, "`damping_decrease` must be in (0, 1); got "
                 f"damping_decrease={shorten(damping_decrease)}.")
    if inc is not None and not float(inc) > 1:
        fail(fn, f"`damping_increase` must be > 1; got "
                 f"damping_increase={shorten(damping_increase)}.")
    split = split_batch or _default_split
    adaptive = bool(adaptive_damping)
    use_momentum = momentum is not None

    def factory(learning_rate, damping, cg_iters, damping_decrease, damping_increase,
                min_damping, momentum=None):
        def init_fn(params):
            vel = jax.tree_util.tree_map(jnp.zeros_like, params) if use_momentum else ()
            # distinct buffers per field (train steps donate their state)
            return NaturalGradientState(damping_scale=jnp.ones((), _F32),
                                        rho=jnp.full((), jnp.nan, _F32),
                                        cg_residual=jnp.full((), jnp.nan, _F32), velocity=vel)

        def update_fn(grads, state, params=None, *, batch=None, **extra_args):
            del extra_args
            _needs(fn, params, batch)
            inputs, targets = split(batch)
            curv = _linearise(apply_fn, loss_fn, params, inputs, targets)
            lam = jnp.asarray(damping, _F32) * state.damping_scale

            def matvec(v):
                return _axpy(lam, v, _ggn(curv, v))

            iters = jnp.round(jnp.asarray(cg_iters, _F32)).astype(jnp.int32)
            direction, residual = _cg(matvec, grads, iters)
            lr = jnp.asarray(learning_rate, _F32)
            if use_momentum:
                velocity = _axpy(jnp.asarray(momentum, _F32), state.velocity, direction)
                step_dir = velocity
            else:
                velocity = state.velocity
                step_dir = direction
            updates = _scale(-lr, step_dir)
            scale, rho = state.damping_scale, state.rho
            if adaptive:
                before = loss_fn(curv.outputs, targets).astype(_F32)
                new_params = jax.tree_util.tree_map(lambda p, u: p + u.astype(p.dtype), params,
                                                    updates)
                after = loss_fn(apply_fn(new_params, inputs), targets).astype(_F32)
                ju = curv.jvp(updates)
                quad = jnp.vdot(ju.astype(_F32), curv.hvp(ju).astype(_F32))
                predicted = _vdot(grads, updates) + 0.5 * quad
                rho = (after - before) / jnp.where(predicted != 0, predicted, -1.0)
                ok = jnp.isfinite(rho)
                factor = jnp.where(ok & (rho > 0.75), jnp.asarray(damping_decrease, _F32),
                                   jnp.where(~ok | (rho < 0.25),
                                             jnp.asarray(damping_increase, _F32),
                                             jnp.ones((), _F32)))
                floor = jnp.asarray(min_damping, _F32) / jnp.maximum(
                    jnp.asarray(damping, _F32), jnp.finfo(_F32).tiny)
                scale = jnp.maximum(scale * factor, floor)
                # Levenberg-Marquardt rejects a step that did not reduce the batch loss.
                accept = ok & (rho > 0)
                updates = jax.tree_util.tree_map(lambda u: jnp.where(accept, u, jnp.zeros_like(u)),
                                                 updates)
                if use_momentum:
                    velocity = jax.tree_util.tree_map(
                        lambda new, old: jnp.where(accept, new, old), velocity, state.velocity)
            new_state = NaturalGradientState(damping_scale=scale.astype(_F32),
                                             rho=rho.astype(_F32),
                                             cg_residual=residual.astype(_F32),
                                             velocity=velocity)
            return updates, new_state

        return optax.GradientTransformationExtraArgs(init_fn, update_fn)

    # cg_iters is stored as float32 like every hyperparameter (set_hyperparams keeps float32),
    # and rounded to an int32 loop bound at update time.
    cg_iters = (jnp.asarray(cg_iters).astype(jnp.float32) if is_traced(cg_iters)
                else np.float32(cg_iters))
    hp = {"learning_rate": learning_rate, "damping": damping, "cg_iters": cg_iters,
          "damping_decrease": damping_decrease, "damping_increase": damping_increase,
          "min_damping": min_damping}
    if use_momentum:
        hp["momentum"] = momentum
    return inject_hyperparams(factory, hp, name=fn)


# ----------------------------------------------------------------------------------------------
# Diagonal empirical Fisher
# ----------------------------------------------------------------------------------------------


class DiagonalFisherState(NamedTuple):
    """Inner state of :func:`diagonal_natural_gradient`."""

    count: jax.Array  # shape=(), int32; updates so far (bias correction)
    fisher: Any       # like params; running average of the diagonal empirical Fisher
    velocity: Any     # like params (momentum buffer) or ()


def diagonal_natural_gradient(
    learning_rate: Any,
    apply_fn: Callable[..., jax.Array],
    *,
    loss: str | LossFn = "softmax_cross_entropy",
    damping: ArrayLike = 1e-4,
    decay: ArrayLike = 0.95,
    momentum: ArrayLike | None = None,
    split_batch: Callable[[Any], tuple[Any, Any]] | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Natural gradient with a diagonal *empirical* Fisher: cheap, for larger models.

    .. math:: F_t = \beta F_{t-1} + (1-\beta)\,\tfrac1N \textstyle\sum_i (\nabla\ell_i)^2,
              \qquad u_t = -\eta_t\, g_t / (\hat F_t + \lambda)

    with per-example gradients :math:`\nabla \ell_i` (``vmap`` over the batch) and the bias
    correction :math:`\hat F_t = F_t / (1 - \beta^t)`; optional momentum as in
    :func:`natural_gradient`. Unlike Adam it uses per-example squared gradients (not the square
    of the mean gradient) and no square root, i.e. it preconditions by the inverse diagonal
    Fisher itself; it is therefore scale-sensitive and needs a smaller ``learning_rate`` and a
    sensible ``damping``. The empirical Fisher is not the Fisher (Kunstner et al. 2019): prefer
    :func:`natural_gradient` when it fits.

    ``update(grads, state, params, *, batch)`` needs the batch, like :func:`natural_gradient`.

    Args:
      learning_rate: a float, an array or any jaxlr schedule.
      apply_fn: ``apply_fn(params, inputs) -> outputs``.
      loss: as :func:`natural_gradient`.
      damping: :math:`\lambda >= 0`.
      decay: :math:`\beta` in [0, 1) (0: the current batch only).
      momentum: optional heavy-ball momentum in [0, 1).
      split_batch: ``batch -> (inputs, targets)``.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> apply = lambda w, x: x @ w
      >>> opt = jaxlr.optim.diagonal_natural_gradient(0.1, apply, loss="squared_error", decay=0.0,
      ...                                       damping=0.0)
      >>> x, y = jnp.array([[1.0], [2.0]]), jnp.array([0.0, 0.0])
      >>> w = jnp.ones(1)
      >>> g = jax.grad(lambda w: jnp.mean((apply(w, x) - y) ** 2))(w)   # 5.0
      >>> u, _ = opt.update(g, opt.init(w), w, batch=(x, y))           # F = (4 + 64) / 2
      >>> round(float(u[0]), 5)                                         # -0.1 * 5 / 34
      -0.01471
    """
    fn = "diagonal_natural_gradient"
    _check_lr(fn, learning_rate)
    _check_apply(fn, apply_fn)
    loss_fn = _resolve_loss(fn, loss)
    _check_nonneg(fn, damping=damping)
    _check_momentum(fn, momentum)
    _check_nonneg(fn, decay=decay)
    d = None if is_traced(decay) else concrete(decay)
    if d is not None and np.any(d >= 1):
        fail(fn, f"`decay` must be in [0, 1); got decay={shorten(decay)}.")
    split = split_batch or _default_split
    use_momentum = momentum is not None

    def factory(learning_rate, damping, decay, momentum=None):
        def init_fn(params):
            # distinct buffers per field (train steps donate their state)
            return DiagonalFisherState(
                count=jnp.zeros((), jnp.int32),
                fisher=jax.tree_util.tree_map(jnp.zeros_like, params),
                velocity=jax.tree_util.tree_map(jnp.zeros_like, params) if use_momentum else ())

        def update_fn(grads, state, params=None, *, batch=None, **extra_args):
            del extra_args
            _needs(fn, params, batch)
            inputs, targets = split(batch)

            def one(xi, yi):
                xb, yb = jax.tree_util.tree_map(lambda a: a[None], (xi, yi))
                return jax.grad(lambda p: loss_fn(apply_fn(p, xb), yb))(params)

            per_example = jax.vmap(one)(inputs, targets)
            beta = jnp.asarray(decay, _F32)
            fisher = jax.tree_util.tree_map(
                lambda f, g: (beta.astype(f.dtype) * f + (1 - beta).astype(f.dtype)
                              * jnp.mean(jnp.square(g), axis=0)).astype(f.dtype),
                state.fisher, per_example)
            count = optax.safe_increment(state.count)
            correction = 1 - beta ** count.astype(_F32)
            lam = jnp.asarray(damping, _F32)
            direction = jax.tree_util.tree_map(
                lambda g, f: g / (f / correction.astype(f.dtype) + lam.astype(f.dtype)),
                grads, fisher)
            if use_momentum:
                velocity = _axpy(jnp.asarray(momentum, _F32), state.velocity, direction)
                step_dir = velocity
            else:
                velocity = state.velocity
                step_dir = direction
            updates = _scale(-jnp.asarray(learning_rate, _F32), step_dir)
            return updates, DiagonalFisherState(count=count, fisher=fisher, velocity=velocity)

        return optax.GradientTransformationExtraArgs(init_fn, update_fn)

    hp = {"learning_rate": learning_rate, "damping": damping, "decay": decay}
    if use_momentum:
        hp["momentum"] = momentum
    return inject_hyperparams(factory, hp, name=fn)
