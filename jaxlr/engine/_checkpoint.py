"""Checkpoints of a :class:`~jaxlr.TrainState` (or any pytree of arrays) with orbax-checkpoint.

orbax-checkpoint is imported lazily (``pip install 'jaxlr[checkpoint]'``).

A state is saved by orbax as the pytree itself, with its tree paths (PRNG keys as their key data,
sharded arrays shard by shard, nothing gathered on the host), and restored into the structure,
shapes, dtypes and *shardings* of a target state built the same way (``TrainState.create`` with
the same optimizer), so hyperparameters, schedule values, controller states, the step and the key
come back bit for bit, a sharded state comes back sharded, and the restored state runs the same
compiled programs.

Layout of a checkpoint directory::

    <directory>/
      <step>/                    one directory per step (an orbax composite checkpoint)
        state/                   the state pytree (orbax)
        jaxlr/                   jaxlr's record: path, shape and dtype of every leaf
        _CHECKPOINT_METADATA ... orbax's own files
        jaxlr_checksums.json     size and CRC32 of every file of the step
      <step>.jaxlr-tmp/          a save in progress, or one that was interrupted: not a step
      <step>.jaxlr-replaced-<n>/ an earlier step of the same number, moved aside (never deleted)

A step directory appears (one atomic rename) only when it is complete, checksums included: a
save that is interrupted (crash, ``kill -9``, full disk) leaves no partial step, at most a
``.jaxlr-tmp`` directory, which is never read and is removed when that step is saved again.
Restoring checks a step before reading it (checksums, then jaxlr's record against the target:
tree paths, shapes, dtypes) and reports a damaged, foreign or mismatched step as a
:class:`CheckpointError` naming the directory, the step and the reason;
``CheckpointManager.restore_latest(target, on_damaged="fallback")`` resumes from the newest
intact step instead. jaxlr never deletes a step on its own (only ``max_to_keep`` does): damaged
steps are left for the user to inspect, move or delete.

Checkpoints written by jaxlr before this format (a flat list of leaves, without the ``jaxlr``
record and checksums) are not readable any more: they are reported as foreign.

Only local (POSIX) paths are supported.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import errno as _errno
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
import zlib
from importlib import metadata as _metadata
from typing import Any, Self

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr._utils._validation import check_steps, fail, is_traced

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "check_directory",
    "latest_checkpoint_step",
    "restore_checkpoint",
    "save_checkpoint",
]

_STATE = "state"                       # orbax item: the state pytree
_RECORD = "jaxlr"                      # orbax item: jaxlr's record of the leaves
_CHECKSUMS = "jaxlr_checksums.json"    # written into the step before it appears
_FORMAT, _VERSION = "jaxlr-checkpoint", 1
_TMP, _DELETING, _REPLACED = ".jaxlr-tmp", ".jaxlr-deleting", ".jaxlr-replaced-"
_PROBE = ".jaxlr-write-probe-"
_STEP_RE = re.compile(r"0|[1-9][0-9]*")
# what a jaxlr (or orbax) checkpoint directory may hold besides step directories
_OWN_DIR_RE = re.compile(
    r"(0|[1-9][0-9]*)(\.jaxlr-tmp|\.jaxlr-deleting|\.jaxlr-replaced-[0-9]+)?"
    r"(\.orbax-checkpoint-tmp(-[0-9]+)?)?")
_ORBAX_ROOT_DIRS = ("metadata",)       # orbax CheckpointManager's root metadata directory
_ON_DAMAGED = ("raise", "fallback")
_CHUNK = 1 << 20


def _ocp():
    try:
        import orbax.checkpoint as ocp  # noqa: PLC0415
    except ImportError as e:  # pragma: no cover - optional dependency
        raise ImportError("jaxlr checkpoints need orbax-checkpoint: "
                          "pip install 'jaxlr[checkpoint]'.") from e
    return ocp


def _checkpointer(ocp):
    """orbax's synchronous checkpointer of composite steps (use it in a ``with`` block).

    Item directories are created synchronously: a failed save leaves no directory creation
    running in the background (which would recreate the partial save after its cleanup).
    """
    options = ocp.CompositeOptions(
        async_options=ocp.options.AsyncOptions(create_directories_asynchronously=False))
    return ocp.Checkpointer(ocp.CompositeCheckpointHandler(composite_options=options))


@contextlib.contextmanager
def _orbax_call():
    """Runs one orbax save or restore; when it fails, lets its in-flight work finish quietly.

    When one read or write of a step fails, orbax closes the event loop of that call while
    tensorstore still completes the others; each of them then reports "Event loop is closed"
    on ``sys.unraisablehook`` (dozens of tracebacks, no effect: their results are discarded).
    For the duration of the call, and on failure until those completions have stopped, exactly
    these reports are dropped; every other one goes to the previous hook, which is put back.
    """
    previous = sys.unraisablehook
    dropped = []

    def hook(unraisable):
        e = unraisable.exc_value
        if isinstance(e, RuntimeError) and str(e) == "Event loop is closed":
            dropped.append(time.monotonic())
            return
        previous(unraisable)

    # the same in-flight reads, collected later, are logged by asyncio as "Task exception was
    # never retrieved" (an orbax deserialisation task whose result nobody awaits any more)
    quiet = _OrbaxTaskFilter()
    asyncio_log = logging.getLogger("asyncio")
    sys.unraisablehook = hook
    asyncio_log.addFilter(quiet)
    try:
        yield
    except BaseException:
        # an abandoned task may also be collected much later (another call, interpreter
        # exit): after a failure the process keeps dropping exactly these reports
        if _AFTER_FAILURE not in asyncio_log.filters:
            asyncio_log.addFilter(_AFTER_FAILURE)
        # in-flight completions arrive within milliseconds: wait at least 0.3 s, and until
        # 0.1 s pass without one (at most 2 s)
        start = last = time.monotonic()
        seen = len(dropped)
        while time.monotonic() - start < 2.0:
            time.sleep(0.02)
            now = time.monotonic()
            if len(dropped) != seen:
                seen, last = len(dropped), now
            elif now - last >= 0.1 and now - start >= 0.3:
                break
        gc.collect()                   # the abandoned tasks are collected (and logged) now
        raise
    finally:
        asyncio_log.removeFilter(quiet)
        if sys.unraisablehook is hook:
            sys.unraisablehook = previous


class _OrbaxTaskFilter(logging.Filter):
    """Drops asyncio's report of an abandoned orbax read or write task (see _orbax_call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Task exception was never retrieved"):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        tb = exc.__traceback__ if exc is not None else None
        while tb is not None:
            if "orbax" in tb.tb_frame.f_code.co_filename:
                return False
            tb = tb.tb_next
        return True


