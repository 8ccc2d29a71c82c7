"""Host values onto the device without compiling anything.

In eager mode ``jnp.asarray(numpy_array)``, ``jnp.zeros(())`` or ``jax.random.key(0)`` each
compile a small XLA program (a staging copy, a broadcast, a dtype conversion, a seed) the first
time a shape and dtype are seen: a dozen of them before a finder's or ``fit``'s main program, on
every first call in a fresh process. The helpers here build the value with numpy on the host and
transfer it (``jax.device_put``, no compilation); traced values and device arrays go through
``jax.numpy`` as before.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["device_array", "full", "seed_key"]


def device_array(x: Any, dtype: Any = None, *, copy: bool = False) -> Any:
    """``jnp.asarray(x, dtype)`` (``jnp.array`` when ``copy``) for host values, transferred.

    The dtype is JAX's canonical one (float64 becomes float32 unless x64 is enabled), as
    ``jnp.asarray`` would give; ``copy=True`` never aliases the caller's buffer.
    """
    if isinstance(x, (jax.Array, jax.core.Tracer)):
        return jnp.array(x, dtype) if copy else jnp.asarray(x, dtype)
    host = np.array(x, dtype=dtype, copy=True) if copy else np.asarray(x, dtype=dtype)
    if host.dtype == object:
        return jnp.asarray(x, dtype)          # let jax.numpy raise its own error
    canon = jax.dtypes.canonicalize_dtype(host.dtype)
    if canon != host.dtype:
        host = host.astype(canon)
    return jax.device_put(host)


def full(value: Any, dtype: Any, shape: tuple[int, ...] = ()) -> jax.Array:
    """``jnp.full(shape, value, dtype)`` built on the host (a fresh buffer)."""
    if isinstance(value, (jax.Array, jax.core.Tracer)):
        return jnp.full(shape, value, dtype)
    return jax.device_put(np.full(shape, value, dtype=jax.dtypes.canonicalize_dtype(dtype)))


def seed_key(seed: int) -> jax.Array:
    """``jax.random.key(seed)`` for ``0 <= seed < 2**32``.

    With the default ``threefry2x32`` implementation the key's data is ``[0, seed]`` (what
    ``jax.random.key`` computes in a compiled program), built on the host; other
    implementations call ``jax.random.key``.
    """
    impl = jax.config.jax_default_prng_impl
    if impl != "threefry2x32" or not 0 <= seed < 2**32:
        return jax.random.key(seed)
    data = jax.device_put(np.array([0, seed], np.uint32))
    return jax.random.wrap_key_data(data, impl="threefry2x32")
