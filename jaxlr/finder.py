"""Public namespace: jaxlr.finder (learning-rate range test, parallel finder, suggestions)."""

from jaxlr._src.finder import FinderResult as FinderResult
from jaxlr._src.finder import lr_find as lr_find
from jaxlr._src.finder import parallel_lr_find as parallel_lr_find
from jaxlr._src.finder import suggest_range as suggest_range
from jaxlr._src.suggest import Suggestion as Suggestion
from jaxlr._src.suggest import suggest_lr as suggest_lr

__all__ = ["FinderResult", "Suggestion", "lr_find", "parallel_lr_find", "suggest_lr",
           "suggest_range"]