_AFTER_FAILURE = _OrbaxTaskFilter()


# --------------------------------------------------------------------------- errors and words


class CheckpointError(ValueError):
    """A checkpoint step that cannot be restored into the target.

    Raised by :class:`CheckpointManager` restores (and :func:`restore_checkpoint`) when a step is
    damaged (emptied, truncated or altered files, a missing checksum file), foreign (not written
    by this version of jaxlr) or holds another state than the target (different tree paths,
    shapes or dtypes). The message names the directory, the step, the reason and the fix; the
    underlying orbax or file-system exception, if any, is chained (``__cause__``).

    Attributes:
      directory: the checkpoint directory.
      step: the step (``None`` when the error concerns every step of the directory).
      reason: why, in words.
      damaged: ``True`` when the step's files are damaged (``on_damaged="fallback"`` skips such
        a step), ``False`` when the files are intact but are not a checkpoint of the target.
    """

    def __init__(self, message: str, *, directory: str | None = None, step: int | None = None,
                 reason: str | None = None, damaged: bool = True):
        super().__init__(message)
        self.directory = directory
        self.step = step
        self.reason = reason
        self.damaged = damaged


def _short(value: Any, limit: int = 120) -> str:
    """``str(value)`` shortened in the middle to at most ``limit`` characters."""
    s = str(value)
    if len(s) <= limit:
        return s
    head = (limit - 3) // 2
    return s[:head] + "..." + s[len(s) - (limit - 3 - head):]


def _first_line(e: BaseException, limit: int = 160) -> str:
    """The start of an exception's message (the full one is in the chained exception)."""
    lines = str(e).strip().splitlines()
    text = lines[0].strip() if lines else type(e).__name__
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _check_path(fn: str, name: str, directory: Any) -> str:
    if isinstance(directory, bytes) or not isinstance(directory, (str, os.PathLike)):
        fail(fn, f"`{name}` must be a path (str or os.PathLike); got {name}="
             f"{_short(repr(directory), 80)} of type {type(directory).__name__}.",
             error=TypeError)
    path = os.fspath(directory)
    if not isinstance(path, str):
        fail(fn, f"`{name}` must be a str path; got {name}={_short(repr(path), 80)}.",
             error=TypeError)
    if not path:
        fail(fn, f"`{name}` must not be empty; got {name}=''.",
             hint="Pass a directory, e.g. 'checkpoints/run1' (it is created if needed).")
    return os.path.abspath(path)


# --------------------------------------------------------------------------- the directory


def _is_own_entry(root: str, name: str) -> bool:
    """True for what jaxlr or orbax put at the top level of a checkpoint directory."""
    path = os.path.join(root, name)
    if name.startswith(_PROBE):
        return os.path.isfile(path) and not os.path.islink(path)
    if _OWN_DIR_RE.fullmatch(name) or name in _ORBAX_ROOT_DIRS:
        return os.path.isdir(path) and not os.path.islink(path)
    return False


def _probe_write(path: str) -> None:
    fd, probe = tempfile.mkstemp(prefix=_PROBE, dir=path)
    try:
        os.write(fd, b"jaxlr")
    finally:
        os.close(fd)
        os.remove(probe)


