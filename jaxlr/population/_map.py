"""Many training runs in one compiled program: the only mesh, padding and chunking code.

A *population* is a pytree of arrays with a leading member axis ``[N]`` (candidate learning
rates, trials, seeds, folds). :func:`lanes` evaluates a per-member function on every member inside
the caller's compiled program:

* one member runs as is (no ``vmap``, no padding): a one-lane population is the run alone;
* more members are vmapped; with ``chunk_size`` they run in equal chunks (``lax.map`` over
  chunks, ``vmap`` inside), padded with copies of member 0 to a whole number of chunks so every
  chunk has the same width;
* on a mesh (:func:`make_mesh`, axes ``("trials", "data")``) the member axis is sharded over
  ``"trials"`` (``NamedSharding``; ``vmap(spmd_axis_name="trials")``) and each member's batch
  over ``"data"`` (a sharding constraint inside the kernel); XLA's SPMD partitioner inserts the
  gradient reductions. Shared inputs (the dataset) are replicated.

Members never interact: a diverged member is frozen by the kernel and never changes another's
numbers. On CPUs XLA picks other matrix kernels for other vmap widths, so a member's numbers
agree across population sizes, chunkings and shardings to float32 rounding (documented and
tested tolerance), and are bit-identical for the same layout.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxlr._utils._validation import check_steps, fail, shorten

__all__ = ["AXES", "Layout", "make_mesh", "resolve_mesh", "layout", "pad", "place", "lanes",
           "unpad", "batch_sharding", "population_size", "population_map", "tree_where"]

#: The mesh axes of a population: members over ``"trials"``, each member's batch over ``"data"``.
AXES = ("trials", "data")


def make_mesh(trials: int | None = None, data: int = 1, *,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A ``("trials", "data")`` mesh over ``devices`` (default: every device of every process).

    ``trials * data`` must equal the number of devices; ``trials`` defaults to
    ``num_devices // data``.

    Examples:
      >>> mesh = make_mesh()                     # all devices along "trials"
      >>> mesh.axis_names
      ('trials', 'data')
    """
    fn = "make_mesh"
    devs = list(jax.devices() if devices is None else devices)
    check_steps(fn, data=data, minimum=1)
    if len(devs) % data:
        fail(fn, f"`data={data}` must divide the number of devices ({len(devs)}).")
    if trials is None:
        trials = len(devs) // data
    check_steps(fn, trials=trials, minimum=1)
    if trials * data != len(devs):
        fail(fn, f"trials x data must equal the number of devices ({len(devs)}); got "
             f"trials={trials}, data={data}.", hint=f"e.g. trials={len(devs) // data}.")
    return Mesh(np.asarray(devs, dtype=object).reshape(trials, data), AXES)


def resolve_mesh(fn: str, mesh: Any, devices: Any = None) -> Mesh | None:
    """The one rule for ``mesh`` arguments.

    ``None`` (default): every device along ``"trials"`` when there are several, else no mesh;
    ``"none"``: one device, no mesh; a :class:`jax.sharding.Mesh` with axes named ``"trials"``
    and/or ``"data"`` (other axes must have size 1); a pair ``(trials, data)`` of axis sizes.
    ``devices`` is the older form: a list of devices for the ``"trials"`` axis, ``"all"`` or
    ``"none"``.
    """
    if devices is not None:
        if mesh is not None:
            fail(fn, "pass `mesh` or `devices`, not both.")
        if isinstance(devices, str):
            if devices not in ("all", "none"):
                fail(fn, f"`devices` must be a list of devices, 'all' or 'none'; got "
                     f"devices={shorten(devices)}.")
            return resolve_mesh(fn, "none" if devices == "none" else None)
        devs = list(devices)
        return make_mesh(len(devs), 1, devices=devs) if len(devs) > 1 else None
    if mesh is None:
        n = jax.device_count()
        return make_mesh(n, 1) if n > 1 else None
    if isinstance(mesh, str):
        if mesh != "none":
            fail(fn, f"`mesh` must be None, 'none', a jax.sharding.Mesh or (trials, data); got "
                 f"mesh={shorten(mesh)}.")
        return None
    if isinstance(mesh, tuple) and len(mesh) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in mesh):
        return make_mesh(int(mesh[0]), int(mesh[1]))
    if not isinstance(mesh, Mesh):
        fail(fn, f"`mesh` must be None, 'none', a jax.sharding.Mesh or (trials, data); got "
             f"{type(mesh).__name__}.", hint="Build one with jaxlr.population.make_mesh(...).",
             error=TypeError)
    extra = [a for a in mesh.axis_names if a not in AXES and mesh.shape[a] != 1]
    if extra:
        fail(fn, f"the mesh axes must be named 'trials' and/or 'data'; got {mesh.axis_names} "
             f"with shape {dict(mesh.shape)}.", hint="jaxlr.population.make_mesh(trials, data).")
    if mesh.devices.size == 1:
        return None
    return mesh


