"""Checkpoints of a :class:`~jaxlr.TrainState` with orbax-checkpoint (imported lazily).

A state is saved as the flat list of its array leaves (PRNG keys as their raw key data) and
restored into the structure of a *target* state built the same way (``TrainState.create`` with
the same optimizer), so hyperparameters, schedule values, controller states, the step and the
key come back bit for bit and the restored state runs the same compiled programs.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from jaxlr._utils._validation import check_steps, fail

__all__ = ["save_checkpoint", "restore_checkpoint", "latest_checkpoint_step"]


def _ocp():
    try:
        import orbax.checkpoint as ocp  # noqa: PLC0415
    except ImportError as e:  # pragma: no cover - optional dependency
        raise ImportError("jaxlr checkpoints need orbax-checkpoint: "
                          "pip install 'jaxlr[checkpoint]'.") from e
    return ocp


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_saveable(state: Any) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_leaves(state)
    out = {}
    for i, x in enumerate(leaves):
        if _is_key(x):
            x = jax.random.key_data(x)
        out[f"{i:05d}"] = np.asarray(jax.device_get(x))
    return out


def _from_saved(saved: dict[str, Any], target: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(target)
    if len(saved) != len(leaves):
        fail("restore_checkpoint", f"the checkpoint holds {len(saved)} arrays but the target "
             f"state has {len(leaves)}.", hint="Build the target with the same optimizer, "
             "model and controllers as the saved run.")
    new = []
    for i, t in enumerate(leaves):
        x = saved[f"{i:05d}"]
        if _is_key(t):
            x = jax.random.wrap_key_data(jax.numpy.asarray(x), impl=jax.random.key_impl(t))
        else:
            if tuple(np.shape(x)) != tuple(np.shape(t)):
                fail("restore_checkpoint", f"array {i} has shape {np.shape(x)} in the "
                     f"checkpoint but {np.shape(t)} in the target state.",
                     hint="Build the target exactly like the saved state.")
            x = jax.numpy.asarray(x, dtype=t.dtype)
        new.append(x)
    return jax.tree_util.tree_unflatten(treedef, new)


class CheckpointManager:
    """A thin wrapper over ``orbax.checkpoint.CheckpointManager`` (synchronous saves)."""

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int | None = None):
        ocp = _ocp()
        self.directory = os.path.abspath(os.fspath(directory))
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                               enable_async_checkpointing=False)
        self._ocp = ocp
        self._mngr = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._mngr.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._mngr.all_steps())

    def save(self, state: Any, step: int) -> None:
        self._mngr.save(int(step), args=self._ocp.args.StandardSave(_to_saveable(state)),
                        force=True)
        self._mngr.wait_until_finished()

    def restore(self, target: Any, step: int | None = None) -> Any:
        if step is None:
            step = self.latest_step()
        if step is None:
            fail("restore_checkpoint", f"no checkpoint in {self.directory!r}.",
                 error=FileNotFoundError)
        abstract = {k: jax.ShapeDtypeStruct(v.shape, v.dtype)
                    for k, v in _to_saveable(target).items()}
        saved = self._mngr.restore(int(step), args=self._ocp.args.StandardRestore(abstract))
        return _from_saved(saved, target)

    def close(self) -> None:
        self._mngr.close()


def save_checkpoint(directory: str | os.PathLike, state: Any, *, step: int | None = None,
                    max_to_keep: int | None = None) -> int:
    """Saves ``state`` (any pytree, typically a :class:`~jaxlr.TrainState`) under ``directory``.

    Args:
      directory: checkpoint root (created if needed); one sub-directory per step.
      state: the state to save.
      step: the checkpoint's step (default: ``int(state.step)``).
      max_to_keep: keep only this many most recent checkpoints.

    Returns:
      The step saved.
    """
    if step is None:
        if not hasattr(state, "step"):
            fail("save_checkpoint", "`step` is required for a state without a `step` field.",
                 error=TypeError)
        step = int(state.step)
    check_steps("save_checkpoint", step=step, minimum=0)
    m = CheckpointManager(directory, max_to_keep=max_to_keep)
    try:
        m.save(state, step)
    finally:
        m.close()
    return int(step)


def restore_checkpoint(directory: str | os.PathLike, target: Any, *,
                       step: int | None = None) -> Any:
    """Restores the checkpoint of ``step`` (default: the latest) into the structure of ``target``.

    ``target`` is a state built like the saved one (e.g. ``TrainState.create(init_params,
    optimizer, ...)``); only its structure, shapes and dtypes are used.

    Raises:
      FileNotFoundError: no checkpoint in ``directory``.
      ValueError: the checkpoint does not match the target's structure.
    """
    if not os.path.isdir(directory):
        fail("restore_checkpoint", f"no checkpoint directory {os.fspath(directory)!r}.",
             error=FileNotFoundError)
    m = CheckpointManager(directory)
    try:
        return m.restore(target, step)
    finally:
        m.close()


def latest_checkpoint_step(directory: str | os.PathLike) -> int | None:
    """The step of the latest checkpoint in ``directory`` (``None`` if there is none)."""
    if not os.path.isdir(directory):
        return None
    m = CheckpointManager(directory)
    try:
        return m.latest_step()
    finally:
        m.close()
