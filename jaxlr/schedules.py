"""Public namespace: jaxlr.schedules (re-exports from jaxlr._src).

Every name in ``__all__`` is also available as ``jaxlr.<name>``. The schedule classes
(``CosineDecay``, ``Cyclic``, ...) and :func:`horizon` live here too, outside ``__all__``.
"""

from jaxlr._src.schedule_config import describe as describe
from jaxlr._src.schedule_config import from_config as from_config
from jaxlr._src.schedule_config import parse as parse
from jaxlr._src.schedule_config import to_config as to_config
from jaxlr._src.schedules import BUILDERS as BUILDERS
from jaxlr._src.schedules import Clip as Clip
from jaxlr._src.schedules import Constant as Constant
from jaxlr._src.schedules import CosineDecay as CosineDecay
from jaxlr._src.schedules import CosineRestarts as CosineRestarts
from jaxlr._src.schedules import Cyclic as Cyclic
from jaxlr._src.schedules import ExponentialDecay as ExponentialDecay
from jaxlr._src.schedules import InverseSqrt as InverseSqrt
from jaxlr._src.schedules import InverseTimeDecay as InverseTimeDecay
from jaxlr._src.schedules import Join as Join
from jaxlr._src.schedules import Linear as Linear
from jaxlr._src.schedules import Multiply as Multiply
from jaxlr._src.schedules import MultistepDecay as MultistepDecay
from jaxlr._src.schedules import OneCycle as OneCycle
from jaxlr._src.schedules import OneCycleMomentum as OneCycleMomentum
from jaxlr._src.schedules import PiecewiseConstant as PiecewiseConstant
from jaxlr._src.schedules import PiecewiseLinear as PiecewiseLinear
from jaxlr._src.schedules import PolynomialDecay as PolynomialDecay
from jaxlr._src.schedules import Scale as Scale
from jaxlr._src.schedules import StepDecay as StepDecay
from jaxlr._src.schedules import Warmup as Warmup
from jaxlr._src.schedules import WarmupCosine as WarmupCosine
from jaxlr._src.schedules import WarmupStableDecay as WarmupStableDecay
from jaxlr._src.schedules import clip as clip
from jaxlr._src.schedules import constant as constant
from jaxlr._src.schedules import cosine_decay as cosine_decay
from jaxlr._src.schedules import cosine_restarts as cosine_restarts
from jaxlr._src.schedules import cyclic as cyclic
from jaxlr._src.schedules import exponential_decay as exponential_decay
from jaxlr._src.schedules import inverse_sqrt as inverse_sqrt
from jaxlr._src.schedules import inverse_time_decay as inverse_time_decay
from jaxlr._src.schedules import join as join
from jaxlr._src.schedules import linear as linear
from jaxlr._src.schedules import multiply as multiply
from jaxlr._src.schedules import multistep_decay as multistep_decay
from jaxlr._src.schedules import one_cycle as one_cycle
from jaxlr._src.schedules import one_cycle_momentum as one_cycle_momentum
from jaxlr._src.schedules import piecewise_constant as piecewise_constant
from jaxlr._src.schedules import piecewise_linear as piecewise_linear
from jaxlr._src.schedules import polynomial_decay as polynomial_decay
from jaxlr._src.schedules import scale as scale
from jaxlr._src.schedules import step_decay as step_decay
from jaxlr._src.schedules import warmup as warmup
from jaxlr._src.schedules import warmup_cosine as warmup_cosine
from jaxlr._src.schedules import warmup_stable_decay as warmup_stable_decay
from jaxlr._src.schedules_base import FunctionSchedule as FunctionSchedule
from jaxlr._src.schedules_base import Schedule as Schedule
from jaxlr._src.schedules_base import horizon as horizon
from jaxlr._src.schedules_base import stack as stack

__all__ = [
    "Schedule",
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
    "to_config",
    "warmup",
    "warmup_cosine",
    "warmup_stable_decay",
]
