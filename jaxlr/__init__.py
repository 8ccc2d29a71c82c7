"""jaxlr: learning-rate strategies for JAX.

Traceable schedules (every hyperparameter is data), optimizers with their hyperparameters in
their state, one training engine (``fit``, every finder candidate and every sweep trial run the
same kernel), learning-rate finders and vectorised sweeps.

The top level holds what a user reaches for; everything else lives in the layer namespaces, in
the order they build on each other: :mod:`jaxlr.schedules`, :mod:`jaxlr.optim`,
:mod:`jaxlr.controllers`, :mod:`jaxlr.engine`, :mod:`jaxlr.population`, :mod:`jaxlr.finder`,
:mod:`jaxlr.sweeps`, :mod:`jaxlr.tasks`; :mod:`jaxlr.plotting` and :mod:`jaxlr.cli` (host only)
are imported on first use. No top-level name means something else than the optax name it
shadows.
"""

import importlib as _importlib
import warnings as _warnings
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from jaxlr import controllers as controllers
from jaxlr import engine as engine
from jaxlr import finder as finder
from jaxlr import optim as optim
from jaxlr import population as population
from jaxlr import schedules as schedules
from jaxlr import sweeps as sweeps
from jaxlr import tasks as tasks
from jaxlr.controllers import early_stopping as early_stopping
from jaxlr.engine import CheckpointError as CheckpointError
from jaxlr.engine import History as History
from jaxlr.engine import Task as Task
from jaxlr.engine import TrainState as TrainState
from jaxlr.engine import Variables as Variables
from jaxlr.engine import fit as fit
from jaxlr.engine import latest_checkpoint_step as latest_checkpoint_step
from jaxlr.engine import make_eval_step as make_eval_step
from jaxlr.engine import make_train_step as make_train_step
from jaxlr.engine import restore_checkpoint as restore_checkpoint
from jaxlr.engine import save_checkpoint as save_checkpoint
from jaxlr.finder import FindResult as FindResult
from jaxlr.finder import FinderResult as FinderResult
from jaxlr.finder import find as find
from jaxlr.finder import lr_find as lr_find
from jaxlr.finder import parallel_lr_find as parallel_lr_find
from jaxlr.finder import suggest_range as suggest_range
from jaxlr.optim import accumulate_gradients as accumulate_gradients
from jaxlr.optim import adagrad as adagrad
from jaxlr.optim import adam as adam
from jaxlr.optim import adamw as adamw
from jaxlr.optim import current_lr as current_lr
from jaxlr.optim import hyperparams as hyperparams
from jaxlr.optim import momentum as momentum
from jaxlr.optim import rmsprop as rmsprop
from jaxlr.optim import scale_lr as scale_lr
from jaxlr.optim import schedule_free_adamw as schedule_free_adamw
from jaxlr.optim import schedule_free_sgd as schedule_free_sgd
from jaxlr.optim import set_hyperparams as set_hyperparams
from jaxlr.optim import sgd as sgd
from jaxlr.schedules import Schedule as Schedule
from jaxlr.schedules import constant as constant
from jaxlr.schedules import cosine_decay as cosine_decay
from jaxlr.schedules import cosine_restarts as cosine_restarts
from jaxlr.schedules import cyclic as cyclic
from jaxlr.schedules import describe as describe
from jaxlr.schedules import exponential_decay as exponential_decay
from jaxlr.schedules import from_config as from_config
from jaxlr.schedules import inverse_sqrt as inverse_sqrt
from jaxlr.schedules import inverse_time_decay as inverse_time_decay
from jaxlr.schedules import join as join
from jaxlr.schedules import linear as linear
from jaxlr.schedules import multiply as multiply
from jaxlr.schedules import multistep_decay as multistep_decay
from jaxlr.schedules import one_cycle as one_cycle
from jaxlr.schedules import parse as parse
from jaxlr.schedules import piecewise_constant as piecewise_constant
from jaxlr.schedules import piecewise_linear as piecewise_linear
from jaxlr.schedules import polynomial_decay as polynomial_decay
from jaxlr.schedules import stack as stack
from jaxlr.schedules import step_decay as step_decay
from jaxlr.schedules import to_config as to_config
from jaxlr.schedules import warmup as warmup
from jaxlr.schedules import warmup_cosine as warmup_cosine
from jaxlr.schedules import warmup_stable_decay as warmup_stable_decay
from jaxlr.sweeps import Grid as Grid
from jaxlr.sweeps import SweepResult as SweepResult
from jaxlr.sweeps import Trainer as Trainer
from jaxlr.sweeps import choice as choice
from jaxlr.sweeps import grid as grid
from jaxlr.sweeps import int_uniform as int_uniform
from jaxlr.sweeps import kfold as kfold
from jaxlr.sweeps import loguniform as loguniform
from jaxlr.sweeps import optuna_search as optuna_search
from jaxlr.sweeps import pbt as pbt
from jaxlr.sweeps import refit as refit
from jaxlr.sweeps import successive_halving as successive_halving
from jaxlr.sweeps import sweep as sweep
from jaxlr.sweeps import sweep_from_config as sweep_from_config
from jaxlr.sweeps import sweep_task as sweep_task
from jaxlr.sweeps import uniform as uniform

try:
    __version__ = _version("jaxlr")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

#: Names that were top-level in jaxlr 0.1 and now live only in their layer namespace: they
#: still resolve (for one release) with a DeprecationWarning naming the replacement. ``scale``,
#: ``clip`` (schedule combinators; optax's are gradient transforms), ``inject_hyperparams``
#: (another signature than optax's) and ``reduce_on_plateau`` (a controller; optax's is a
#: transform) moved because they meant something else than the optax names they shadowed.
_MOVED = {
    "scale": "schedules", "clip": "schedules",
    "inject_hyperparams": "optim", "HyperState": "optim", "eval_params": "optim",
    "natural_gradient": "optim", "diagonal_natural_gradient": "optim",
    "fisher_vector_product": "optim", "NaturalGradientState": "optim",
    "DiagonalFisherState": "optim",
    "reduce_on_plateau": "controllers", "plateau_transform": "controllers",
    "Controller": "controllers", "PlateauHParams": "controllers", "PlateauState": "controllers",
    "EarlyStoppingHParams": "controllers", "EarlyStoppingState": "controllers",
    "Suggestion": "finder", "suggest_lr": "finder",
    "Choice": "sweeps", "Folds": "sweeps", "IntUniform": "sweeps", "LogUniform": "sweeps",
    "RefitResult": "sweeps", "Uniform": "sweeps", "sample_space": "sweeps",
    "select_trial": "sweeps", "space_from_config": "sweeps", "task_train_fn": "sweeps",
    "eval_step_fn": "engine", "train_step_fn": "engine",
}


def __getattr__(name: str):
    # Host-only edges are imported lazily so `import jaxlr` never pulls matplotlib or a CLI library.
    if name in ("plotting", "cli"):
        return _importlib.import_module(f"jaxlr.{name}")
    if name in _MOVED:
        layer = _MOVED[name]
        _warnings.warn(f"jaxlr.{name} is deprecated and will be removed; use "
                       f"jaxlr.{layer}.{name}.", DeprecationWarning, stacklevel=2)
        return getattr(_importlib.import_module(f"jaxlr.{layer}"), name)
    if name in ("train", "optimizers"):
        return _importlib.import_module(f"jaxlr.{name}")
    raise AttributeError(f"module 'jaxlr' has no attribute {name!r}")
