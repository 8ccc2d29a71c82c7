"""Deprecated: ``jaxlr.train`` is now :mod:`jaxlr.engine` (same names)."""

import warnings as _warnings

from jaxlr.engine import *  # noqa: F401,F403
from jaxlr.engine import __all__ as __all__  # noqa: F401

_warnings.warn("jaxlr.train is deprecated; import jaxlr.engine instead (same names).",
               DeprecationWarning, stacklevel=2)
