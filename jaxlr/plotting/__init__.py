"""Matplotlib figures for jaxlr results (host only; matplotlib is imported when a function runs).

Install with ``pip install 'jaxlr[plot]'``.
"""

from jaxlr.plotting._finder import *  # noqa: F401,F403
from jaxlr.plotting._schedules import *  # noqa: F401,F403
from jaxlr.plotting._sweep import *  # noqa: F401,F403
from jaxlr.plotting._train import *  # noqa: F401,F403