def check_directory(fn: str, directory: Any, *, name: str = "checkpoint_dir") -> str:
    """Checks, before any work starts, that ``directory`` can hold jaxlr checkpoints.

    The path must be a directory or creatable, writable (a temporary file is created and removed;
    a directory created for the check is removed again), and hold nothing but what jaxlr and
    orbax write (step directories, interrupted saves, orbax metadata), so that a wrong path is
    reported before training instead of at the first save.

    Args:
      fn: the public function to name in errors (e.g. ``"fit"``).
      directory: the checkpoint directory (str or ``os.PathLike``).
      name: the argument to name in errors.

    Returns:
      The absolute path.

    Raises:
      TypeError: ``directory`` is not a path.
      ValueError: it is not a directory (e.g. a regular file), cannot be created, is not
        writable, or holds entries that are not jaxlr checkpoints.
    """
    path = _check_path(fn, name, directory)
    shown = _short(path)
    fix_new = "Pass a directory path (a new one is created), e.g. a fresh 'checkpoints/run1'."
    if os.path.lexists(path) and not os.path.isdir(path):
        kind = "a regular file" if os.path.isfile(path) else "not a directory"
        fail(fn, f"`{name}` must be a directory; got {name}={shown!r}, which is {kind}.",
             hint=fix_new)
    if not os.path.exists(path):
        top, parent = path, os.path.dirname(path)
        while not os.path.lexists(parent):
            top, parent = parent, os.path.dirname(parent)
        if not os.path.isdir(parent):
            fail(fn, f"`{name}`={shown!r} cannot be created: {_short(parent)!r} is not a "
                 "directory.", hint=fix_new)
        try:
            os.makedirs(path)
        except OSError as e:
            raise ValueError(f"{fn}: `{name}`={shown!r} cannot be created "
                             f"({type(e).__name__}: {e.strerror or e}). {fix_new}") from e
        try:
            _probe_write(path)
        except OSError as e:
            raise ValueError(f"{fn}: `{name}`={shown!r} is not writable "
                             f"({type(e).__name__}: {e.strerror or e}). "
                             "Pass a directory you can write to.") from e
        finally:
            d = path
            while True:  # remove what the check created, deepest first
                try:
                    os.rmdir(d)
                except OSError:
                    break
                if d == top:
                    break
                d = os.path.dirname(d)
        return path
    try:
        _probe_write(path)
    except OSError as e:
        raise ValueError(f"{fn}: `{name}`={shown!r} is not writable "
                         f"({type(e).__name__}: {e.strerror or e}). "
                         "Pass a directory you can write to.") from e
    foreign = sorted(n for n in os.listdir(path) if not _is_own_entry(path, n))
    if foreign:
        listed = ", ".join(repr(_short(n, 60)) for n in foreign[:5])
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        fail(fn, f"`{name}`={shown!r} holds entries that are not jaxlr checkpoints: "
             f"{listed}{more}.", hint="Use an empty or jaxlr-created directory (a new path is "
             "created); jaxlr does not write checkpoints among other files.")
    return path


# --------------------------------------------------------------------------- leaves and records


