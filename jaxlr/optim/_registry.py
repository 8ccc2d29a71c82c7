"""The one optimizer registry: names used by the CLI, configuration files and ``sweep_task``."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping

import optax

from jaxlr._utils._validation import fail, shorten
from jaxlr.optim import _lr_free as _lf
from jaxlr.optim import _optimizers as _o
from jaxlr.optim import _schedule_free as _sf

__all__ = ["OPTIMIZERS", "get_optimizer", "optimizer_from_hparams", "register_optimizer"]

#: name -> builder ``builder(learning_rate, **hyperparameters)``.
OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "sgd": _o.sgd,
    "momentum": _o.momentum,
    "nesterov": functools.partial(_o.momentum, nesterov=True),
    "rmsprop": _o.rmsprop,
    "adagrad": _o.adagrad,
    "adam": _o.adam,
    "adamw": _o.adamw,
    "schedule_free_adamw": _sf.schedule_free_adamw,
    "schedule_free_sgd": _sf.schedule_free_sgd,
    # learning-rate-free (optax.contrib): ``learning_rate`` scales their own step size (1.0:
    # as published), so a sweep can compare them with the tuned optimizers on the same trials
    "prodigy": _lf.prodigy,
    "dadapt_adamw": _lf.dadapt_adamw,
    "dog": _lf.dog,
    "dowg": _lf.dowg,
}


def register_optimizer(name: str, builder: Callable[..., optax.GradientTransformation]) -> None:
    """Adds ``builder(learning_rate, **hyperparameters)`` to the registry under ``name``."""
    if not isinstance(name, str) or not name:
        fail("register_optimizer", f"`name` must be a non-empty string; got {shorten(name)}.",
             error=TypeError)
    if not callable(builder):
        fail("register_optimizer", f"`builder` must be callable; got {shorten(builder)}.",
             error=TypeError)
    OPTIMIZERS[name] = builder


def get_optimizer(name: str, fn: str = "get_optimizer") -> Callable[..., Any]:
    """The builder registered under ``name`` (case-insensitive)."""
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        fail(fn, f"unknown optimizer {shorten(name)}; choose one of "
             f"{', '.join(sorted(OPTIMIZERS))}.", hint="Or pass a function "
             "(hparams, learning_rate) -> optax.GradientTransformation.")
    return OPTIMIZERS[key]


def optimizer_from_hparams(name: str, hparams: Mapping[str, Any],
                           learning_rate: Any) -> optax.GradientTransformation:
    """The registered optimizer ``name`` at ``learning_rate`` with the ``hparams`` it takes.

    Every entry of ``hparams`` whose name is an argument of the builder (``b1``, ``momentum``,
    ``weight_decay``, ...) is passed; the others are ignored (they belong to the schedule or the
    run).
    """
    builder = get_optimizer(name)
    target = builder.func if isinstance(builder, functools.partial) else builder
    params = inspect.signature(target).parameters
    kw = {k: v for k, v in hparams.items() if k in params and k != "learning_rate"}
    return builder(learning_rate, **kw)
