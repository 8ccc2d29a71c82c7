"""Public namespace: jaxlr.sweeps (search spaces, vectorised sweeps, cross-validation,
successive halving, population-based training, Optuna).

Everything listed in ``__all__`` is also available as ``jaxlr.X`` (``jaxlr.sweep`` is the
function; this module is ``jaxlr.sweeps``).
"""

from jaxlr.sweeps._cv import Folds as Folds
from jaxlr.sweeps._cv import kfold as kfold
from jaxlr.sweeps._cv import select_trial as select_trial
from jaxlr.sweeps._evaluate import Evaluator as Evaluator
from jaxlr.sweeps._evaluate import sweep as sweep
from jaxlr.sweeps._optuna import optuna_search as optuna_search
from jaxlr.sweeps._result import SweepResult as SweepResult
from jaxlr.sweeps._space import Choice as Choice
from jaxlr.sweeps._space import Grid as Grid
from jaxlr.sweeps._space import IntUniform as IntUniform
from jaxlr.sweeps._space import LogUniform as LogUniform
from jaxlr.sweeps._space import Uniform as Uniform
from jaxlr.sweeps._space import choice as choice
from jaxlr.sweeps._space import grid as grid
from jaxlr.sweeps._space import int_uniform as int_uniform
from jaxlr.sweeps._space import loguniform as loguniform
from jaxlr.sweeps._space import sample as sample_space
from jaxlr.sweeps._space import space_from_config as space_from_config
from jaxlr.sweeps._space import uniform as uniform
from jaxlr.sweeps._strategies import pbt as pbt
from jaxlr.sweeps._strategies import successive_halving as successive_halving
from jaxlr.sweeps._task import STRATEGIES as STRATEGIES
from jaxlr.sweeps._task import sweep_from_config as sweep_from_config
from jaxlr.sweeps._task import sweep_task as sweep_task
from jaxlr.sweeps._task import task_train_fn as task_train_fn
from jaxlr.sweeps._trial import RefitResult as RefitResult
from jaxlr.sweeps._trial import TaskSpec as TaskSpec
from jaxlr.sweeps._trial import Trainer as Trainer
from jaxlr.sweeps._trial import refit as refit
from jaxlr.sweeps._trial import resolve_task as resolve_task

__all__ = [
    "Choice", "Folds", "Grid", "IntUniform", "LogUniform", "RefitResult", "SweepResult",
    "Trainer", "Uniform", "choice", "grid", "int_uniform", "kfold", "loguniform",
    "optuna_search", "pbt", "refit", "sample_space", "select_trial", "space_from_config",
    "successive_halving", "sweep", "sweep_from_config", "sweep_task", "task_train_fn",
    "uniform",
]
