"""Population x data sharding on 8 virtual CPU devices, and data-parallel ``fit``.

One subprocess (the device count is fixed when jax starts) checks: the parallel finder on the
8x1, 4x2, 2x4 and 1x8 ``("trials", "data")`` meshes, ``jaxlr.find`` on 4x2 and ``sweep_task``
on 2x4 equal the one-device run to float32 rounding (rtol 1e-4: the batch-mean reductions are
split differently); ``fit(mesh=)`` on 1x8 and 1x4 meshes equals the one-device ``fit`` and the
batch its loss sees is really split over ``"data"`` (``jax.debug.inspect_array_sharding``), as
is a finder candidate's; bad meshes fail before work.
"""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

import jaxlr

CODE = textwrap.dedent("""
    import warnings
    import jax, jax.numpy as jnp, numpy as np, optax, jaxlr
    from jaxlr.population import make_mesh
    from jaxlr.finder import _lanes
    assert len(jax.devices()) == 8, jax.devices()
    x = jax.random.normal(jax.random.key(1), (128, 3)); y = x @ jnp.array([1.0, -1.0, 2.0])
    data, valid = (x, y), (x[:32], y[:32])
    loss = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    init = lambda k: 0.1 * jax.random.normal(k, (3,))
    kw = dict(num_lrs=8, min_lr=1e-3, max_lr=3.0, num_steps=12, batch_size=16,
              optimizer=optax.sgd, num_seeds=2, valid_data=valid, key=0, per_seed_init=True)
    one = jaxlr.parallel_lr_find(init, loss, data, mesh="none", **kw)
    fkw = dict(optimizer=optax.sgd, target_steps=64, budget=2.0, batch_size=16, key=0,
               min_lr=1e-3, max_lr=3.0, valid_data=valid, num_lrs=8)
    f_one = jaxlr.find(init, loss, data, mesh="none", **fkw)
    for trials, width in ((8, 1), (4, 2), (2, 4), (1, 8)):
        mesh = make_mesh(trials=trials, data=width)
        many = jaxlr.parallel_lr_find(init, loss, data, mesh=mesh, **kw)
        np.testing.assert_array_equal(many.diverged, one.diverged)
        ok = ~one.diverged
        np.testing.assert_allclose(many.losses[ok], one.losses[ok], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(many.valid_losses[ok], one.valid_losses[ok], rtol=1e-4,
                                   atol=1e-6)
        if (trials, width) == (4, 2):  # jaxlr.find's rungs on a 2-D mesh
            f = jaxlr.find(init, loss, data, mesh=mesh, **fkw)
            assert [r.lrs.shape for r in f.rungs] == [r.lrs.shape for r in f_one.rungs]
            np.testing.assert_allclose(f.suggestion, f_one.suggestion, rtol=1e-3)
        if (trials, width) == (2, 4):  # sweep trials: batches over "data" too
            sw = [jaxlr.sweep_task((init, loss, data, valid), key=0, steps=12, batch_size=16,
                                   optimizer="sgd", mesh=m, space=jaxlr.grid(
                                       {"learning_rate": [0.01, 0.03, 0.1, 0.3]}))
                  for m in (mesh, "none")]
            np.testing.assert_allclose(sw[0].metrics["valid_loss"], sw[1].metrics["valid_loss"],
                                       rtol=1e-4, atol=1e-6)
        print("mesh", trials, width, "OK")
    # data-parallel fit == one-device fit, and the batch the loss sees is split over "data"
    seen = []

    def watched(w, b):
        jax.debug.inspect_array_sharding(b[0], callback=seen.append)
        return loss(w, b)

    opt = jaxlr.adam(0.05)
    a, ha = jaxlr.fit(loss, opt, init, data, steps=40, batch_size=16, key=3, progress=False,
                      valid_data=valid)
    for width in (8, 4):
        mesh = make_mesh(trials=1, data=width, devices=jax.devices()[:width])
        seen.clear()
        b, hb = jaxlr.fit(watched, opt, init, data, steps=40, batch_size=16, key=3,
                          progress=False, valid_data=valid, mesh=mesh)
        np.testing.assert_allclose(hb.train["loss"], ha.train["loss"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b.params, a.params, rtol=1e-4, atol=1e-6)
        assert b.params.sharding.is_fully_replicated and len(b.params.sharding.device_set) == width
        # training batches are split; the evaluation of the validation set is not
        assert all(len(s.device_set) == width for s in seen), seen
        assert any(not s.is_fully_replicated for s in seen), seen
        print("fit", width, "OK")
    # FSDP-style: the parameters (and Adam's moments) split over "data", the same numbers
    wide = lambda k: {"w": 0.1 * jax.random.normal(k, (8, 3)), "b": jnp.zeros(3)}
    wloss = lambda p, b: jnp.mean((jnp.tanh(b[0] @ p["w"][:3]) @ jnp.ones(3) + p["b"].sum()
                                   - b[1]) ** 2)
    mesh8 = make_mesh(trials=1, data=8)
    r1, h1 = jaxlr.fit(wloss, opt, wide, data, steps=20, batch_size=16, key=3, progress=False)
    r8, h8 = jaxlr.fit(wloss, opt, wide, data, steps=20, batch_size=16, key=3, progress=False,
                       mesh=mesh8, shard_params=True)
    np.testing.assert_allclose(h8.train["loss"], h1.train["loss"], rtol=1e-4, atol=1e-6)
    assert not r8.params["w"].sharding.is_fully_replicated         # 8 rows over 8 devices
    assert r8.params["b"].sharding.is_fully_replicated             # 3 rows: replicated
    mu = [x for x in jax.tree_util.tree_leaves(r8.opt_state) if getattr(x, "shape", ()) == (8, 3)]
    assert mu and all(not x.sharding.is_fully_replicated for x in mu), mu
    print("fsdp OK")
    # a finder's candidates: their batches too
    seen.clear()
    jaxlr.parallel_lr_find(init, watched, data, mesh=make_mesh(trials=2, data=4),
                           **{**kw, "num_lrs": 4})
    assert seen and not seen[0].is_fully_replicated, seen
    try:
        jaxlr.fit(loss, opt, init, data, steps=4, batch_size=12, key=3, progress=False,
                  mesh=make_mesh(trials=1, data=8))
    except ValueError as e:
        assert "batch_size=12 must be divisible" in str(e), e
    else:
        raise AssertionError("no error for an uneven split")
    try:
        jaxlr.fit(loss, opt, init, data, steps=4, batch_size=16, key=3, progress=False,
                  mesh=make_mesh(trials=2, data=4))
    except ValueError as e:
        assert "only be larger than 1 along" in str(e), e
    else:
        raise AssertionError("no error for a trials axis in fit")
    print("ALL OK")
""")


@pytest.mark.slow
def test_population_by_data_meshes_and_data_parallel_fit_on_8_virtual_devices():
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0 and "ALL OK" in out.stdout, out.stdout + out.stderr[-6000:]


def test_fit_mesh_must_be_a_mesh():
    with pytest.raises(TypeError, match="fit: `mesh` must be a jax.sharding.Mesh"):
        jaxlr.fit(lambda w, b: jnp.mean((b @ w) ** 2), jaxlr.sgd(0.1), jnp.zeros(2),
                  jnp.ones((8, 2)), steps=2, batch_size=4, key=0, progress=False,
                  mesh="data")
    mesh = jax.sharding.Mesh(jax.devices()[:1], ("x",))
    with pytest.raises(ValueError, match='fit: `mesh` has no "data" axis'):
        jaxlr.fit(lambda w, b: jnp.mean((b @ w) ** 2), jaxlr.sgd(0.1), jnp.zeros(2),
                  jnp.ones((8, 2)), steps=2, batch_size=4, key=0, progress=False, mesh=mesh)
