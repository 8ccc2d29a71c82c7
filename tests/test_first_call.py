"""A first call compiles only its main program.

Eager ``jax.numpy`` on host values (``jnp.asarray`` of numpy data, ``jnp.zeros(())``,
``jax.random.key(0)``) compiles a small XLA program per new shape and dtype; a finder's first
call in a fresh process used to compile a dozen of them before its main program. These tests
empty JAX's caches, then count every XLA compilation (``jax.monitoring``) of one call.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlr

_EVENT = "/jax/core/compile/backend_compile_duration"
_LOG: list[int] = []
_ON = [False]


def _listen(event, *args, **kwargs):
    if event == _EVENT and _ON[0]:
        _LOG.append(1)


jax.monitoring.register_event_duration_secs_listener(_listen)

rng = np.random.default_rng(0)
X = rng.normal(size=(97, 5)).astype(np.float32)          # shapes no other test uses
Y = (X @ np.arange(1.0, 6.0, dtype=np.float32)).astype(np.float32)
XV, YV = X[:19] * 1.1, Y[:19] * 1.1


def init(key):
    return {"w": 0.1 * jax.random.normal(key, (5,)), "b": jnp.zeros(())}


def loss(p, batch):
    x, y = batch
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


def _compiles(call):
    jax.clear_caches()
    _LOG.clear()
    _ON[0] = True
    try:
        out = call()
    finally:
        _ON[0] = False
    return len(_LOG), out


def test_parallel_finder_first_call_compiles_one_program():
    n, r = _compiles(lambda: jaxlr.parallel_lr_find(
        init, loss, (X, Y), valid_data=(XV, YV), num_lrs=6, num_steps=20, batch_size=16,
        key=0))
    assert n == 1 and r.losses.shape == (6, 1, 20)


def test_one_lane_first_call_compiles_one_program():
    n, r = _compiles(lambda: jaxlr.parallel_lr_find(
        init, loss, (X, Y), lrs=[0.01], num_steps=20, batch_size=16, key=3))
    assert n == 1 and r.losses.shape == (1, 1, 20)


def test_range_test_first_call_compiles_one_program():
    n, r = _compiles(lambda: jaxlr.lr_find(init, loss, (X, Y), num_steps=120, batch_size=16,
                                           key=0))
    assert n == 1 and r.losses.shape == (120,)


def test_find_compiles_one_program_per_rung():
    n, r = _compiles(lambda: jaxlr.find(
        init, loss, (X, Y), valid_data=(XV, YV), optimizer=jaxlr.adam, target_steps=200,
        budget=4, batch_size=16, key=0))
    assert n == len(r.rungs) >= 2


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**31 - 1, 2**31, 2**32 - 1])
def test_int_seeds_give_jax_random_key(seed):
    # the host-built key of an int seed is jax.random.key(seed), bit for bit
    ours = jaxlr.engine.as_key("test", seed)
    ref = jax.random.key(seed)
    assert ours.dtype == ref.dtype
    np.testing.assert_array_equal(jax.random.key_data(ours), jax.random.key_data(ref))
    np.testing.assert_array_equal(jax.random.normal(ours, (3,)), jax.random.normal(ref, (3,)))
