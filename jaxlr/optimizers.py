"""Deprecated: ``jaxlr.optimizers`` is now :mod:`jaxlr.optim` (same names)."""

import warnings as _warnings

from jaxlr.optim import *  # noqa: F401,F403
from jaxlr.optim import __all__ as __all__  # noqa: F401

_warnings.warn("jaxlr.optimizers is deprecated; import jaxlr.optim instead (same names).",
               DeprecationWarning, stacklevel=2)
