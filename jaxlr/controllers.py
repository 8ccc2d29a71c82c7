"""Public namespace: jaxlr.controllers (re-exports from jaxlr._src).

Metric-driven controllers as pure ``init``/``update`` pairs: :func:`reduce_on_plateau`,
:func:`early_stopping`, and :func:`plateau_transform` (their optax adapter).
"""

from jaxlr._src.controllers import Controller as Controller
from jaxlr._src.controllers import EarlyStoppingHParams as EarlyStoppingHParams
from jaxlr._src.controllers import EarlyStoppingState as EarlyStoppingState
from jaxlr._src.controllers import PlateauHParams as PlateauHParams
from jaxlr._src.controllers import PlateauState as PlateauState
from jaxlr._src.controllers import early_stopping as early_stopping
from jaxlr._src.controllers import plateau_transform as plateau_transform
from jaxlr._src.controllers import reduce_on_plateau as reduce_on_plateau
from jaxlr._src.controllers import simulate as simulate

__all__: list[str] = [
    "Controller",
    "EarlyStoppingHParams",
    "EarlyStoppingState",
    "PlateauHParams",
    "PlateauState",
    "early_stopping",
    "plateau_transform",
    "reduce_on_plateau",
]
