"""Matplotlib figures for jaxlr results (host only; matplotlib is imported when a function runs).

Install with ``pip install 'jaxlr[plot]'``.
"""

from jaxlr._src.plot_finder import *  # noqa: F401,F403
from jaxlr._src.plot_schedules import *  # noqa: F401,F403
from jaxlr._src.plot_sweep import *  # noqa: F401,F403
from jaxlr._src.plot_train import *  # noqa: F401,F403
