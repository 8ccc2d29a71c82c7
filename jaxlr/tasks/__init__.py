"""Built-in tasks (data + model + loss) for the CLI, examples and benchmarks.

==================== ============== ==================================================
name                 kind           what
==================== ============== ==================================================
``digits-mlp``       classification sklearn digits 8x8, MLP 64-128-10 (the default)
``digits-cnn``       classification sklearn digits 8x8, two 3x3 convolutions + dense
``diabetes``         regression     sklearn diabetes (442x10), standardised, MLP 10-32-1
``teacher-student``  regression     generated: MLP 16-64-1 fits a random tanh teacher
``transformer``      classification generated copy/reverse/sort sequences, decoder-only
                                    transformer (flax nnx) 4x64, context 32
``transformer-tiny`` classification the same at test-suite size: 2x32, context 16
==================== ============== ==================================================

None needs a download (scikit-learn ships the digits and diabetes data; the teacher-student and
transformer data are generated from a seed).
"""

from jaxlr.engine import Task as Task
from jaxlr.tasks._builtin import cnn_apply as cnn_apply
from jaxlr.tasks._builtin import cnn_init as cnn_init
from jaxlr.tasks._builtin import diabetes as diabetes
from jaxlr.tasks._builtin import digits_cnn as digits_cnn
from jaxlr.tasks._builtin import digits_mlp as digits_mlp
from jaxlr.engine import get_task as get_task
from jaxlr.engine import list_tasks as list_tasks
from jaxlr.tasks._builtin import mlp_apply as mlp_apply
from jaxlr.tasks._builtin import mlp_init as mlp_init
from jaxlr.engine import register_task as register_task
from jaxlr.tasks._builtin import teacher_student as teacher_student
from jaxlr.tasks._transformer import transformer_lm as transformer_lm
from jaxlr.tasks._transformer import transformer_tiny as transformer_tiny

register_task("transformer", transformer_lm)
register_task("transformer-tiny", transformer_tiny)

__all__ = ["Task", "cnn_apply", "cnn_init", "diabetes", "digits_cnn", "digits_mlp", "get_task",
           "list_tasks", "mlp_apply", "mlp_init", "register_task", "teacher_student",
           "transformer_lm", "transformer_tiny"]
