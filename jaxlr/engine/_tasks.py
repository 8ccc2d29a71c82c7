"""The registry of tasks by name (``jaxlr.tasks.get_task``, the CLI, configuration files).

The registry lives in the engine layer so that every layer above it (finders, sweeps and their
configuration files) can resolve a task name; :mod:`jaxlr.tasks` registers the built-in tasks
when it is imported (``import jaxlr`` does), and :func:`register_task` adds your own.
"""

from __future__ import annotations

from typing import Any, Callable

from jaxlr._utils._validation import fail, shorten
from jaxlr.engine._problem import Task

__all__ = ["register_task", "list_tasks", "get_task"]

_REGISTRY: dict[str, Callable[..., Task]] = {}


def register_task(name: str, factory: Callable[..., Task]) -> None:
    """Adds a task factory to the registry used by ``get_task``, the CLI and config files."""
    if not isinstance(name, str) or not name:
        fail("register_task", f"`name` must be a non-empty string; got {shorten(name)}.",
             error=TypeError)
    if not callable(factory):
        fail("register_task", f"`factory` must be callable (returning a Task); got "
             f"{shorten(factory)}.", error=TypeError)
    _REGISTRY[name] = factory


def list_tasks() -> list[str]:
    """Names of the registered tasks."""
    return sorted(_REGISTRY)


def get_task(name: str = "digits-mlp", **kwargs: Any) -> Task:
    """Builds a registered task by name (see :func:`list_tasks`).

    Keyword arguments go to the task's factory (``seed``, ``batch_size``, sizes, ...).

    Examples:
      >>> from jaxlr.tasks import get_task, list_tasks
      >>> "digits-mlp" in list_tasks()
      True
      >>> task = get_task("digits-mlp")
      >>> task.kind, task.batch_size
      ('classification', 64)
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        fail("get_task", f"unknown task {shorten(name)}; the registered tasks are "
             f"{', '.join(list_tasks())}.", hint="Register your own with "
             "jaxlr.tasks.register_task(name, factory).")
    return _REGISTRY[name](**kwargs)
