"""Built-in tasks (data + model + loss) for the CLI, examples and benchmarks."""

from jaxlr._src.tasks import Task as Task
from jaxlr._src.tasks import digits_mlp as digits_mlp
from jaxlr._src.tasks import get_task as get_task
from jaxlr._src.tasks import list_tasks as list_tasks
from jaxlr._src.tasks import mlp_apply as mlp_apply
from jaxlr._src.tasks import mlp_init as mlp_init
from jaxlr._src.tasks import register_task as register_task

__all__ = ["Task", "digits_mlp", "get_task", "list_tasks", "mlp_apply", "mlp_init", "register_task"]
