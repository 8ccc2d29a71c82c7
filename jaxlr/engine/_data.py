"""On-device batching of in-memory datasets shared by ``fit``, the finders and the sweeps.

Batches are described by integer index arrays computed on device from an explicit key, so a whole
run's data order is a pure function of ``(key, num_examples, batch_size)``: common random numbers
across candidates come for free (give every lane the same key) and resuming is bit-exact.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxlr._utils._validation import check_steps, fail


def check_dataset(fn: str, data: Any, batch_size: int) -> int:
    """Validates a pytree of arrays sharing a leading example axis; returns its length."""
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        fail(fn, "`data` must be a pytree of arrays with a leading example axis; got an empty "
             f"pytree {data!r}.")
    sizes = {int(jnp.shape(x)[0]) if jnp.ndim(x) else -1 for x in leaves}
    if -1 in sizes or len(sizes) != 1:
        shapes = [tuple(jnp.shape(x)) for x in leaves]
        fail(fn, f"every array in `data` must share the leading (example) axis; got shapes "
             f"{shapes}.")
    n = sizes.pop()
    check_steps(fn, batch_size=batch_size, minimum=1)
    if batch_size > n:
        fail(fn, f"`batch_size` must be <= the number of examples ({n}); got "
             f"batch_size={batch_size}.", hint=f"Use batch_size={n} or fewer.")
    return n


def epoch_permutation(key: jax.Array, epoch: jax.Array, num_examples: int) -> jax.Array:
    """The shuffled example order of ``epoch`` (int32 [num_examples]); pure in (key, epoch)."""
    return jax.random.permutation(jax.random.fold_in(key, epoch), num_examples)


def batch_indices(key: jax.Array, step: jax.Array, num_examples: int,
                  batch_size: int) -> jax.Array:
    """Example indices of mini-batch ``step`` (int32 [batch_size]) under per-epoch reshuffling.

    Each epoch is a fresh permutation of the examples (``fold_in(key, epoch)``) cut into
    ``num_examples // batch_size`` full batches; the partial last batch is dropped, as
    ``drop_last=True`` does in PyTorch. ``step`` may be traced (used inside ``lax.scan``).
    """
    per_epoch = num_examples // batch_size
    step = jnp.asarray(step, jnp.int32)
    epoch = step // per_epoch
    pos = step % per_epoch
    perm = epoch_permutation(key, epoch, num_examples)
    return jax.lax.dynamic_slice_in_dim(perm, pos * batch_size, batch_size)


def take(data: Any, idx: jax.Array) -> Any:
    """Gathers examples ``idx`` from every array of the ``data`` pytree."""
    return jax.tree_util.tree_map(lambda x: jnp.take(x, idx, axis=0), data)


def get_batch(data: Any, key: jax.Array, step: jax.Array, batch_size: int) -> Any:
    """Mini-batch number ``step`` of ``data`` (see :func:`batch_indices`)."""
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    return take(data, batch_indices(key, step, n, batch_size))
