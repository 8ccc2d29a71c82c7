import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlr.population import population_map, tree_where


def _member(lr, x0):
    # a tiny gradient-descent "training run" per member; diverges for large lr
    def body(x, _):
        x = x - lr * 2.0 * x * (1.0 + x * x)
        return x, x

    x, xs = jax.lax.scan(body, x0, None, length=20)
    return {"final": x, "curve": xs, "finite": jnp.all(jnp.isfinite(xs))}


def test_vmap_chunked_and_loop_agree():
    lrs = jnp.array([0.01, 0.1, 0.3, 2.0, 0.05], jnp.float32)
    x0 = jnp.full((5,), 1.5, jnp.float32)
    full = population_map(_member, lrs, x0)
    chunked = population_map(_member, lrs, x0, chunk_size=2)
    singly = population_map(_member, lrs, x0, chunk_size=1)    # lax.map, no vmap of width 1
    np.testing.assert_array_equal(np.asarray(singly["finite"]), np.asarray(full["finite"]))
    for i in range(5):
        alone = jax.jit(_member)(lrs[i], x0[i])
        np.testing.assert_array_equal(full["finite"][i], alone["finite"])
        if bool(alone["finite"]):
            np.testing.assert_allclose(full["final"][i], alone["final"], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(full["finite"]), np.asarray(chunked["finite"]))
    ok = np.asarray(full["finite"])
    np.testing.assert_array_equal(np.asarray(full["final"])[ok], np.asarray(chunked["final"])[ok])
    assert not ok[3] and ok[[0, 1, 4]].all()


def test_tree_where_and_isfinite():
    a = {"x": jnp.ones(3), "n": jnp.array(1, jnp.int32)}
    b = {"x": jnp.zeros(3), "n": jnp.array(2, jnp.int32)}
    assert float(tree_where(jnp.array(False), a, b)["x"].sum()) == 0.0
    assert float(tree_where(jnp.array(True), a, b)["n"]) == 1


def test_mismatched_population_is_a_clear_error():
    with pytest.raises(ValueError, match="leading"):
        population_map(lambda a, b: a + b, jnp.zeros(3), jnp.zeros(4))


@pytest.mark.slow
def test_sharded_equals_single_device_on_8_virtual_devices():
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        from jaxlr.population import population_map
        assert len(jax.devices()) == 8, jax.devices()
        f = lambda lr, x: jax.lax.fori_loop(0, 10, lambda i, x: x - lr * x ** 3, x)
        lrs = jnp.linspace(0.01, 0.5, 13)
        x0 = jnp.linspace(0.5, 1.5, 13)
        a = population_map(f, lrs, x0, mesh=None)             # every device along "trials"
        b = population_map(f, lrs, x0, mesh="none")
        assert a.shape == (13,)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
        print("OK")
    """)
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr
