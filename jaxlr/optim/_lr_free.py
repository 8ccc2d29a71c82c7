r"""Learning-rate-free optimizers from ``optax.contrib`` with their hyperparameters as data.

The comparators a learning-rate finder should be measured against: methods that estimate the
step size themselves. Each builder keeps optax's argument names and positional order, builds the
``optax.contrib`` optimizer through :func:`jaxlr.optim.inject_hyperparams`, and so keeps every numeric
argument optax lets be traced in the optimizer state as a float32 array: it can be swept under
``jax.vmap``, replaced with :func:`jaxlr.set_hyperparams` without recompiling, and read with
:func:`jaxlr.hyperparams` / :func:`jaxlr.current_lr`. The updates are optax's own (same numbers).

What "learning rate" means differs per method, and none of them needs one to be tuned:

=================== =========================================================================
builder             ``learning_rate`` (default) and the knob that plays the role of a rate
=================== =========================================================================
``prodigy``         a multiplier of the estimated step size D (1.0); schedules of 1.0 -> 0
``dadapt_adamw``    a multiplier of the estimated step size D (1.0); schedules of 1.0 -> 0
``dog``             a multiplier of DoG's step (1.0); the initial movement ``init_step``
                    (``("heuristic", reps_rel)``: r_0 = reps_rel * (1 + ||x_0||), 1e-6)
``dowg``            a multiplier of DoWG's step (1.0); ``init_estim_sq_dist`` (None: ``eps``)
``mechanize``       a multiplier of the base optimizer's updates (1.0, jaxlr's addition; optax
                    has none); Mechanic learns the scale on top, from ``s_init``
``schedule_free_*`` a real rate (0.0025): see :func:`jaxlr.schedule_free_adamw`
=================== =========================================================================

Every ``learning_rate`` may be a number, an array or a schedule (any jaxlr schedule is stored
whole; the schedule is evaluated at the update count, the step optax's own schedules see).

Static arguments (they choose the state's structure or the program, so a new value builds a new
optimizer): ``safeguard_warmup`` (prodigy), the *tag* of ``init_step`` (dog), ``mask``, whether
an optional argument is ``None`` (``beta3``, ``weight_decay`` of dog/dowg,
``init_estim_sq_dist``), ``base_optimizer`` and ``num_betas`` (mechanize).

Some values are read only when the state is built (``init``): the initial estimates
``estim_lr0`` (prodigy, dadapt_adamw), ``init_step`` of the ``"heuristic"``/``"distance"``
kinds (dog), ``init_estim_sq_dist`` (dowg) and ``s_init`` (mechanize; it is also read in each
update). Sweeps and finders that build the optimizer per candidate (``make_optimizer(hp).init``)
trace them like any other value; :func:`jaxlr.set_hyperparams` on an existing state changes
only the later updates' use of them.

``schedule_free_adamw`` of ``optax.contrib`` exists in optax 0.2.8 and jaxlr already wraps it
(:func:`jaxlr.schedule_free_adamw`, built through :func:`jaxlr.optim.inject_hyperparams`, equal to
optax's update for update with a constant rate): :data:`LR_FREE` names that one instead of a
second wrapper with the same numbers.

References:
  Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner", ICML 2024
  (arXiv:2306.06101, 2023); Defazio & Mishchenko, "Learning-Rate-Free Learning by
  D-Adaptation", ICML 2023; Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free
  Dynamic Step Size Schedule", ICML 2023; Khaled, Mishchenko & Jin, "DoWG Unleashed: An
  Efficient Universal Parameter-Free Gradient Descent Method", NeurIPS 2023; Cutkosky, Defazio
  & Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023; Defazio et al., "The Road Less
  Scheduled", NeurIPS 2024.
"""

from __future__ import annotations

import numbers
from typing import Any

import optax

from jaxlr._utils._validation import check_choice, fail
from jaxlr.optim._optimizers import _check_hparam, _check_lr, inject_hyperparams

__all__ = ["LR_FREE", "dadapt_adamw", "dog", "dowg", "mechanize", "prodigy"]

#: Names (in :mod:`jaxlr.optim`) of the learning-rate-free optimizers, e.g. for a registry or
#: ``jaxlr compare``: ``getattr(jaxlr.optim, name)``. All but ``mechanize`` (which wraps a base
#: optimizer) build with their defaults.
LR_FREE = ("prodigy", "dadapt_adamw", "dog", "dowg", "mechanize", "schedule_free_adamw")

_DOG_INIT_STEPS = ("heuristic", "distance", "learning_rate")


def _betas(fn: str, betas: Any) -> tuple[Any, Any]:
    """Splits optax's ``betas=(b1, b2)`` pair into two validated hyperparameters."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        fail(fn, f"`betas` must be a pair (b1, b2); got betas={betas!r}.",
             hint="E.g. betas=(0.9, 0.999).", error=TypeError)
    b1, b2 = betas
    for name, value in (("betas[0]", b1), ("betas[1]", b2)):
        if callable(value):
            fail(fn, f"`{name}` must be a number or an array; got a schedule {value!r}.",
                 error=TypeError)
        _check_hparam(fn, name, value, low=0.0, high=1.0, allow_high=False)
    return b1, b2


def _check_bool(fn: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        fail(fn, f"`{name}` must be a bool; got {name}={value!r}.", error=TypeError)


def _number(fn: str, name: str, value: Any, **bounds: Any) -> None:
    """A hyperparameter that must be a number or an array (no schedule: optax calls none)."""
    if callable(value):
        fail(fn, f"`{name}` must be a number or an array; got a schedule {value!r}.",
             hint="Only `learning_rate` may be a schedule.", error=TypeError)
    _check_hparam(fn, name, value, **bounds)


def prodigy(
    learning_rate: Any = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    beta3: Any = None,
    eps: Any = 1e-8,
    estim_lr0: Any = 1e-6,
    estim_lr_coef: Any = 1.0,
    weight_decay: Any = 0.0,
    safeguard_warmup: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""Prodigy (``optax.contrib.prodigy``): AdamW whose step size D is estimated online.

    ``learning_rate`` multiplies the estimate (default 1.0, no tuning); the authors recommend a
    schedule from 1.0 to 0 with a warm-up, e.g. ``jaxlr.warmup_cosine(1.0, ...)``. Prodigy is
    D-Adaptation (:func:`dadapt_adamw`) with weights that favour recent gradients, so the
    estimate grows faster. The update needs ``params``.

    Stored hyperparameters: ``learning_rate``, ``b1``, ``b2`` (optax's ``betas`` pair, stored
    as two scalars like :func:`jaxlr.adam`'s), ``beta3`` (only when given; ``None`` means
    ``sqrt(b2)`` at every update, as in optax), ``eps``, ``estim_lr0`` (the initial estimate,
    read by ``init``; later updates divide by it), ``estim_lr_coef``, ``weight_decay``. Static:
    ``safeguard_warmup``.

    Args:
      learning_rate: multiplier of the estimated step size: a number, an array or a schedule.
      betas: ``(b1, b2)`` of the underlying AdamW, each in [0, 1).
      beta3: decay of the estimate's running sums, in [0, 1); ``None``: ``sqrt(b2)``.
      eps: AdamW's epsilon (scaled by the estimate), >= 0.
      estim_lr0: initial (under-)estimate of the step size, > 0.
      estim_lr_coef: multiplies every estimate, > 0.
      weight_decay: decoupled weight decay (multiplied by the step), >= 0.
      safeguard_warmup: remove the rate from the estimate's denominator during warm-up.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is a jaxlr ``HyperState``.

    Raises:
      TypeError: ``betas`` is not a pair, a hyperparameter is not a number, or
        ``safeguard_warmup`` is not a bool.
      ValueError: a value out of range.

    References:
      Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
      arXiv:2306.06101, 2023 (ICML 2024).

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.optim.prodigy()
      >>> params = jnp.ones(3)
      >>> state = opt.init(params)
      >>> u, state = opt.update(jnp.ones(3), state, params)
      >>> sorted(jaxlr.hyperparams(state))
      ['b1', 'b2', 'eps', 'estim_lr0', 'estim_lr_coef', 'learning_rate', 'weight_decay']
      >>> state = jaxlr.set_hyperparams(state, learning_rate=0.5, b1=0.95)  # same program
    """
    fn = "prodigy"
    _check_lr(fn, learning_rate)
    b1, b2 = _betas(fn, betas)
    if beta3 is not None:
        _number(fn, "beta3", beta3, low=0.0, high=1.0, allow_high=False)
    _number(fn, "eps", eps, low=0.0)
    _number(fn, "estim_lr0", estim_lr0, low=0.0, allow_low=False)
    _number(fn, "estim_lr_coef", estim_lr_coef, low=0.0, allow_low=False)
    _number(fn, "weight_decay", weight_decay, low=0.0)
    _check_bool(fn, "safeguard_warmup", safeguard_warmup)
    hp = {"learning_rate": learning_rate, "b1": b1, "b2": b2, "eps": eps,
          "estim_lr0": estim_lr0, "estim_lr_coef": estim_lr_coef, "weight_decay": weight_decay}
    if beta3 is not None:
        hp["beta3"] = beta3

    def factory(learning_rate, b1, b2, eps, estim_lr0, estim_lr_coef, weight_decay,
                beta3=None):
        return optax.contrib.prodigy(learning_rate, (b1, b2), beta3, eps, estim_lr0,
                                     estim_lr_coef, weight_decay, safeguard_warmup)

    return inject_hyperparams(factory, hp, name=fn)


def dadapt_adamw(
    learning_rate: Any = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    eps: Any = 1e-8,
    estim_lr0: Any = 1e-6,
    weight_decay: Any = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""D-Adaptation AdamW (``optax.contrib.dadapt_adamw``): AdamW with an estimated step size.

    The step size D is a running lower bound of the distance to the solution, estimated from
    the gradients; ``learning_rate`` multiplies it (default 1.0, no tuning; a schedule from 1.0
    to 0 is the authors' recommendation). The update needs ``params``.

    Stored hyperparameters: ``learning_rate``, ``b1``, ``b2`` (optax's ``betas``), ``eps``,
    ``estim_lr0`` (the initial estimate, read by ``init``), ``weight_decay``.

    Args:
      learning_rate: multiplier of the estimated step size: a number, an array or a schedule.
      betas: ``(b1, b2)`` of AdamW, each in [0, 1).
      eps: AdamW's epsilon, >= 0.
      estim_lr0: initial (under-)estimate of D, > 0.
      weight_decay: decoupled weight decay (multiplied by the step), >= 0.

    Raises:
      TypeError: ``betas`` is not a pair or a hyperparameter is not a number.
      ValueError: a value out of range.

    References:
      Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023
      (arXiv:2301.07733).

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.optim.dadapt_adamw(betas=(0.9, 0.99))
      >>> state = opt.init(jnp.ones(2))
      >>> float(jaxlr.hyperparams(state)["b2"])
      0.99...
    """
    fn = "dadapt_adamw"
    _check_lr(fn, learning_rate)
    b1, b2 = _betas(fn, betas)
    _number(fn, "eps", eps, low=0.0)
    _number(fn, "estim_lr0", estim_lr0, low=0.0, allow_low=False)
    _number(fn, "weight_decay", weight_decay, low=0.0)

    def factory(learning_rate, b1, b2, eps, estim_lr0, weight_decay):
        return optax.contrib.dadapt_adamw(learning_rate, (b1, b2), eps, estim_lr0, weight_decay)

    return inject_hyperparams(factory, {
        "learning_rate": learning_rate, "b1": b1, "b2": b2, "eps": eps, "estim_lr0": estim_lr0,
        "weight_decay": weight_decay}, name=fn)


def dog(
    learning_rate: Any = 1.0,
    init_step: tuple[str, Any] = ("heuristic", 1e-6),
    eps: Any = 1e-8,
    weight_decay: Any = None,
    mask: Any = None,
) -> optax.GradientTransformationExtraArgs:
    r"""DoG, distance over gradients (``optax.contrib.dog``): SGD with a parameter-free step.

    .. math:: \eta_t = \frac{\max_{k \le t} \|x_k - x_0\|}{\sqrt{\sum_{k \le t} \|g_k\|^2 +
       \epsilon}}, \qquad x_{t+1} = x_t - \texttt{learning\_rate} \cdot \eta_t g_t

    ``learning_rate`` multiplies DoG's step (default 1.0). The knob that replaces a rate is the
    first movement ``init_step = (kind, value)``: ``("heuristic", reps_rel)`` sets
    :math:`r_0 = \text{reps\_rel}\,(1 + \|x_0\|)` (the paper's ``reps_rel``, 1e-6; 1e-4 with
    batch normalisation), ``("distance", r0)`` sets :math:`r_0`, ``("learning_rate", eta0)``
    the first step size. The paper recommends evaluating at a (polynomial) average of the
    iterates. ``init`` must receive the real parameters (the heuristic reads their norm).

    Stored hyperparameters: ``learning_rate``, ``init_step`` (the *value* of the pair; its
    kind is static; read by ``init`` for ``"heuristic"``/``"distance"``, by every update for
    ``"learning_rate"``), ``eps``, ``weight_decay`` (only when given; coupled L2 added to the
    gradient). Static: the kind of ``init_step``, ``mask``, ``weight_decay is None``.

    Args:
      learning_rate: multiplier of the step: a number, an array or a schedule.
      init_step: ``(kind, value)`` with kind one of ``"heuristic"``, ``"distance"``,
        ``"learning_rate"`` and value > 0.
      eps: added to the sum of squared gradient norms, >= 0.
      weight_decay: optional coupled weight decay, >= 0.
      mask: optional mask (pytree or callable) of the parameters to decay.

    Raises:
      TypeError: ``init_step`` is not a ``(kind, value)`` pair or a value is not a number.
      ValueError: an unknown kind or a value out of range.

    References:
      Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
      Schedule", ICML 2023 (arXiv:2302.12022).

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.optim.dog(init_step=("heuristic", 1e-4))
      >>> state = opt.init(jnp.ones(2))
      >>> float(jaxlr.hyperparams(state)["init_step"])
      0.0001...
    """
    fn = "dog"
    _check_lr(fn, learning_rate)
    if not isinstance(init_step, (tuple, list)) or len(init_step) != 2:
        fail(fn, f"`init_step` must be a pair (kind, value); got init_step={init_step!r}.",
             hint="E.g. init_step=('heuristic', 1e-6).", error=TypeError)
    kind, value = init_step
    check_choice(fn, "init_step[0]", kind, _DOG_INIT_STEPS)
    _number(fn, "init_step[1]", value, low=0.0, allow_low=False)
    _number(fn, "eps", eps, low=0.0)
    hp = {"learning_rate": learning_rate, "init_step": value, "eps": eps}
    if weight_decay is not None:
        _number(fn, "weight_decay", weight_decay, low=0.0)
        hp["weight_decay"] = weight_decay

    def factory(learning_rate, init_step, eps, weight_decay=None):
        return optax.contrib.dog(learning_rate, (kind, init_step), eps, weight_decay, mask)

    return inject_hyperparams(factory, hp, name=fn)


def dowg(
    learning_rate: Any = 1.0,
    init_estim_sq_dist: Any = None,
    eps: Any = 1e-4,
    weight_decay: Any = None,
    mask: Any = None,
) -> optax.GradientTransformationExtraArgs:
    r"""DoWG, distance over weighted gradients (``optax.contrib.dowg``).

    .. math:: \bar r_t^2 = \max(\bar r_{t-1}^2, \|x_t - x_0\|^2), \quad
       v_t = v_{t-1} + \bar r_t^2 \|g_t\|^2, \quad
       x_{t+1} = x_t - \texttt{learning\_rate} \cdot \frac{\bar r_t^2}{\sqrt{v_t} + \epsilon}
       g_t

    ``learning_rate`` multiplies DoWG's step (default 1.0). The initial guess of the squared
    distance to the solution, ``init_estim_sq_dist`` (``None``: ``eps``), plays the role of the
    first step size.

    Stored hyperparameters: ``learning_rate``, ``init_estim_sq_dist`` (only when given; read by
    ``init``), ``eps`` (also the initial guess when ``init_estim_sq_dist`` is ``None``),
    ``weight_decay`` (only when given; coupled L2). Static: ``mask`` and which optional
    arguments are ``None``.

    Args:
      learning_rate: multiplier of the step: a number, an array or a schedule.
      init_estim_sq_dist: initial squared-distance estimate, > 0, or ``None``.
      eps: added to the denominator, > 0.
      weight_decay: optional coupled weight decay, >= 0.
      mask: optional mask (pytree or callable) of the parameters to decay.

    Raises:
      TypeError: a hyperparameter is not a number.
      ValueError: a value out of range.

    References:
      Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal Parameter-Free
      Gradient Descent Method", NeurIPS 2023 (arXiv:2305.16284).

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> opt = jaxlr.optim.dowg()
      >>> params = jnp.ones(2)
      >>> state = opt.init(params)
      >>> u, state = opt.update(jnp.ones(2), state, params)
      >>> float(jaxlr.current_lr(state))       # the multiplier, not DoWG's own step
      1.0
    """
    fn = "dowg"
    _check_lr(fn, learning_rate)
    _number(fn, "eps", eps, low=0.0, allow_low=False)
    hp = {"learning_rate": learning_rate, "eps": eps}
    if init_estim_sq_dist is not None:
        _number(fn, "init_estim_sq_dist", init_estim_sq_dist, low=0.0, allow_low=False)
        hp["init_estim_sq_dist"] = init_estim_sq_dist
    if weight_decay is not None:
        _number(fn, "weight_decay", weight_decay, low=0.0)
        hp["weight_decay"] = weight_decay

    def factory(learning_rate, eps, init_estim_sq_dist=None, weight_decay=None):
        return optax.contrib.dowg(learning_rate, init_estim_sq_dist, eps, weight_decay, mask)

    return inject_hyperparams(factory, hp, name=fn)


def mechanize(
    base_optimizer: optax.GradientTransformation,
    weight_decay: Any = 1e-2,
    eps: Any = 1e-8,
    s_init: Any = 1e-6,
    num_betas: int = 6,
    *,
    learning_rate: Any = 1.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Mechanic (``optax.contrib.mechanize``): learns the scale of a base optimizer's updates.

    Mechanic runs ``base_optimizer`` and learns, online, the factor its accumulated updates are
    applied with (a learned learning-rate multiplier, with ``num_betas`` averaging horizons
    1 - 10^-k). The base optimizer's own rate (or schedule) then only sets the *shape*; the
    authors use e.g. ``optax.adam(warmup_cosine(peak=1.0))``. The update needs ``params``.

    ``learning_rate`` (keyword-only, default 1.0; optax's ``mechanize`` has no such argument)
    multiplies the base optimizer's updates before Mechanic sees them, so a finder or sweep over
    ``learning_rate`` measures how insensitive Mechanic is to the base rate; at 1.0 the updates
    are exactly optax's. It may be a schedule (the base schedule as data).

    Stored hyperparameters: ``learning_rate``, ``weight_decay`` (Mechanic's own, scaled by the
    learned step; not the base optimizer's), ``eps``, ``s_init`` (read by ``init`` and by every
    update). Static: ``base_optimizer`` (its hyperparameters are closed over unless it is a jaxlr
    optimizer, whose state is then nested inside this one: :func:`jaxlr.set_hyperparams` and
    :func:`jaxlr.current_lr` reach only the outer, Mechanic, state), ``num_betas`` (the shape of
    Mechanic's state).

    Args:
      base_optimizer: an optax transformation computing the updates to scale.
      weight_decay: Mechanic's weight decay, >= 0.
      eps: small constant, >= 0.
      s_init: initial scale, > 0.
      num_betas: number of averaging horizons, an int >= 1.
      learning_rate: multiplier of the base updates: a number, an array or a schedule.

    Raises:
      TypeError: ``base_optimizer`` is not an optax transformation, ``num_betas`` not an int,
        or a hyperparameter not a number.
      ValueError: a value out of range.

    References:
      Cutkosky, Defazio & Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023
      (arXiv:2306.00144).

    Examples:
      >>> import jax.numpy as jnp, jaxlr, optax
      >>> opt = jaxlr.optim.mechanize(optax.adam(1e-3))
      >>> params = jnp.ones(2)
      >>> state = opt.init(params)
      >>> u, state = opt.update(jnp.ones(2), state, params)
      >>> sorted(jaxlr.hyperparams(state))
      ['eps', 'learning_rate', 's_init', 'weight_decay']
    """
    fn = "mechanize"
    if not isinstance(base_optimizer, optax.GradientTransformation):
        fail(fn, "`base_optimizer` must be an optax GradientTransformation; got "
             f"base_optimizer={base_optimizer!r}.", hint="E.g. jaxlr.optim.mechanize(optax.adam(1e-3)).",
             error=TypeError)
    if isinstance(num_betas, bool) or not isinstance(num_betas, numbers.Integral):
        fail(fn, f"`num_betas` must be an int; got num_betas={num_betas!r}.", error=TypeError)
    if num_betas < 1:
        fail(fn, f"`num_betas` must be >= 1; got num_betas={num_betas!r}.")
    _check_lr(fn, learning_rate)
    _number(fn, "weight_decay", weight_decay, low=0.0)
    _number(fn, "eps", eps, low=0.0)
    _number(fn, "s_init", s_init, low=0.0, allow_low=False)
    n = int(num_betas)

    def factory(learning_rate, weight_decay, eps, s_init):
        base = optax.chain(base_optimizer, optax.scale(learning_rate))
        return optax.contrib.mechanize(base, weight_decay, eps, s_init, n)

    return inject_hyperparams(factory, {
        "learning_rate": learning_rate, "weight_decay": weight_decay, "eps": eps,
        "s_init": s_init}, name=fn)
