"""Public namespace: jaxlr.controllers (re-exports from its private modules).

Metric-driven controllers as pure ``init``/``update`` pairs: :func:`reduce_on_plateau`,
:func:`early_stopping`, and :func:`plateau_transform` (their optax adapter).
"""

from jaxlr.controllers._controllers import Controller as Controller
from jaxlr.controllers._controllers import EarlyStoppingHParams as EarlyStoppingHParams
from jaxlr.controllers._controllers import EarlyStoppingState as EarlyStoppingState
from jaxlr.controllers._controllers import PlateauHParams as PlateauHParams
from jaxlr.controllers._controllers import PlateauState as PlateauState
from jaxlr.controllers._controllers import DivergenceHParams as DivergenceHParams
from jaxlr.controllers._controllers import DivergenceState as DivergenceState
from jaxlr.controllers._controllers import divergence as divergence
from jaxlr.controllers._controllers import divergence_update as divergence_update
from jaxlr.controllers._controllers import early_stopping as early_stopping
from jaxlr.controllers._controllers import plateau_transform as plateau_transform
from jaxlr.controllers._controllers import reduce_on_plateau as reduce_on_plateau
from jaxlr.controllers._controllers import simulate as simulate

__all__: list[str] = [
    "Controller",
    "DivergenceHParams",
    "DivergenceState",
    "EarlyStoppingHParams",
    "EarlyStoppingState",
    "PlateauHParams",
    "PlateauState",
    "divergence",
    "divergence_update",
    "early_stopping",
    "plateau_transform",
    "reduce_on_plateau",
]
