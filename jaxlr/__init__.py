"""jaxlr: learning-rate strategies for JAX.

Traceable schedules (every hyperparameter is data), compiled training, parallel learning-rate
finders and vectorised sweeps. The top-level namespace re-exports the public layers:
``jaxlr.schedules``, ``jaxlr.optim``, ``jaxlr.controllers``, ``jaxlr.engine``,
``jaxlr.finder``, ``jaxlr.sweeps``; ``jaxlr.tasks``, ``jaxlr.plotting`` and ``jaxlr.cli`` are
imported on demand.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from jaxlr import controllers as controllers
from jaxlr import finder as finder
from jaxlr import optim as optim
from jaxlr import schedules as schedules
from jaxlr import sweeps as sweeps
from jaxlr import tasks as tasks
from jaxlr import engine as engine
from jaxlr.controllers import *  # noqa: F401,F403
from jaxlr.finder import *  # noqa: F401,F403
from jaxlr.optim import *  # noqa: F401,F403
from jaxlr.schedules import *  # noqa: F401,F403
from jaxlr.sweeps import *  # noqa: F401,F403
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

try:
    __version__ = _version("jaxlr")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    # Host-only edges are imported lazily so `import jaxlr` never pulls matplotlib or a CLI library.
    if name in ("plotting", "cli"):
        import importlib

        return importlib.import_module(f"jaxlr.{name}")
    raise AttributeError(f"module 'jaxlr' has no attribute {name!r}")
