"""Public namespace: jaxlr.finder (learning-rate range test, parallel finder, suggestions)."""

from jaxlr.finder._result import FinderResult as FinderResult
from jaxlr.finder._find import FindResult as FindResult
from jaxlr.finder._find import find as find
from jaxlr.finder._finder import lr_find as lr_find
from jaxlr.finder._finder import parallel_lr_find as parallel_lr_find
from jaxlr.finder._result import suggest_range as suggest_range
from jaxlr.finder._suggest import Suggestion as Suggestion
from jaxlr.finder._suggest import suggest_lr as suggest_lr

__all__ = ["FindResult", "FinderResult", "find", "Suggestion", "lr_find", "parallel_lr_find", "suggest_lr",
           "suggest_range"]