def _is_key(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _saveable(fn: str, state: Any) -> tuple[Any, list[dict]]:
    """The state with keys as key data and every leaf a jax.Array, and the record of its leaves."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(state)
    out, record = [], []
    for path, x in flat:
        where = jax.tree_util.keystr(path) or "<root>"
        if is_traced(x):
            fail(fn, f"the state leaf {where} is a tracer: a checkpoint is saved outside of "
                 "jit/vmap.", hint="Call it on the state a compiled step returned.",
                 error=TypeError)
        key = None
        if isinstance(x, jax.Array) and _is_key(x):
            key = {"dtype": str(x.dtype), "impl": str(jax.random.key_impl(x))}
            x = jax.random.key_data(x)
        elif not isinstance(x, jax.Array):
            if not isinstance(x, (np.ndarray, np.generic, bool, int, float, complex)):
                fail(fn, f"the state leaf {where} is a {type(x).__name__}; a checkpoint holds "
                     "arrays and numbers only.", hint="Keep other values out of the state "
                     "(e.g. as static fields of a registered dataclass).", error=TypeError)
            try:
                x = jnp.asarray(x)
            except TypeError as e:
                raise TypeError(f"{fn}: the state leaf {where} ({type(x).__name__} of dtype "
                                f"{getattr(x, 'dtype', '?')}) is not an array of numbers; a "
                                "checkpoint holds arrays and numbers only.") from e
        if x.is_deleted():
            fail(fn, f"the array at {where} has been deleted (donated to a jitted function?).",
                 hint="Save the state the last step returned, not one passed to a function "
                 "with donate_argnums.")
        out.append(x)
        record.append({"path": where, "shape": list(x.shape), "dtype": x.dtype.name, "key": key})
    return jax.tree_util.tree_unflatten(treedef, out), record


def _abstract(fn: str, target: Any):
    """Abstract leaves (shape, dtype, sharding) of the target, its record and its treedef."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(target)
    abstract, record = [], []
    default = None
    for path, t in flat:
        where = jax.tree_util.keystr(path) or "<root>"
        key = None
        if _is_key(t):
            if isinstance(t, jax.Array):
                data = jax.random.key_data(t)
                sharding = data.sharding
                key = {"dtype": str(t.dtype), "impl": str(jax.random.key_impl(t))}
            else:  # an abstract key: the implementation comes from the checkpoint's record
                data = jax.eval_shape(jax.random.key_data, t)
                sharding = None
                key = {"dtype": str(t.dtype), "impl": None}
            shape, dtype = data.shape, data.dtype
        elif isinstance(t, (jax.Array, jax.ShapeDtypeStruct)):
            shape, dtype, sharding = t.shape, t.dtype, t.sharding
        elif isinstance(t, (np.ndarray, np.generic, bool, int, float, complex)):
            a = np.asarray(t)
            if a.dtype == object:
                fail(fn, f"the target leaf {where} is an object array; the target is a state "
                     "of arrays built like the saved one.", error=TypeError)
            shape, dtype, sharding = a.shape, jax.dtypes.canonicalize_dtype(a.dtype), None
        else:
            fail(fn, f"the target leaf {where} is a {type(t).__name__}; the target is a state of "
                 "arrays built like the saved one (e.g. TrainState.create(params, optimizer)).",
                 error=TypeError)
        if sharding is None:
            if default is None:
                default = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
            sharding = default
        abstract.append(jax.ShapeDtypeStruct(tuple(shape), dtype, sharding=sharding))
        record.append({"path": where, "shape": list(shape), "dtype": np.dtype(dtype).name,
                       "key": key})
    return jax.tree_util.tree_unflatten(treedef, abstract), record, treedef


def _mismatch(saved: list[dict], want: list[dict]) -> str | None:
    """The first difference between the saved leaves and the target's, in words."""
    for s, t in zip(saved, want):
        if s["path"] != t["path"]:
            return (f"the first differing leaf is {s['path']} in the checkpoint but {t['path']} in "
                    "the target")
        if (s["key"] is None) != (t["key"] is None):
            which = "checkpoint" if s["key"] is not None else "target"
            return f"the leaf {s['path']} is a PRNG key only in the {which}"
        if s["key"] is not None and s["key"]["dtype"] != t["key"]["dtype"]:
            return (f"the key {s['path']} has dtype {s['key']['dtype']} in the checkpoint but "
                    f"{t['key']['dtype']} in the target")
        if list(s["shape"]) != list(t["shape"]):
            return (f"the leaf {s['path']} has shape {tuple(s['shape'])} in the checkpoint but "
                    f"{tuple(t['shape'])} in the target")
        if s["dtype"] != t["dtype"]:
            return (f"the leaf {s['path']} has dtype {s['dtype']} in the checkpoint but "
                    f"{t['dtype']} in the target")
    if len(saved) != len(want):
        longer, which = (saved, "checkpoint") if len(saved) > len(want) else (want, "target")
        return (f"the checkpoint holds {len(saved)} arrays and the target {len(want)}; the first "
                f"leaf only in the {which} is {longer[min(len(saved), len(want))]['path']}")
    return None


def _valid_record(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("leaves"), list):
        return False
    for leaf in doc["leaves"]:
        if not (isinstance(leaf, dict) and isinstance(leaf.get("path"), str)
                and isinstance(leaf.get("shape"), list) and isinstance(leaf.get("dtype"), str)
                and (leaf.get("key") is None or isinstance(leaf.get("key"), dict))):
            return False
    return True


def _jaxlr_version() -> str:
    try:
        return _metadata.version("jaxlr")
    except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+unknown"


# --------------------------------------------------------------------------- checksums


def _crc32(path: str) -> tuple[int, int]:
    size, crc = 0, 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            size += len(chunk)
            crc = zlib.crc32(chunk, crc)
    return size, crc


def _checksums(step_dir: str) -> dict[str, list[int]]:
    files = {}
    for root, dirs, names in os.walk(step_dir):
        dirs.sort()
        for n in sorted(names):
            rel = os.path.relpath(os.path.join(root, n), step_dir)
            if rel.startswith(_CHECKSUMS):
                continue
            files[rel.replace(os.sep, "/")] = list(_crc32(os.path.join(root, n)))
    return files


def _write_json_atomic(path: str, doc: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _verify_checksums(step_dir: str) -> str | None:
    """Why the step's files differ from what was saved (``None`` when they match)."""
    path = os.path.join(step_dir, _CHECKSUMS)
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
        files = doc["files"]
        if not isinstance(files, dict) or not all(
                isinstance(v, list) and len(v) == 2 and all(isinstance(i, int) for i in v)
                for v in files.values()):
            raise ValueError("malformed")
    except (OSError, ValueError, KeyError, TypeError):
        return f"its checksum file {_CHECKSUMS} is damaged (not the JSON jaxlr wrote)"
    for rel, (size, crc) in sorted(files.items()):
        f = os.path.join(step_dir, *rel.split("/"))
        if not os.path.isfile(f):
            return f"its file {rel} is missing"
        actual = os.path.getsize(f)
        if actual != size:
            return (f"its file {rel} has {actual} bytes but had {size} when saved "
                    f"({'truncated' if actual < size else 'extended'})")
        try:
            if _crc32(f)[1] != crc:
                return f"its file {rel} differs from what was saved (checksum mismatch)"
        except OSError as e:
            return f"its file {rel} cannot be read ({e.strerror or e})"
    return None


# --------------------------------------------------------------------------- save errors


_ERRNO_WORDS = (
    (_errno.ENOSPC, ("no space left", "resource_exhausted", "disk full", "quota")),
    (_errno.EACCES, ("permission denied", "permission_denied")),
    (_errno.EROFS, ("read-only file system",)),
)


def _os_errno(e: BaseException) -> int | None:
    """The errno of the first OSError in the exception chain, or one read from its messages."""
    seen, todo = set(), [e]
    while todo:
        x = todo.pop(0)
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, OSError) and x.errno:
            return x.errno
        todo += [x.__cause__, x.__context__]
    text = " ".join(str(x) for x in [e, e.__cause__, e.__context__] if x is not None).lower()
    for code, words in _ERRNO_WORDS:
        if any(w in text for w in words):
            return code
    return None


def _save_reason(e: BaseException, code: int | None) -> str:
    detail = _first_line(e)
    if code == _errno.ENOSPC:
        return f"the disk is full ({detail})"
    if code in (_errno.EACCES, _errno.EPERM, _errno.EROFS):
        return f"the directory is not writable ({detail})"
    return detail


# --------------------------------------------------------------------------- the manager


class CheckpointManager:
    """Saves and restores the steps of one checkpoint directory (orbax, synchronous saves).

    No orbax object stays open between calls: each save and restore opens orbax's checkpointer
    and closes it on every path, errors included, so :meth:`close` (or a ``with`` block) is
    optional and a failed restore leaves nothing open.

    Args:
      directory: the checkpoint root (created at the first save); one sub-directory per step.
      max_to_keep: keep only this many most recent steps (by step number); older ones are
        deleted after each successful save. ``None`` keeps every step.

    Examples:
      >>> import tempfile, jax.numpy as jnp, jaxlr
      >>> state = jaxlr.TrainState.create({"w": jnp.ones(2)}, jaxlr.adam(1e-3))
      >>> with tempfile.TemporaryDirectory() as d, jaxlr.engine.CheckpointManager(d) as m:
      ...     m.save(state, 0)
      ...     restored, step = m.restore_latest(state)
      >>> step, restored.params["w"].tolist()
      (0, [1.0, 1.0])
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int | None = None):
        self.directory = _check_path("CheckpointManager", "directory", directory)
        if max_to_keep is not None:
            check_steps("CheckpointManager", max_to_keep=max_to_keep, minimum=1)
        self.max_to_keep = None if max_to_keep is None else int(max_to_keep)

    def __repr__(self) -> str:
        return f"CheckpointManager({self.directory!r}, max_to_keep={self.max_to_keep})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing stays open between calls; kept so that callers can close explicitly."""

    # ------------------------------------------------------------------ steps

    def _step_dir(self, step: int) -> str:
        return os.path.join(self.directory, str(int(step)))

    def all_steps(self) -> list[int]:
        """The saved steps, ascending (damaged ones included: restoring checks them)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            kind = "a regular file" if os.path.isfile(self.directory) else "not a directory"
            fail("CheckpointManager", f"the checkpoint directory {_short(self.directory)!r} is "
                 f"{kind}.", hint="Pass a directory path (a new one is created).")
        return sorted(int(n) for n in names
                      if _STEP_RE.fullmatch(n) and os.path.isdir(os.path.join(self.directory, n)))

    def latest_step(self) -> int | None:
        """The newest saved step (``None`` if there is none)."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    # ------------------------------------------------------------------ save

    def save(self, state: Any, step: int) -> None:
        """Saves ``state`` as ``step`` (synchronously; the state itself is not modified).

        The step appears only once complete (checksums included). An existing step of the same
        number is moved aside to ``<step>.jaxlr-replaced-<n>`` (with a ``RuntimeWarning``), never
        deleted.

        Raises:
          TypeError: a leaf of ``state`` is not an array or number.
          OSError: the save failed (``errno`` kept where known, e.g. ``ENOSPC`` for a full
            disk): the message names the step, the directory and the reason. No partial step is
            left, earlier steps are untouched and ``state`` can still be saved elsewhere.
        """
        self._save("CheckpointManager.save", state, step)

    def _save(self, fn: str, state: Any, step: int) -> None:
        check_steps(fn, step=step, minimum=0)
        step = int(step)
        tree, leaves = _saveable(fn, state)
        ocp = _ocp()
        final = self._step_dir(step)
        tmp = final + _TMP
        primary = jax.process_index() == 0
        record = {"format": _FORMAT, "version": _VERSION, "jaxlr": _jaxlr_version(),
                  "leaves": leaves}
        moved, renamed = None, False
        try:
            if os.path.lexists(self.directory) and not os.path.isdir(self.directory):
                raise NotADirectoryError(_errno.ENOTDIR, "not a directory (a regular file?)",
                                         self.directory)
            os.makedirs(self.directory, exist_ok=True)
            if primary:
                self._remove_partial(step)
            _sync(f"jaxlr_ckpt_start_{step}")
            with _checkpointer(ocp) as ckptr, _orbax_call():
                ckptr.save(tmp, args=ocp.args.Composite(**{
                    _STATE: ocp.args.StandardSave(tree), _RECORD: ocp.args.JsonSave(record)}))
            if primary:
                _write_json_atomic(os.path.join(tmp, _CHECKSUMS),
                                   {"algorithm": "crc32", "files": _checksums(tmp)})
                if os.path.lexists(final):
                    moved = self._move_aside(step)
                os.rename(tmp, final)
                renamed = True
                _fsync_dir(self.directory)
            _sync(f"jaxlr_ckpt_done_{step}")
        except BaseException as e:
            if renamed:  # pragma: no cover - only the multi-process barrier comes after
                raise
            cleaned = True
            if primary:
                self._remove_partial(step)
                time.sleep(0.05)  # a write still in flight would re-create the partial save
                cleaned = self._remove_partial(step) and not self._partial_left(step)
            if moved is not None and not os.path.lexists(final):
                try:
                    os.rename(moved, final)
                    moved = None
                except OSError:  # pragma: no cover - best effort
                    pass
            if not isinstance(e, Exception):
                raise
            raise self._save_error(fn, step, e, cleaned, moved) from e
        if moved is not None:
            warnings.warn(f"{fn}: {_short(self.directory)!r} already held a step {step}; it was "
                          f"moved to {os.path.basename(moved)!r} (not deleted) and replaced by "
                          "the new one. Delete it yourself once you no longer need it.",
                          RuntimeWarning, stacklevel=3)
        if self.max_to_keep is not None and primary:
            self._prune(fn, step)

    def _save_error(self, fn: str, step: int, e: Exception, cleaned: bool,
                    moved: str | None) -> OSError:
        code = _os_errno(e)
        try:
            earlier = [s for s in self.all_steps() if s != step]
        except Exception:  # noqa: BLE001 - the message must not fail
            earlier = []
        left = ("no partial files are left" if cleaned else
                f"partial files may be left in {os.path.basename(self._step_dir(step)) + _TMP!r} "
                "(never read as a step)")
        if len(earlier) == 1:
            kept = f"the existing step {earlier[0]} is untouched"
        elif earlier:
            kept = f"the existing steps {', '.join(map(str, earlier))} are untouched"
        else:
            kept = "no other step is affected"
        if moved is not None:
            kept += f"; the previous step {step} is in {os.path.basename(moved)!r}"
        err = OSError(
            f"{fn}: could not save step {step} in {_short(self.directory)!r}: "
            f"{_save_reason(e, code)}. Step {step} was not written ({left}) and {kept}. The "
            "state in memory is unchanged: free disk space or fix the permissions and save "
            "again, or save it elsewhere with jaxlr.save_checkpoint(other_directory, state).")
        err.errno = code
        return err

    def _remove_partial(self, step: int) -> bool:
        """Removes what an interrupted save of ``step`` left (never a step); True if all gone."""
        ok = True
        prefix = str(step) + _TMP
        try:
            names = os.listdir(self.directory)
        except OSError:
            return True
        for n in names:
            if n == prefix or (n.startswith(prefix + ".orbax-checkpoint-tmp")):
                try:
                    shutil.rmtree(os.path.join(self.directory, n))
                except OSError:
                    ok = False
        return ok

    def _partial_left(self, step: int) -> bool:
        prefix = str(step) + _TMP
        try:
            return any(n == prefix or n.startswith(prefix + ".") for n in
                       os.listdir(self.directory))
        except OSError:
            return False

    def _move_aside(self, step: int) -> str:
        final = self._step_dir(step)
        i = 1
        while os.path.lexists(f"{final}{_REPLACED}{i}"):
            i += 1
        os.rename(final, f"{final}{_REPLACED}{i}")
        return f"{final}{_REPLACED}{i}"

    def _prune(self, fn: str, step: int) -> None:
        for n in os.listdir(self.directory):  # deletions a crash interrupted: finish them
            if n.endswith(_DELETING) and _STEP_RE.fullmatch(n[:-len(_DELETING)]):
                shutil.rmtree(os.path.join(self.directory, n), ignore_errors=True)
        steps = self.all_steps()
        for old in steps[:max(len(steps) - self.max_to_keep, 0)]:
            if old == step:
                continue
            doomed = self._step_dir(old) + _DELETING
            try:  # the step disappears at once; a crash mid-delete leaves no half step
                os.rename(self._step_dir(old), doomed)
                shutil.rmtree(doomed)
            except OSError as e:
                warnings.warn(f"{fn}: max_to_keep={self.max_to_keep}: could not delete the old "
                              f"step {old} in {_short(self.directory)!r} ({e.strerror or e}).",
                              RuntimeWarning, stacklevel=4)

    # ------------------------------------------------------------------ restore

    def restore(self, target: Any, step: int | None = None) -> Any:
        """Restores ``step`` (default: the newest) into the structure of ``target``.

        ``target`` is a state built like the saved one (e.g. ``TrainState.create(init_params,
        optimizer, ...)``) or its abstract version (``jax.ShapeDtypeStruct`` leaves); only its
        structure, shapes, dtypes and shardings are used: each array comes back with the
        target's sharding.

        Raises:
          FileNotFoundError: the directory holds no checkpoint, or not ``step``.
          CheckpointError: the step is damaged, foreign, or holds another state (the message
            says which step, why, and whether an older step is intact).
        """
        fn = "CheckpointManager.restore"
        if step is None:
            state, found = self._restore_latest(fn, target, "raise")
            if found is None:
                fail(fn, f"no checkpoint in {_short(self.directory)!r}.",
                     error=FileNotFoundError)
            return state
        check_steps(fn, step=step, minimum=0)
        return self._restore_step(fn, _abstract(fn, target), int(step), hint=True)

    def restore_latest(self, target: Any, *,
                       on_damaged: str = "raise") -> tuple[Any, int | None]:
        """Restores the newest step into the structure of ``target`` (see :meth:`restore`).

        Args:
          target: a state built like the saved one.
          on_damaged: ``"raise"`` (default): a damaged newest step raises a
            :class:`CheckpointError` that says from which older step ``"fallback"`` would
            resume. ``"fallback"``: damaged steps are skipped newest-first, each with a
            ``RuntimeWarning`` naming the step and why, and the newest intact step is restored.
            Damaged steps are never deleted. A step that is intact but holds another state than
            the target raises in both modes (the target, not the step, is wrong).

        Returns:
          ``(state, step)``: the restored state and its step, or ``(target, None)`` when the
          directory holds no checkpoint.

        Raises:
          CheckpointError: see ``on_damaged``; with ``"fallback"``, also when no step is intact.
        """
        return self._restore_latest("CheckpointManager.restore_latest", target, on_damaged)

    def _restore_latest(self, fn: str, target: Any, on_damaged: str) -> tuple[Any, int | None]:
        # called by the public entry points only (the warnings' stacklevel points at the user)
        if not isinstance(on_damaged, str):
            fail(fn, f"`on_damaged` must be a string; got on_damaged={on_damaged!r}.",
                 error=TypeError)
        if on_damaged not in _ON_DAMAGED:
            fail(fn, f"`on_damaged` must be 'raise' or 'fallback'; got "
                 f"on_damaged={_short(repr(on_damaged), 60)}.")
        steps = self.all_steps()
        if not steps:
            return target, None
        abstract = _abstract(fn, target)  # a wrong kind of target fails before disk access
        skipped = []
        for s in reversed(steps):
            try:
                state = self._restore_step(fn, abstract, s, hint=on_damaged == "raise")
            except CheckpointError as e:
                if on_damaged == "raise" or not e.damaged:
                    raise
                warnings.warn(f"{fn}: skipped the damaged step {s} in {_short(self.directory)!r}"
                              f": {e.reason}; trying an older step. The damaged step is left in "
                              "place (jaxlr never deletes it): inspect, move or delete it "
                              "yourself.", RuntimeWarning, stacklevel=3)
                skipped.append((s, e.reason))
                continue
            return state, s
        why = "; ".join(f"step {s}: {r}" for s, r in skipped)
        raise CheckpointError(
            f"{fn}: no intact checkpoint in {_short(self.directory)!r} ({why}). Every step is "
            "damaged and left in place; start from a fresh state with a new directory, or move "
            "the damaged steps away.", directory=self.directory, step=None,
            reason=f"every step is damaged ({why})", damaged=True)

    # ------------------------------------------------------------------ checks

    def _error(self, fn: str, step: int, reason: str, *, damaged: bool, hint: bool,
               want: list[dict] | None = None, fix: str | None = None) -> CheckpointError:
        where = f"step {step} in {_short(self.directory)!r}"
        if damaged:
            text = f"{fn}: {where} is damaged: {reason}."
            if hint and want is not None:
                older = self._older_intact(step, want)
                if older is not None:
                    text += (f" restore_latest(target, on_damaged='fallback') would resume from "
                             f"step {older}, the newest older step whose checksums and "
                             f"structure match (or pass step={older}).")
                else:
                    text += " No older step is intact either."
            text += (" The damaged step is left in place (jaxlr never deletes it): inspect, "
                     "move or delete it yourself.")
        else:
            text = f"{fn}: {where} {reason}. {fix}"
        return CheckpointError(text, directory=self.directory, step=step, reason=reason,
                               damaged=damaged)

    def _precheck(self, fn: str, step: int, ckptr: Any, want: list[dict], *,
                  hint: bool) -> dict:
        """Checks the step's files and record against the target; returns the record."""
        ocp = _ocp()
        step_dir = self._step_dir(step)

        def damaged(reason: str, cause: BaseException | None = None):
            err = self._error(fn, step, reason, damaged=True, hint=hint, want=want)
            raise err from cause

        try:
            entries = sorted(os.listdir(step_dir))
        except OSError as e:
            damaged(f"its directory cannot be read ({e.strerror or e})", e)
        if not entries:
            damaged("its directory is empty")
        has_record = os.path.isdir(os.path.join(step_dir, _RECORD))
        has_state = os.path.isdir(os.path.join(step_dir, _STATE))
        if not has_record and not has_state and _CHECKSUMS not in entries:
            listed = ", ".join(repr(_short(n, 40)) for n in entries[:4])
            raise self._error(
                fn, step, f"is not a jaxlr checkpoint (it holds {listed}"
                f"{', ...' if len(entries) > 4 else ''})", damaged=False, hint=False,
                fix="It was written by another program, or by a jaxlr older than its current "
                "checkpoint format (flat checkpoints are not readable any more). Use a "
                "jaxlr-created directory, or a new one to start afresh.")
        if _CHECKSUMS not in entries:
            damaged(f"its checksum file {_CHECKSUMS} is missing (jaxlr writes it before the "
                    "step appears, so files were removed)")
        reason = _verify_checksums(step_dir)
        if reason is not None:
            damaged(reason)
        try:
            with _orbax_call():
                doc = ckptr.restore(step_dir, args=ocp.args.Composite(
                    **{_RECORD: ocp.args.JsonRestore()}))[_RECORD]
        except Exception as e:  # noqa: BLE001 - any orbax failure is reported as damage
            damaged(f"its jaxlr record cannot be read ({_first_line(e)})", e)
        if isinstance(doc, dict) and doc.get("format") == _FORMAT and doc.get(
                "version") != _VERSION:
            raise self._error(
                fn, step, f"was written in checkpoint format version {doc.get('version')!r} "
                f"(by jaxlr {doc.get('jaxlr')!r}); this jaxlr reads version {_VERSION}",
                damaged=False, hint=False, fix="Restore it with the jaxlr version that wrote it.")
        if not (isinstance(doc, dict) and doc.get("format") == _FORMAT and _valid_record(doc)):
            damaged("its jaxlr record is not the one jaxlr wrote")
        diff = _mismatch(doc["leaves"], want)
        if diff is not None:
            raise self._error(
                fn, step, f"holds another state than the target: {diff}", damaged=False,
                hint=False, fix="Build the target exactly like the saved state (same model, "
                "optimizer and controllers, e.g. TrainState.create(params, optimizer, ...)), or "
                "use a new checkpoint directory for a different model.")
        return doc

    def _older_intact(self, step: int, want: list[dict]) -> int | None:
        ocp = _ocp()
        for s in reversed([s for s in self.all_steps() if s < step]):
            try:
                with _checkpointer(ocp) as ckptr:
                    self._precheck("", s, ckptr, want, hint=False)
            except Exception:  # noqa: BLE001, S112 - any failure: not intact
                continue
            return s
        return None

    def _restore_step(self, fn: str, abstract_target: tuple, step: int, *, hint: bool) -> Any:
        abstract, want, treedef = abstract_target
        step_dir = self._step_dir(step)
        if not os.path.isdir(step_dir):
            steps = self.all_steps()
            fail(fn, f"no step {step} in {_short(self.directory)!r}; it holds "
                 f"{'steps ' + ', '.join(map(str, steps)) if steps else 'no checkpoint'}.",
                 error=FileNotFoundError)
        ocp = _ocp()
        with _checkpointer(ocp) as ckptr:
            doc = self._precheck(fn, step, ckptr, want, hint=hint)
            try:
                with _orbax_call():
                    restored = ckptr.restore(step_dir, args=ocp.args.Composite(
                        **{_STATE: ocp.args.StandardRestore(abstract)}))[_STATE]
                leaves = treedef.flatten_up_to(restored)
            except Exception as e:
                raise self._error(fn, step, f"its arrays cannot be read ({_first_line(e)})",
                                  damaged=True, hint=hint, want=want) from e
        out = []
        for x, a, s in zip(leaves, jax.tree_util.tree_leaves(abstract), doc["leaves"]):
            if not isinstance(x, jax.Array) or x.shape != a.shape or x.dtype != a.dtype:
                raise self._error(fn, step, f"its array {s['path']} came back as "
                                  f"{type(x).__name__} {getattr(x, 'shape', '')} instead of "
                                  f"{a.dtype} {a.shape}", damaged=True, hint=hint, want=want)
            if s["key"] is not None:
                x = jax.random.wrap_key_data(x, impl=s["key"]["impl"])
            out.append(x)
        return jax.tree_util.tree_unflatten(treedef, out)


def _sync(name: str) -> None:
    if jax.process_count() > 1:  # pragma: no cover - multi-process runs only
        from jax.experimental import multihost_utils  # noqa: PLC0415

        multihost_utils.sync_global_devices(name)


# --------------------------------------------------------------------------- functions


def save_checkpoint(directory: str | os.PathLike, state: Any, *, step: int | None = None,
                    max_to_keep: int | None = None) -> int:
    """Saves ``state`` (any pytree of arrays, typically a :class:`~jaxlr.TrainState`).

    Args:
      directory: checkpoint root (created if needed); one sub-directory per step.
      state: the state to save (not modified).
      step: the checkpoint's step (default: ``int(state.step)``).
      max_to_keep: keep only this many most recent checkpoints.

    Returns:
      The step saved.

    Raises:
      OSError: the save failed (full disk, not writable, ``directory`` is a file): no partial
        step is left and earlier steps are untouched (see :meth:`CheckpointManager.save`).
    """
    if step is None:
        if not hasattr(state, "step"):
            fail("save_checkpoint", "`step` is required for a state without a `step` field.",
                 error=TypeError)
        step = int(state.step)
    check_steps("save_checkpoint", step=step, minimum=0)
    with CheckpointManager(directory, max_to_keep=max_to_keep) as m:
        m._save("save_checkpoint", state, step)
    return int(step)


def restore_checkpoint(directory: str | os.PathLike, target: Any, *, step: int | None = None,
                       on_damaged: str = "raise") -> Any:
    """Restores the checkpoint of ``step`` (default: the latest) into the structure of ``target``.

    ``target`` is a state built like the saved one (e.g. ``TrainState.create(init_params,
    optimizer, ...)``); only its structure, shapes, dtypes and shardings are used.

    Args:
      directory: the checkpoint root.
      target: a state built like the saved one.
      step: the step to restore (default: the newest).
      on_damaged: with ``step=None``: ``"raise"`` (default) or ``"fallback"`` to restore the
        newest intact step, warning about each damaged one skipped (see
        :meth:`CheckpointManager.restore_latest`).

    Raises:
      FileNotFoundError: no checkpoint in ``directory`` (or no ``step``).
      CheckpointError: the step is damaged, foreign, or does not match the target's structure
        (a ``ValueError``; the message names the step, the reason and the fix).
    """
    fn = "restore_checkpoint"
    path = _check_path(fn, "directory", directory)
    if step is not None and on_damaged != "raise":
        fail(fn, f"`on_damaged={_short(repr(on_damaged), 40)}` chooses among the steps; it "
             f"cannot be combined with step={step!r}.", hint="Pass one of them.")
    if not os.path.isdir(path):
        fail(fn, f"no checkpoint directory {_short(path)!r}.", error=FileNotFoundError)
    with CheckpointManager(path) as m:
        if step is not None:
            check_steps(fn, step=step, minimum=0)
            return m._restore_step(fn, _abstract(fn, target), int(step), hint=True)
        state, found = m._restore_latest(fn, target, on_damaged)
        if found is None:
            fail(fn, f"no checkpoint in {_short(path)!r}.", error=FileNotFoundError)
        return state


def latest_checkpoint_step(directory: str | os.PathLike) -> int | None:
    """The step of the latest checkpoint in ``directory`` (``None`` if there is none)."""
    path = _check_path("latest_checkpoint_step", "directory", directory)
    if not os.path.isdir(path):
        return None
    with CheckpointManager(path) as m:
        return m.latest_step()
