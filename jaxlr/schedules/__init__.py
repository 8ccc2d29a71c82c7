"""Public namespace: jaxlr.schedules (re-exports from its private modules).

Every name in ``__all__`` is also available as ``jaxlr.<name>``. The schedule classes
(``CosineDecay``, ``Cyclic``, ...) and :func:`horizon` live here too, outside ``__all__``.
"""

from jaxlr.schedules._config import describe as describe
from jaxlr.schedules._config import from_config as from_config
from jaxlr.schedules._config import parse as parse
from jaxlr.schedules._config import to_config as to_config
from jaxlr.schedules._builders import BUILDERS as BUILDERS
from jaxlr.schedules._builders import Clip as Clip
from jaxlr.schedules._builders import Constant as Constant
from jaxlr.schedules._builders import CosineDecay as CosineDecay
from jaxlr.schedules._builders import CosineRestarts as CosineRestarts
from jaxlr.schedules._builders import Cyclic as Cyclic
from jaxlr.schedules._builders import ExponentialDecay as ExponentialDecay
from jaxlr.schedules._builders import InverseSqrt as InverseSqrt
from jaxlr.schedules._builders import InverseTimeDecay as InverseTimeDecay
from jaxlr.schedules._builders import Join as Join
from jaxlr.schedules._builders import Linear as Linear
from jaxlr.schedules._builders import Multiply as Multiply
from jaxlr.schedules._builders import MultistepDecay as MultistepDecay
from jaxlr.schedules._builders import OneCycle as OneCycle
from jaxlr.schedules._builders import OneCycleMomentum as OneCycleMomentum
from jaxlr.schedules._builders import PiecewiseConstant as PiecewiseConstant
from jaxlr.schedules._builders import PiecewiseLinear as PiecewiseLinear
from jaxlr.schedules._builders import PolynomialDecay as PolynomialDecay
from jaxlr.schedules._builders import Scale as Scale
from jaxlr.schedules._builders import StepDecay as StepDecay
from jaxlr.schedules._builders import Table as Table
from jaxlr.schedules._builders import Warmup as Warmup
from jaxlr.schedules._builders import WarmupCosine as WarmupCosine
from jaxlr.schedules._builders import WarmupStableDecay as WarmupStableDecay
from jaxlr.schedules._builders import clip as clip
from jaxlr.schedules._builders import constant as constant
from jaxlr.schedules._builders import cosine_decay as cosine_decay
from jaxlr.schedules._builders import cosine_restarts as cosine_restarts
from jaxlr.schedules._builders import cyclic as cyclic
from jaxlr.schedules._builders import exponential_decay as exponential_decay
from jaxlr.schedules._builders import inverse_sqrt as inverse_sqrt
from jaxlr.schedules._builders import inverse_time_decay as inverse_time_decay
from jaxlr.schedules._builders import join as join
from jaxlr.schedules._builders import linear as linear
from jaxlr.schedules._builders import multiply as multiply
from jaxlr.schedules._builders import multistep_decay as multistep_decay
from jaxlr.schedules._builders import one_cycle as one_cycle
from jaxlr.schedules._builders import one_cycle_momentum as one_cycle_momentum
from jaxlr.schedules._builders import piecewise_constant as piecewise_constant
from jaxlr.schedules._builders import piecewise_linear as piecewise_linear
from jaxlr.schedules._builders import polynomial_decay as polynomial_decay
from jaxlr.schedules._builders import scale as scale
from jaxlr.schedules._builders import step_decay as step_decay
from jaxlr.schedules._builders import table as table
from jaxlr.schedules._builders import warmup as warmup
from jaxlr.schedules._builders import warmup_cosine as warmup_cosine
from jaxlr.schedules._builders import warmup_stable_decay as warmup_stable_decay
from jaxlr.schedules._base import FunctionSchedule as FunctionSchedule
from jaxlr.schedules._base import as_schedule as as_schedule
from jaxlr.schedules._base import Schedule as Schedule
from jaxlr.schedules._base import horizon as horizon
from jaxlr.schedules._base import stack as stack

__all__ = [
    "Schedule",
    "as_schedule",
    "clip",
    "constant",
    "cosine_decay",
    "cosine_restarts",
    "cyclic",
    "describe",
    "exponential_decay",
    "from_config",
    "inverse_sqrt",
    "inverse_time_decay",
    "join",
    "linear",
    "multiply",
    "multistep_decay",
    "one_cycle",
    "parse",
    "piecewise_constant",
    "piecewise_linear",
    "polynomial_decay",
    "scale",
    "stack",
    "step_decay",
    "table",
    "to_config",
    "warmup",
    "warmup_cosine",
    "warmup_stable_decay",
]