def axis_size(mesh: Mesh | None, name: str) -> int:
    return 1 if mesh is None or name not in mesh.axis_names else int(mesh.shape[name])


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a population of ``size`` members is laid out (static).

    Attributes:
      size: members given. padded: members run (a whole number of chunks and trial shards).
      chunk: members vmapped at once, or ``None`` (all).
      mesh: the device mesh or ``None``.
    """

    size: int
    padded: int
    chunk: int | None
    mesh: Mesh | None

    @property
    def single(self) -> bool:
        """One member on one trials shard: it runs alone, without vmap."""
        return self.padded == 1


def layout(fn: str, size: int, *, chunk_size: int | None = None, mesh: Mesh | None = None,
           ) -> Layout:
    """The layout of ``size`` members: equal chunks, padded to whole chunks and trial shards."""
    if size < 1:
        fail(fn, "the population is empty: there is nothing to run.",
             hint="Check the candidates / trials you asked for.")
    if chunk_size is not None:
        check_steps(fn, chunk_size=chunk_size, minimum=1)
    trials = axis_size(mesh, "trials")
    per_shard = -(-size // trials)
    chunk = None if chunk_size is None or chunk_size >= per_shard else int(chunk_size)
    if chunk is not None:
        # equal chunks: as few as possible, each as narrow as possible
        num = -(-per_shard // chunk)
        chunk = -(-per_shard // num)
        per_shard = num * chunk
    return Layout(size=size, padded=per_shard * trials, chunk=chunk, mesh=mesh)


def pad(tree: Any, lay: Layout) -> Any:
    """Pads the member axis with copies of member 0 (dropped again by :func:`unpad`)."""
    if lay.padded == lay.size:
        return tree

    def grow(x):
        if isinstance(x, (np.ndarray, np.generic)):     # on the host: nothing to compile
            return np.concatenate([x, np.repeat(x[:1], lay.padded - lay.size, axis=0)])
        x = jnp.asarray(x)
        return jnp.concatenate([x, jnp.repeat(x[:1], lay.padded - lay.size, axis=0)], axis=0)

    return jax.tree_util.tree_map(grow, tree)


def unpad(tree: Any, lay: Layout) -> Any:
    if lay.padded == lay.size:
        return tree
    return jax.tree_util.tree_map(lambda x: x[: lay.size], tree)


def _put(tree: Any, sharding: NamedSharding) -> Any:
    """``tree`` on ``sharding``; across processes (``jax.distributed``) every process holds the
    same host value and gives its addressable shards (``jax.make_array_from_callback``)."""
    if jax.process_count() == 1 or sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)

    def one(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            data = np.asarray(jax.random.key_data(x))
            arr = jax.make_array_from_callback(
                data.shape, NamedSharding(sharding.mesh, PartitionSpec(
                    *sharding.spec, *([None] * (data.ndim - len(sharding.spec))))),
                lambda idx: data[idx])
            return jax.random.wrap_key_data(arr, impl=jax.random.key_impl(x))
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree_util.tree_map(one, tree)


def to_host(tree: Any) -> Any:
    """Numpy copies of a program's outputs on every process (gathered across processes when
    a mesh spans several: ``jax.experimental.multihost_utils.process_allgather``)."""
    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree_util.tree_map(one, tree)


def place(members: Any, shared: Any, lay: Layout) -> tuple[Any, Any]:
    """Puts members (sharded over ``"trials"``) and shared inputs (replicated) on the mesh."""
    if lay.mesh is None:
        return members, shared
    spec = PartitionSpec("trials") if axis_size(lay.mesh, "trials") > 1 else PartitionSpec()
    members = _put(members, NamedSharding(lay.mesh, spec))
    shared = _put(shared, NamedSharding(lay.mesh, PartitionSpec()))
    return members, shared


def batch_sharding(mesh: Mesh | None, batch_size: int | None = None, *,
                   fn: str = "batch_sharding") -> NamedSharding | None:
    """The sharding of one member's batch (its example axis over ``"data"``), or ``None``
    when the mesh has no ``"data"`` axis larger than 1. With ``batch_size``: it must split
    evenly (a ValueError naming ``fn`` otherwise)."""
    n = axis_size(mesh, "data")
    if n <= 1:
        return None
    if batch_size is not None and batch_size % n:
        fail(fn, f"batch_size={batch_size} must be divisible by the mesh's \"data\" axis "
             f"({n}) to split each batch evenly.",
             hint=f"e.g. batch_size={max(n, batch_size // n * n)}.")
    return NamedSharding(mesh, PartitionSpec("data"))


def lanes(fn: Callable[..., Any], members: Any, shared: tuple = (), *, lay: Layout) -> Any:
    """``fn(member, *shared)`` for every member (traced: call inside a compiled program).

    ``members`` has the padded leading axis; the output has it too.
    """
    if lay.single:
        one = jax.tree_util.tree_map(lambda x: x[0], members)
        return jax.tree_util.tree_map(lambda x: x[None], fn(one, *shared))
    trials = axis_size(lay.mesh, "trials")
    spmd = "trials" if trials > 1 else None
    vfn = jax.vmap(lambda m: fn(m, *shared), spmd_axis_name=spmd)
    if lay.chunk is None:
        return vfn(members)
    if lay.chunk == 1 and trials == 1:
        # one member at a time: each runs as it would alone (no vmap of width one)
        return jax.lax.map(lambda m: fn(m, *shared), members)
    return _unchunk(jax.lax.map(vfn, _chunks(members, lay)), lay)


def _chunks(tree: Any, lay: Layout) -> Any:
    trials = axis_size(lay.mesh, "trials")
    per_shard = lay.padded // trials

    def split(x):
        # [trials * num * chunk, ...] -> [num, trials * chunk, ...]: every chunk holds members
        # of every trials shard, so the mapped loop stays sharded over "trials"
        num = per_shard // lay.chunk
        x = x.reshape((trials, num, lay.chunk) + x.shape[1:])
        return jnp.swapaxes(x, 0, 1).reshape((num, trials * lay.chunk) + x.shape[3:])

    return jax.tree_util.tree_map(split, tree)


def _unchunk(tree: Any, lay: Layout) -> Any:
    trials = axis_size(lay.mesh, "trials")

    def join(x):
        num = x.shape[0]
        x = x.reshape((num, trials, lay.chunk) + x.shape[2:])
        return jnp.swapaxes(x, 0, 1).reshape((trials * num * lay.chunk,) + x.shape[3:])

    return jax.tree_util.tree_map(join, tree)


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
             f"got shapes {shorten(shapes)}.")
    return sizes.pop()


def tree_where(cond: jax.Array, new: Any, old: Any) -> Any:
    """``jnp.where(cond, new, old)`` leaf by leaf (``cond`` is a scalar bool)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(cond, a, b), new, old)


