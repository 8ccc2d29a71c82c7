"""Public namespace: jaxlr.engine — the one training kernel and everything around one run.

* the problem every entry point accepts: :class:`Task`, :class:`Variables`, :func:`as_problem`
  (the adapter) and its result :class:`Problem` / :class:`Model`;
* the state and the step: :class:`TrainState`, :func:`train_step` (the step of every run),
  :func:`train_step_fn`, :func:`make_train_step`, :func:`eval_step_fn`, :func:`make_eval_step`,
  :func:`evaluate`;
* the kernel: :class:`Plan` (the static structure of a run), :func:`run` (``N`` updates as one
  ``lax.scan`` with evaluation and controllers inside), :func:`run_chunk`, :class:`Data` and the
  on-device batching (:func:`batch_indices`, :func:`batch_table`, :func:`get_batch`);
* :func:`fit` (the kernel on one run, driven from the host), :class:`History`, checkpoints;
* :func:`as_key`, the one rule for ``key`` arguments; :func:`trained_module` (flax nnx).
"""

from jaxlr.engine._checkpoint import CheckpointError as CheckpointError
from jaxlr.engine._checkpoint import CheckpointManager as CheckpointManager
from jaxlr.engine._checkpoint import latest_checkpoint_step as latest_checkpoint_step
from jaxlr.engine._checkpoint import restore_checkpoint as restore_checkpoint
from jaxlr.engine._checkpoint import save_checkpoint as save_checkpoint
from jaxlr.engine._data import Data as Data
from jaxlr.engine._data import batch_indices as batch_indices
from jaxlr.engine._data import batch_table as batch_table
from jaxlr.engine._data import get_batch as get_batch
from jaxlr.engine._data import nbytes as nbytes
from jaxlr.engine._data import take as take
from jaxlr.engine._fit import fit as fit
from jaxlr.engine._history import History as History
from jaxlr.engine._keys import as_key as as_key
from jaxlr.engine._optimizer import RateOptimizer as RateOptimizer
from jaxlr.engine._optimizer import describe_optimizer as describe_optimizer
from jaxlr.engine._optimizer import rate_optimizer as rate_optimizer
from jaxlr.engine._problem import Model as Model
from jaxlr.engine._problem import Problem as Problem
from jaxlr.engine._problem import Task as Task
from jaxlr.engine._problem import Variables as Variables
from jaxlr.engine._problem import as_problem as as_problem
from jaxlr.engine._problem import check_dataset as check_dataset
from jaxlr.engine._problem import trained_module as trained_module
from jaxlr.engine._run import PREGATHER_BYTES as PREGATHER_BYTES
from jaxlr.engine._run import Plan as Plan
from jaxlr.engine._run import run as run
from jaxlr.engine._run import run_chunk as run_chunk
from jaxlr.engine._run import should_pregather as should_pregather
from jaxlr.engine._step import TrainState as TrainState
from jaxlr.engine._tasks import get_task as get_task
from jaxlr.engine._tasks import list_tasks as list_tasks
from jaxlr.engine._tasks import register_task as register_task
from jaxlr.engine._step import check_controller as check_controller
from jaxlr.engine._step import check_optimizer as check_optimizer
from jaxlr.engine._step import eval_step_fn as eval_step_fn
from jaxlr.engine._step import evaluate as evaluate
from jaxlr.engine._step import is_extra_args as is_extra_args
from jaxlr.engine._step import make_eval_step as make_eval_step
from jaxlr.engine._step import make_train_step as make_train_step
from jaxlr.engine._step import train_step as train_step
from jaxlr.engine._step import train_step_fn as train_step_fn

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "Data",
    "History",
    "Model",
    "PREGATHER_BYTES",
    "Plan",
    "Problem",
    "RateOptimizer",
    "Task",
    "TrainState",
    "Variables",
    "as_key",
    "as_problem",
    "batch_indices",
    "batch_table",
    "check_controller",
    "check_dataset",
    "check_optimizer",
    "describe_optimizer",
    "eval_step_fn",
    "evaluate",
    "fit",
    "get_batch",
    "get_task",
    "is_extra_args",
    "latest_checkpoint_step",
    "list_tasks",
    "make_eval_step",
    "make_train_step",
    "nbytes",
    "rate_optimizer",
    "register_task",
    "restore_checkpoint",
    "run",
    "run_chunk",
    "save_checkpoint",
    "should_pregather",
    "take",
    "train_step",
    "train_step_fn",
    "trained_module",
]
