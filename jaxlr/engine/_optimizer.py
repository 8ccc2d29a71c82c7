"""The one rule for ``optimizer`` arguments of the entry points that choose the learning rate.

The finders and sweeps train many learning rates in one compiled program, so the rate must be a
traced value inside it. They accept, alike:

* a **factory** ``learning_rate -> optax.GradientTransformation`` (``jaxlr.adam``, ``optax.sgd``,
  ``functools.partial(jaxlr.momentum, momentum=0.9)``, ``lambda lr: optax.chain(clip, adam(lr))``),
  called inside the program with the traced rate (or schedule);
* a **built jaxlr optimizer** (``jaxlr.adam(1e-3, b1=0.95, max_grad_norm=1.0)``): its other
  hyperparameters are kept (as traced data) and its learning rate is replaced per candidate
  (:func:`jaxlr.optim.with_hyperparams`).

A built *optax* optimizer (``optax.adam(1e-3)``) has its rate baked into closures and cannot be
given another one: it is refused with the fix. ``fit``, which does not choose the rate, takes a
built optimizer of either kind.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import optax

from jaxlr import optim as _opt
from jaxlr._utils._static import ByValue, Static, combine, partition
from jaxlr._utils._validation import fail, shorten

__all__ = ["RateOptimizer", "rate_optimizer", "describe_optimizer"]


@dataclasses.dataclass(frozen=True, eq=False)
class RateOptimizer(ByValue):
    """The static part of an optimizer argument; :meth:`build` gives the optimizer at a rate."""

    factory: Callable[..., optax.GradientTransformation] | None
    structure: Static | None          # a built jaxlr optimizer's static part

    def __jaxlr_value_key__(self) -> Any:
        return (self.factory, self.structure)

    def build(self, dynamic: list[Any], learning_rate: Any) -> optax.GradientTransformation:
        """The optimizer with ``learning_rate`` (traced scalar or schedule)."""
        if self.factory is not None:
            return self.factory(learning_rate)
        built = combine(dynamic, self.structure)
        return _opt.with_hyperparams(built, learning_rate=learning_rate)


def rate_optimizer(fn: str, optimizer: Any) -> tuple[RateOptimizer, list[Any]]:
    """``(static part, dynamic leaves)`` of an optimizer argument (default :func:`jaxlr.adam`)."""
    if optimizer is None:
        return RateOptimizer(_opt.adam, None), []
    if _opt.is_hyper_optimizer(optimizer):
        dynamic, structure = partition(optimizer)
        return RateOptimizer(None, structure), dynamic
    if isinstance(optimizer, optax.GradientTransformation) or (
            hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        fail(fn, "`optimizer` is a built optax transformation whose learning rate cannot be "
             "changed; the finders and sweeps choose the rate.", hint="Pass its factory "
             "instead (optax.adam, functools.partial(optax.sgd, momentum=0.9), or "
             "lambda lr: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))), or a "
             "jaxlr optimizer such as jaxlr.adam(1e-3, max_grad_norm=1.0).", error=TypeError)
    if not callable(optimizer):
        fail(fn, f"`optimizer` must be a factory learning_rate -> optax.GradientTransformation "
             f"or a jaxlr optimizer; got optimizer={shorten(optimizer)}.", error=TypeError)
    return RateOptimizer(optimizer, None), []


def describe_optimizer(optimizer: Any) -> str:
    """A short human description (``jaxlr.adam``, ``optax.sgd(momentum=0.9)``)."""
    if optimizer is None:
        return "jaxlr.adam"
    if _opt.is_hyper_optimizer(optimizer):
        return f"jaxlr.{optimizer.init.name}"
    if isinstance(optimizer, functools.partial):
        kw = ", ".join(f"{k}={v!r}" for k, v in optimizer.keywords.items())
        return f"{describe_optimizer(optimizer.func)}({kw})"
    mod = getattr(optimizer, "__module__", "") or ""
    name = getattr(optimizer, "__qualname__", None) or getattr(optimizer, "__name__", None)
    if name is None:
        return type(optimizer).__name__
    prefix = "jaxlr" if mod.startswith("jaxlr") else mod.split(".")[0]
    return f"{prefix}.{name}" if prefix else name
