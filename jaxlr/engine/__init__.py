"""Public namespace: jaxlr.engine (train state, compiled steps, fit, checkpoints)."""

from jaxlr.engine._checkpoint import CheckpointError as CheckpointError
from jaxlr.engine._checkpoint import CheckpointManager as CheckpointManager
from jaxlr.engine._checkpoint import latest_checkpoint_step as latest_checkpoint_step
from jaxlr.engine._checkpoint import restore_checkpoint as restore_checkpoint
from jaxlr.engine._checkpoint import save_checkpoint as save_checkpoint
from jaxlr.engine._history import History as History
from jaxlr.engine._fit import fit as fit
from jaxlr.engine._step import TrainState as TrainState
from jaxlr.engine._step import eval_step_fn as eval_step_fn
from jaxlr.engine._step import make_eval_step as make_eval_step
from jaxlr.engine._step import make_train_step as make_train_step
from jaxlr.engine._step import train_step_fn as train_step_fn

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "History",
    "fit",
    "latest_checkpoint_step",
    "restore_checkpoint",
    "save_checkpoint",
    "TrainState",
    "eval_step_fn",
    "make_eval_step",
    "make_train_step",
    "train_step_fn",
]
