"""On-device batching of in-memory datasets: the data side of the training kernel.

Batches are index arrays computed on device from an explicit key, so a run's data order is a
pure function of ``(key, step, num_examples, batch_size)``: common random numbers across
candidates come for free (every lane gets the same key), and resuming is bit-exact (step ``t`` of
a resumed run reads the batch step ``t`` of an uninterrupted run read).

Each epoch is a fresh permutation (``fold_in(key, epoch)``) cut into
``num_examples // batch_size`` full batches; the partial last batch is dropped, as
``drop_last=True`` does in PyTorch.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Data", "epoch_permutation", "batch_indices", "batch_table", "take", "get_batch",
           "nbytes"]

_I32 = np.dtype("int32")


class Data(NamedTuple):
    """The data source of a run (a pytree: a population may batch any part of it).

    Attributes:
      arrays: the examples, a pytree of arrays with a leading axis ``[N]``.
      key: the PRNG key of the batch order.
      index: ``None`` (every example) or int32 ``[M]`` indices of the examples this run trains
        on (a cross-validation fold).
    """

    arrays: Any
    key: jax.Array
    index: jax.Array | None = None


def epoch_permutation(key: jax.Array, epoch: jax.Array, num_examples: int) -> jax.Array:
    """The shuffled example order of ``epoch`` (int32 [num_examples]); pure in (key, epoch)."""
    return jax.random.permutation(jax.random.fold_in(key, epoch), num_examples)


def batch_indices(key: jax.Array, step: jax.Array, num_examples: int,
                  batch_size: int) -> jax.Array:
    """Example indices of mini-batch ``step`` (int32 [batch_size]); ``step`` may be traced."""
    per_epoch = num_examples // batch_size
    step = jnp.asarray(step, jnp.int32)
    perm = epoch_permutation(key, step // per_epoch, num_examples)
    return jax.lax.dynamic_slice_in_dim(perm, (step % per_epoch) * batch_size, batch_size)


def batch_table(key: jax.Array, start: jax.Array, num_steps: int, num_examples: int,
                batch_size: int) -> jax.Array:
    """Rows of example indices of steps ``start .. start + num_steps - 1`` ([T, batch_size]).

    Row ``i`` equals ``batch_indices(key, start + i, ...)``; the permutations of the epochs the
    steps touch are drawn once (``start`` may be traced).
    """
    per_epoch = num_examples // batch_size
    num_epochs = num_steps // per_epoch + 2
    start = jnp.asarray(start, jnp.int32)
    e0 = start // per_epoch
    perms = jax.vmap(lambda e: epoch_permutation(key, e, num_examples))(
        e0 + jnp.arange(num_epochs, dtype=jnp.int32))
    rows = perms[:, : per_epoch * batch_size].reshape(num_epochs * per_epoch, batch_size)
    return jax.lax.dynamic_slice_in_dim(rows, start - e0 * per_epoch, num_steps)


def take(data: Any, idx: jax.Array) -> Any:
    """Gathers examples ``idx`` (any shape) from every array of the ``data`` pytree."""
    return jax.tree_util.tree_map(lambda x: jnp.take(x, idx, axis=0), data)


def get_batch(data: Any, key: jax.Array, step: jax.Array, batch_size: int) -> Any:
    """Mini-batch number ``step`` of ``data`` (see :func:`batch_indices`)."""
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    return take(data, batch_indices(key, step, n, batch_size))


def nbytes(tree: Any, *, per_example: bool = False) -> int:
    """Bytes of the arrays (or shape structs) of ``tree``; per row of the leading axis."""
    return sum(int(np.prod(x.shape[1:] if per_example else x.shape))
               * np.dtype(x.dtype).itemsize for x in jax.tree_util.tree_leaves(tree))
