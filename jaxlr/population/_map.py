"""Population evaluation shared by the finders and the sweeps (DESIGN.md section 4).

A *population* is a pytree of arrays with a leading axis ``[num_members]`` (candidate learning
rates, trials, seeds). :func:`population_map` evaluates ``fn`` on every member in one compiled
program: ``jax.vmap`` over the whole population, or ``lax.map(..., batch_size=chunk_size)`` (vmap
inside fixed-size chunks) to bound memory, with the member axis sharded across devices along a
mesh axis named ``"trials"`` when several devices are present. Members never interact: each lane's
result depends only on its own inputs, so sharding, chunking and padding do not change results.

Helpers :func:`tree_where` and :func:`tree_isfinite` implement the "freeze a diverged lane"
pattern used inside the per-member functions.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxlr._utils._validation import check_steps, fail

AXIS = "trials"


def population_size(tree: Any, fn_name: str = "population_map") -> int:
    """The common leading-axis length of every leaf of ``tree``."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        fail(fn_name, "the population is empty: pass a pytree of arrays with a leading "
             "member axis.")
    sizes = {int(np.shape(x)[0]) if np.ndim(x) else -1 for x in leaves}
    if -1 in sizes or len(sizes) != 1:
        shapes = [tuple(np.shape(x)) for x in leaves]
        fail(fn_name, f"every array of the population must share the leading (member) axis; "
             f"got shapes {shapes}.")
    return sizes.pop()


def tree_where(cond: jax.Array, new: Any, old: Any) -> Any:
    """``jnp.where(cond, new, old)`` leaf by leaf (``cond`` is a scalar bool)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(cond, a, b), new, old)


def tree_isfinite(tree: Any) -> jax.Array:
    """True when every inexact leaf of ``tree`` is finite everywhere (scalar bool)."""
    oks = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
           if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    if not oks:
        return jnp.array(True)
    return jnp.stack(oks).all()


def _pad(tree: Any, n: int, target: int) -> Any:
    if target == n:
        return tree

    def pad(x):
        x = jnp.asarray(x)
        reps = jnp.repeat(x[:1], target - n, axis=0)  # copies of member 0, dropped afterwards
        return jnp.concatenate([x, reps], axis=0)

    return jax.tree_util.tree_map(pad, tree)


def _devices(devices: Sequence[jax.Device] | None | str) -> list[jax.Device]:
    if devices is None or devices == "all":
        return list(jax.devices())
    if devices == "none":
        return [jax.devices()[0]]
    return list(devices)


def population_map(fn: Callable[..., Any], *members: Any, chunk_size: int | None = None,
                   devices: Sequence[jax.Device] | None | str = None,
                   jit: bool = True) -> Any:
    """Evaluates ``fn`` on every member of a population in one compiled program.

    Args:
      fn: pure function of one member, ``fn(*member_args) -> pytree``.
      *members: pytrees whose leaves share a leading member axis ``[N]``.
      chunk_size: vmap at most this many members at once (``lax.map(batch_size=...)``), to bound
        memory; ``None`` vmaps all members together. Results are identical either way.
      devices: devices to shard the member axis over (default: all local devices; ``"none"`` runs
        on the first device only). With ``D`` devices the population is padded to a multiple of
        ``D`` with copies of member 0 (dropped from the result) and laid out with
        ``NamedSharding(Mesh(devices, ("trials",)), PartitionSpec("trials"))``.
      jit: compile the whole population as one program (default). ``False`` returns the traced
        computation for use inside an enclosing ``jax.jit``.

    Returns:
      ``fn``'s output with a leading member axis ``[N]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> out = population_map(lambda a, b: a * b, jnp.arange(5.0), jnp.full(5, 2.0))
      >>> out.tolist()
      [0.0, 2.0, 4.0, 6.0, 8.0]
    """
    n = population_size(members)
    if chunk_size is not None:
        check_steps("population_map", chunk_size=chunk_size, minimum=1)

    def run(*xs):
        if chunk_size is None or chunk_size >= n:
            return jax.vmap(fn)(*xs)
        return jax.lax.map(lambda args: fn(*args), xs, batch_size=chunk_size)

    if not jit:
        return run(*members)
    devs = _devices(devices)
    if len(devs) <= 1:
        return jax.jit(run)(*members)
    d = len(devs)
    target = int(math.ceil(n / d) * d)
    padded = _pad(members, n, target)
    mesh = jax.sharding.Mesh(np.asarray(devs), (AXIS,))
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    padded = jax.device_put(padded, sharding)
    out = jax.jit(run)(*padded)
    return jax.tree_util.tree_map(lambda x: x[:n], out)
