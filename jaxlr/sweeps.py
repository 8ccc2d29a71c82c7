"""Public namespace: jaxlr.sweeps (search spaces, vectorised sweeps, cross-validation,
successive halving, population-based training, Optuna).

Everything listed in ``__all__`` is also available as ``jaxlr.X`` (``jaxlr.sweep`` is the
function; this module is ``jaxlr.sweeps``).
"""

from jaxlr._src.cv import Folds as Folds
from jaxlr._src.cv import RefitResult as RefitResult
from jaxlr._src.cv import kfold as kfold
from jaxlr._src.cv import refit as refit
from jaxlr._src.cv import select_trial as select_trial
from jaxlr._src.optuna_search import optuna_search as optuna_search
from jaxlr._src.space import Choice as Choice
from jaxlr._src.space import Grid as Grid
from jaxlr._src.space import IntUniform as IntUniform
from jaxlr._src.space import LogUniform as LogUniform
from jaxlr._src.space import Uniform as Uniform
from jaxlr._src.space import choice as choice
from jaxlr._src.space import grid as grid
from jaxlr._src.space import int_uniform as int_uniform
from jaxlr._src.space import loguniform as loguniform
from jaxlr._src.space import sample as sample_space
from jaxlr._src.space import space_from_config as space_from_config
from jaxlr._src.space import uniform as uniform
from jaxlr._src.sweep import SweepResult as SweepResult
from jaxlr._src.sweep import sweep as sweep
from jaxlr._src.sweep import sweep_from_config as sweep_from_config
from jaxlr._src.sweep import sweep_task as sweep_task
from jaxlr._src.sweep import task_train_fn as task_train_fn
from jaxlr._src.sweep_strategies import Trainer as Trainer
from jaxlr._src.sweep_strategies import pbt as pbt
from jaxlr._src.sweep_strategies import successive_halving as successive_halving

__all__ = [
    "Choice", "Folds", "Grid", "IntUniform", "LogUniform", "RefitResult", "SweepResult",
    "Trainer", "Uniform", "choice", "grid", "int_uniform", "kfold", "loguniform",
    "optuna_search", "pbt", "refit", "sample_space", "select_trial", "space_from_config",
    "successive_halving", "sweep", "sweep_from_config", "sweep_task", "task_train_fn",
    "uniform",
]
