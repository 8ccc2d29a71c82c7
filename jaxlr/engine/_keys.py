"""The one rule for ``key`` arguments, shared by every entry point.

``key`` is keyword-only everywhere and accepts a ``jax.random.key(...)`` (new-style typed key), a
raw ``uint32[2]`` key (``jax.random.PRNGKey``) or an int seed. Functions whose work is random
(initialisation, data order) require it: randomness is explicit, there is no default key.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr._utils._arrays import device_array, seed_key
from jaxlr._utils._validation import fail, shorten

__all__ = ["as_key"]


def as_key(fn: str, key: Any, *, required: bool = True) -> jax.Array | None:
    """A typed PRNG key from ``key`` (see the module docstring); ``None`` if optional."""
    if key is None:
        if required:
            fail(fn, "`key` is required (randomness is explicit); got key=None.",
                 hint="Pass key=0 (an int seed) or key=jax.random.key(0).", error=TypeError)
        return None
    if isinstance(key, (bool, np.bool_)):
        fail(fn, f"`key` must be a jax.random.key(...) or an int seed; got key={key!r}.",
             error=TypeError)
    if isinstance(key, (int, np.integer)):
        if not 0 <= int(key) < 2**32:
            fail(fn, f"an int seed must be in [0, 2**32); got key={key}.")
        return seed_key(int(key))
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            fail(fn, f"`key` must be a single key (shape ()); got a key array of shape "
                 f"{key.shape}.", hint="Pass one key; jaxlr splits it for its lanes.")
        return key
    arr = np.asarray(key) if not isinstance(key, jax.core.Tracer) else key
    if getattr(arr, "dtype", None) == np.uint32 and tuple(arr.shape) == (2,):
        return jax.random.wrap_key_data(device_array(arr))
    fail(fn, f"`key` must be a jax.random.key(...) or an int seed; got key={shorten(key)}.",
         error=TypeError)
    raise AssertionError  # unreachable
