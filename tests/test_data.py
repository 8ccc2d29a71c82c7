import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlr
from jaxlr.engine import _data as D


def test_each_epoch_is_a_permutation_and_partial_batch_is_dropped():
    key = jax.random.key(0)
    n, bs = 10, 3
    idx = jnp.stack([D.batch_indices(key, s, n, bs) for s in range(6)])
    e0 = np.asarray(idx[:3]).ravel()
    e1 = np.asarray(idx[3:]).ravel()
    assert len(set(e0)) == 9 and len(set(e1)) == 9
    assert not np.array_equal(e0, e1)


def test_batch_indices_jit_equals_eager():
    key = jax.random.key(1)
    f = jax.jit(lambda s: D.batch_indices(key, s, 50, 8))
    for s in (0, 5, 6, 13):
        np.testing.assert_array_equal(f(s), D.batch_indices(key, s, 50, 8))


def test_check_dataset_errors():
    with pytest.raises(ValueError, match="batch_size=11"):
        jaxlr.engine.check_dataset("fit", (np.zeros((10, 2)), np.zeros(10)), 11)
    with pytest.raises(ValueError, match="leading"):
        jaxlr.engine.check_dataset("fit", (np.zeros((10, 2)), np.zeros(9)), 2)
    with pytest.raises(TypeError, match="batch_size=2.0"):
        jaxlr.engine.check_dataset("fit", (np.zeros((10, 2)),), 2.0)
