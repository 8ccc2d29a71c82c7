"""Public namespace: jaxlr.optim (optimizers whose hyperparameters live in their state)."""

from jaxlr.optim._optimizers import HyperState as HyperState
from jaxlr.optim._optimizers import accumulate_gradients as accumulate_gradients
from jaxlr.optim._optimizers import adagrad as adagrad
from jaxlr.optim._optimizers import adam as adam
from jaxlr.optim._optimizers import adamw as adamw
from jaxlr.optim._optimizers import current_lr as current_lr
from jaxlr.optim._optimizers import has_hyperparams as has_hyperparams
from jaxlr.optim._optimizers import hyperparams as hyperparams
from jaxlr.optim._optimizers import is_hyper_optimizer as is_hyper_optimizer
from jaxlr.optim._optimizers import learning_rate_schedule as learning_rate_schedule
from jaxlr.optim._optimizers import set_schedule_step as set_schedule_step
from jaxlr.optim._optimizers import inject_hyperparams as inject_hyperparams
from jaxlr.optim._optimizers import momentum as momentum
from jaxlr.optim._optimizers import rmsprop as rmsprop
from jaxlr.optim._optimizers import scale_lr as scale_lr
from jaxlr.optim._optimizers import set_hyperparams as set_hyperparams
from jaxlr.optim._optimizers import sgd as sgd
from jaxlr.optim._optimizers import with_hyperparams as with_hyperparams
from jaxlr.optim._registry import OPTIMIZERS as OPTIMIZERS
from jaxlr.optim._registry import get_optimizer as get_optimizer
from jaxlr.optim._registry import optimizer_from_hparams as optimizer_from_hparams
from jaxlr.optim._registry import register_optimizer as register_optimizer

__all__ = [
    "HyperState",
    "OPTIMIZERS",
    "get_optimizer",
    "optimizer_from_hparams",
    "register_optimizer",
    "accumulate_gradients",
    "adagrad",
    "adam",
    "adamw",
    "current_lr",
    "has_hyperparams",
    "hyperparams",
    "is_hyper_optimizer",
    "learning_rate_schedule",
    "inject_hyperparams",
    "momentum",
    "rmsprop",
    "scale_lr",
    "set_hyperparams",
    "set_schedule_step",
    "sgd",
    "with_hyperparams",
]

# --- natural gradient & schedule-free (issue 8) ---
from jaxlr.optim._natural_gradient import DiagonalFisherState as DiagonalFisherState  # noqa: E402
from jaxlr.optim._natural_gradient import NaturalGradientState as NaturalGradientState  # noqa: E402
from jaxlr.optim._natural_gradient import diagonal_natural_gradient as diagonal_natural_gradient  # noqa: E402,E501
from jaxlr.optim._natural_gradient import fisher_vector_product as fisher_vector_product  # noqa: E402
from jaxlr.optim._natural_gradient import natural_gradient as natural_gradient  # noqa: E402
from jaxlr.optim._schedule_free import eval_params as eval_params  # noqa: E402
from jaxlr.optim._schedule_free import schedule_free_adamw as schedule_free_adamw  # noqa: E402
from jaxlr.optim._schedule_free import schedule_free_sgd as schedule_free_sgd  # noqa: E402

__all__ += [
    "DiagonalFisherState",
    "NaturalGradientState",
    "diagonal_natural_gradient",
    "eval_params",
    "fisher_vector_product",
    "natural_gradient",
    "schedule_free_adamw",
    "schedule_free_sgd",
]

# --- learning-rate-free optimizers (optax.contrib, hyperparameters as data) ---
from jaxlr.optim._lr_free import LR_FREE as LR_FREE  # noqa: E402
from jaxlr.optim._lr_free import dadapt_adamw as dadapt_adamw  # noqa: E402
from jaxlr.optim._lr_free import dog as dog  # noqa: E402
from jaxlr.optim._lr_free import dowg as dowg  # noqa: E402
from jaxlr.optim._lr_free import mechanize as mechanize  # noqa: E402
from jaxlr.optim._lr_free import prodigy as prodigy  # noqa: E402

__all__ += [
    "LR_FREE",
    "dadapt_adamw",
    "dog",
    "dowg",
    "mechanize",
    "prodigy",
]
