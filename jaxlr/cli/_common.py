"""Host-only helpers of the ``jaxlr`` command: errors, compilation cache, tasks, output.

Nothing here is imported by numeric code; matplotlib, tqdm and typer are imported lazily.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import jaxlr
from jaxlr._utils._validation import MAX_MESSAGE, shorten

#: Environment variables the CLI reads (documented in ``jaxlr --help``).
CACHE_ENV = "JAXLR_COMPILATION_CACHE"          # "0"/"off"/"false" disables the cache
CACHE_DIR_ENV = "JAXLR_CACHE_DIR"              # overrides the cache location
DEBUG_ENV = "JAXLR_DEBUG"                      # "1": show tracebacks instead of one-line errors
_FALSE = ("", "0", "off", "false", "no")

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw")


class CliError(Exception):
    """A user error: printed as one line (``jaxlr CMD: error: ...``), exit code 2."""


def debug_enabled() -> bool:
    """``JAXLR_DEBUG`` is set to something other than 0/off/false/no: show tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in _FALSE


# ----------------------------------------------------------------------------------------------
# Persistent compilation cache
# ----------------------------------------------------------------------------------------------

def default_cache_dir() -> Path:
    """``$JAXLR_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxlr/jax``, else ``~/.cache/jaxlr/jax``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxlr" / "jax"


def cache_enabled_by_env() -> bool:
    return os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def enable_compilation_cache(cache_dir: str | os.PathLike | None = None) -> Path | None:
    """Turns on JAX's persistent compilation cache (CLI entry point only, never library code).

    A repeated ``jaxlr find`` then loads its compiled program from disk instead of compiling
    it again. If the user already configured a cache (``JAX_COMPILATION_CACHE_DIR``), that one
    is kept. Returns the directory used, or ``None`` if it could not be created.
    """
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    path = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # read-only home etc.: run without a cache rather than fail
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Cache every program that took noticeable time to compile (the default, 1 s, would skip
    # most of the small programs of a CLI run on a fast machine).
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


# ----------------------------------------------------------------------------------------------
# Parsing user input
# ----------------------------------------------------------------------------------------------

def parse_schedule(spec: str, option: str = "SPEC") -> Any:

    try:
        return jaxlr.parse(spec)
    except (ValueError, TypeError) as e:
        raise CliError(f"bad schedule {option} {shorten(spec, 80)}: {parse_message(e)}"
                       ) from None


def parse_message(error: BaseException) -> str:
    """``jaxlr.parse``'s message on one line: its first line and its hint, without the
    two-line display of the spec and the caret under the error position."""
    lines = str(error).splitlines()
    if len(lines) >= 3 and lines[2].lstrip().startswith("^"):
        lines = [lines[0], lines[2].lstrip()[1:]] + lines[3:]
    return one_line(" ".join(lines))


def optimizer_factory(name: str) -> Callable[[Any], Any]:
    """``learning_rate -> optax.GradientTransformation`` for an optimizer name."""

    name = name.lower()
    table: dict[str, Callable[[Any], Any]] = {
        "sgd": jaxlr.sgd,
        "momentum": functools.partial(jaxlr.momentum, momentum=0.9),
        "nesterov": functools.partial(jaxlr.momentum, momentum=0.9, nesterov=True),
        "rmsprop": jaxlr.rmsprop,
        "adagrad": jaxlr.adagrad,
        "adam": jaxlr.adam,
        "adamw": jaxlr.adamw,
    }
    if name not in table:
        raise CliError(f"unknown optimizer {shorten(name)}; choose one of "
                       f"{', '.join(OPTIMIZERS)}.")
    return table[name]


def parse_float(text: str, option: str, *, positive: bool = True) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CliError(f"{option} must be a number; got {shorten(text)}.") from None
    if positive and not (math.isfinite(value) and value > 0):
        raise CliError(f"{option} must be a finite number > 0; got {shorten(text)}.")
    return value


def check_count(value: int | None, option: str, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise CliError(f"{option} must be >= {minimum}; got {value}.")


# ----------------------------------------------------------------------------------------------
# Tasks: built-in names and user tasks "module:function"
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass
class UserTask:
    """A task the user supplies as ``module:function`` returning (init, loss, data[, valid])."""

    name: str
    init: Callable[..., Any]
    loss: Callable[..., Any]
    train: Any
    valid: Any
    batch_size: int
    metrics: Any = None
    kind: str = "user"
    description: str = ""
    default_lr: float = 1e-3
    steps: int = 200

    @property
    def num_train(self) -> int:
        import jax

        return int(jax.tree_util.tree_leaves(self.train)[0].shape[0])


def _import_target(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise CliError(f"a user task is written MODULE:FUNCTION (e.g. mytasks:make_task); got "
                       f"{shorten(target)}.")
    try:
        if module_name.endswith(".py") or os.sep in module_name:
            path = Path(module_name)
            if not path.exists():
                raise CliError(f"user task file {shorten(module_name)} does not exist.")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except CliError:
        raise
    except ImportError as e:
        raise CliError(f"cannot import module {shorten(module_name)} of user task "
                       f"{shorten(target)}: {_one_line(e)}. Run from the directory that "
                       f"contains it or put it on PYTHONPATH.") from None
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise CliError(f"module {shorten(module_name)} has no function {shorten(attr)} (user "
                       f"task {shorten(target)}).")
    return fn


def load_task(name: str, *, batch_size: int | None = None) -> Any:
    """A built-in :class:`jaxlr.tasks.Task` by name, or a user task ``module:function``.

    The user function takes no arguments and returns a :class:`jaxlr.tasks.Task`, or a tuple
    ``(init, loss, data)`` / ``(init, loss, data, valid_data)`` where ``init(key) -> params``,
    ``loss(params, batch) -> scalar`` and ``data`` is a pytree of arrays with a leading example
    axis (e.g. ``(x, y)``).
    """

    if ":" not in name:
        if name not in jaxlr.tasks.list_tasks():
            raise CliError(f"unknown task {shorten(name)}; the built-in tasks are "
                           f"{', '.join(jaxlr.tasks.list_tasks())}, or give your own as "
                           f"MODULE:FUNCTION.")
        kwargs = {"batch_size": batch_size} if batch_size else {}
        return jaxlr.tasks.get_task(name, **kwargs)
    fn = _import_target(name)
    try:
        out = fn()
    except (ValueError, TypeError) as e:
        raise CliError(f"user task {shorten(name)} raised: {_one_line(e)}") from None
    if isinstance(out, jaxlr.tasks.Task):
        return dataclasses.replace(out, batch_size=batch_size) if batch_size else out
    if not isinstance(out, (tuple, list)) or len(out) not in (3, 4) or not callable(
            out[0]) or not callable(out[1]):
        raise CliError(f"user task {shorten(name)} must return a jaxlr.tasks.Task or a tuple "
                       f"(init, loss, data[, valid_data]) with init(key) -> params and "
                       f"loss(params, batch) -> scalar; got {type(out).__name__}.")
    import jax

    init, loss, data = out[:3]
    valid = out[3] if len(out) == 4 else None
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves or any(np.ndim(x) == 0 for x in leaves):
        raise CliError(f"user task {shorten(name)}: `data` must be a pytree of arrays with a "
                       f"leading example axis, e.g. (x, y).")
    n = int(np.shape(leaves[0])[0])
    bs = batch_size or min(64, n)
    return UserTask(name=name, init=init, loss=loss, train=data, valid=valid, batch_size=bs,
                    description=f"user task {name}")


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------

def one_line(text: Any, limit: int = MAX_MESSAGE) -> str:
    """``str(text)`` on one line (runs of whitespace become one space), at most ``limit``
    characters."""
    line = " ".join(str(text).split())
    if len(line) > limit:
        line = line[:limit - 30] + f"... ({len(line)} characters)"
    return line


_one_line = one_line


def fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else ""
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if not math.isfinite(x):
            return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        return f"{x:.{digits}g}"
    return str(x)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (right-aligned numbers), like the sweep table."""
    cells = [[str(h) for h in headers]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    # Text columns are left-aligned, numeric ones right-aligned.
    text = [any(isinstance(row[i], str) for row in rows) for i in range(len(headers))]

    def line(r):
        return "  ".join(c.ljust(w) if t else c.rjust(w)
                         for c, w, t in zip(r, widths, text)).rstrip()

    lines = [line(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in cells[1:]]
    return "\n".join(lines)


def json_default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return [json_default(v) for v in x.tolist()] if x.ndim else json_default(x.item())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    return str(x)


def clean_json(x: Any) -> Any:
    """NaN/inf -> None recursively (strict JSON for scripts)."""
    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return clean_json(x.tolist())
    return x


def dumps(obj: Any) -> str:
    return json.dumps(clean_json(obj), default=json_default, indent=2)


def pyplot():
    """matplotlib.pyplot with a file backend when there is no display."""
    import matplotlib

    if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(obj: Any, path: Path) -> Path:
    """Saves a matplotlib Figure or the figure of an Axes (or array of Axes) and closes it."""
    plt = pyplot()
    fig = obj
    if isinstance(obj, np.ndarray):
        obj = obj.ravel()[0]
    if hasattr(obj, "figure") and not hasattr(obj, "savefig"):
        fig = obj.figure
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


class Status:
    """Progress on stderr: a tqdm bar over stages, silent with ``--quiet``/``--json``."""

    def __init__(self, total: int, desc: str, *, enabled: bool):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                            bar_format="{desc}: {n_fmt}/{total_fmt} [{elapsed}] {postfix}")

    def step(self, note: str = "") -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(note)
            self.bar.update(1)

    def note(self, note: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(note)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
