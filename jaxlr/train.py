"""Public namespace: jaxlr.train (train state, compiled steps, fit, checkpoints)."""

from jaxlr._src.checkpoint import latest_checkpoint_step as latest_checkpoint_step
from jaxlr._src.checkpoint import restore_checkpoint as restore_checkpoint
from jaxlr._src.checkpoint import save_checkpoint as save_checkpoint
from jaxlr._src.fit import History as History
from jaxlr._src.fit import fit as fit
from jaxlr._src.train import TrainState as TrainState
from jaxlr._src.train import eval_step_fn as eval_step_fn
from jaxlr._src.train import make_eval_step as make_eval_step
from jaxlr._src.train import make_train_step as make_train_step
from jaxlr._src.train import train_step_fn as train_step_fn

__all__ = [
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