def population_map(fn: Callable[..., Any], *members: Any, chunk_size: int | None = None,
                   mesh: Any = "none") -> Any:
    """Evaluates ``fn`` on every member of a population in one compiled program.

    Args:
      fn: pure function of one member, ``fn(*member_args) -> pytree``.
      *members: pytrees whose leaves share a leading member axis ``[N]``.
      chunk_size: vmap at most this many members at once (equal chunks, ``lax.map``), to
        bound memory.
      mesh: see :func:`resolve_mesh` (default ``"none"``: one device).

    Returns:
      ``fn``'s output with a leading member axis ``[N]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> out = population_map(lambda a, b: a * b, jnp.arange(5.0), jnp.full(5, 2.0))
      >>> out.tolist()
      [0.0, 2.0, 4.0, 6.0, 8.0]
    """
    n = population_size(members)
    lay = layout("population_map", n, chunk_size=chunk_size,
                 mesh=resolve_mesh("population_map", mesh))
    padded, _ = place(pad(members, lay), (), lay)
    out = _map_jit(_Fn(fn), padded, lay)
    return unpad(out, lay)


@dataclasses.dataclass(frozen=True)
class _Fn:
    fn: Callable[..., Any]

    def __call__(self, member):
        return self.fn(*member)


def _map_program(fn: _Fn, members: Any, lay: Layout) -> Any:
    return lanes(fn, members, lay=lay)


_map_jit = jax.jit(_map_program, static_argnums=(0, 2))
