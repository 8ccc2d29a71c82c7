"""Checkpoints (orbax) and bit-exact resume, including in a new process."""

import json
import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlr

# The run used on both sides of the process boundary (kept in one string so that the child
# builds exactly the same loss, optimizer, controllers and data).
SETUP = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, jaxlr

    def loss_fn(p, batch, *, key):
        x, y = batch
        h = jnp.tanh(x @ p["w1"])
        keep = jax.random.bernoulli(key, 0.9, h.shape)   # dropout: uses the per-step key
        out = (jnp.where(keep, h / 0.9, 0.0)) @ p["w2"]
        return jnp.mean((out - y) ** 2)

    def make():
        kx, kp = jax.random.split(jax.random.key(0))
        x = jax.random.normal(kx, (48, 4))
        y = jnp.sin(x.sum(axis=1, keepdims=True))
        k1, k2 = jax.random.split(kp)
        params = {"w1": 0.5 * jax.random.normal(k1, (4, 8)),
                  "w2": 0.5 * jax.random.normal(k2, (8, 1))}
        opt = jaxlr.adamw(jaxlr.warmup_cosine(0.05, warmup_steps=3, total_steps=20),
                          weight_decay=1e-3, max_grad_norm=1.0)
        state = jaxlr.TrainState.create(params, opt, key=jax.random.key(42))
        kw = dict(batch_size=8, key=jax.random.key(5), valid_data=(x[:16], y[:16]),
                  eval_fn=lambda p, b: jnp.mean((jnp.tanh(b[0] @ p["w1"]) @ p["w2"] - b[1]) ** 2),
                  eval_every=4, plateau=jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0),
                  progress=False)
        return loss_fn, opt, state, (x, y), kw
""")


def _namespace():
    ns: dict = {}
    exec(SETUP, ns)  # noqa: S102 - test helper
    return ns


def test_save_restore_roundtrip(tmp_path):
    loss_fn, opt, state, data, kw = _namespace()["make"]()
    # every leaf moved away from its initial value (no training needed: nothing to compile)
    state = state.replace(plateau=jaxlr.controllers.reduce_on_plateau(factor=0.5).init())
    state = jax.tree.map(_perturb, state)
    assert int(state.step) == 5
    jaxlr.save_checkpoint(tmp_path / "ck", state)
    assert jaxlr.latest_checkpoint_step(tmp_path / "ck") == 5
    _, _, target, _, _ = _namespace()["make"]()
    target = target.replace(plateau=jaxlr.controllers.reduce_on_plateau().init())
    restored = jaxlr.restore_checkpoint(tmp_path / "ck", target)
    chex.assert_trees_all_equal(jax.tree.map(_raw, restored), jax.tree.map(_raw, state))
    chex.assert_trees_all_equal_dtypes(jax.tree.map(_raw, restored), jax.tree.map(_raw, state))
    np.testing.assert_array_equal(jaxlr.current_lr(restored), jaxlr.current_lr(state))
    with pytest.raises(FileNotFoundError):
        jaxlr.restore_checkpoint(tmp_path / "missing", target)


def _perturb(x):
    if jax.dtypes.issubdtype(x.dtype, jnp.floating):
        return x + jnp.asarray(0.375, x.dtype)
    if jax.dtypes.issubdtype(x.dtype, jnp.integer):
        return x + jnp.asarray(5, x.dtype)
    return x


def _raw(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(x)
    return x


@pytest.mark.slow
def test_resume_in_new_process_is_bit_exact(tmp_path):
    ns = _namespace()
    loss_fn, opt, state, data, kw = ns["make"]()
    full, hist_full = jaxlr.fit(loss_fn, opt, state, data, steps=14, **kw)
    ckpt = str(tmp_path / "ckpt")
    # first half here; the checkpoint is written at the end (step 7)
    half, _ = jaxlr.fit(loss_fn, opt, state, data, steps=7, checkpoint_dir=ckpt,
                        checkpoint_every=3, **kw)
    assert jaxlr.latest_checkpoint_step(ckpt) == 7
    from jaxlr.engine._checkpoint import CheckpointManager
    mngr = CheckpointManager(ckpt)
    assert mngr.all_steps() == [3, 6, 7]  # every 3 steps and at the end
    mngr.close()
    out = str(tmp_path / "params.npz")
    child = SETUP + textwrap.dedent(f"""
        loss_fn, opt, state, data, kw = make()
        st, h = jaxlr.fit(loss_fn, opt, state, data, steps=14, checkpoint_dir={ckpt!r}, **kw)
        assert h.resumed_from == 7, h.resumed_from
        leaves = jax.tree.leaves(st.params) + [jaxlr.current_lr(st), st.plateau.scale]
        np.savez({out!r}, *[np.asarray(x) for x in leaves],
                 loss=h.train["loss"], lr=h.train["lr"])
    """)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    res = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    got = np.load(out)
    want = jax.tree.leaves(full.params) + [jaxlr.current_lr(full), full.plateau.scale]
    for i, w in enumerate(want):
        np.testing.assert_array_equal(got[f"arr_{i}"], np.asarray(w))  # bit-exact
    np.testing.assert_array_equal(got["loss"], hist_full.train["loss"][7:])
    np.testing.assert_array_equal(got["lr"], hist_full.train["lr"][7:])
    assert int(half.step) == 7


def test_saved_as_the_pytree_with_its_paths(tmp_path):
    _, _, state, _, _ = _namespace()["make"]()
    jaxlr.save_checkpoint(tmp_path / "ck", state)
    step_dir = tmp_path / "ck" / "0"
    # orbax's own metadata of the state item names the tree paths (not a flat list of leaves)
    meta = json.loads((step_dir / "state" / "_METADATA").read_text())
    names = {str(k) for k in meta["tree_metadata"]}
    assert any("params" in n and "w1" in n for n in names), sorted(names)[:5]
    assert any("opt_state" in n and "mu" in n for n in names)
    assert not any("00000" in n for n in names)
    # jaxlr's record: one entry per leaf, by path, keys as key data
    record = json.loads((step_dir / "jaxlr" / "metadata").read_text())
    paths = [leaf["path"] for leaf in record["leaves"]]
    assert paths == [jax.tree_util.keystr(p) for p, _ in
                     jax.tree_util.tree_flatten_with_path(state)[0]]
    key = record["leaves"][paths.index(".key")]
    assert key["dtype"] == "uint32" and key["key"] == {"dtype": "key<fry>",
                                                        "impl": "threefry2x32"}


SHARDED = textwrap.dedent("""
import os, sys
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from jaxlr.engine._checkpoint import CheckpointManager
d = sys.argv[1]
devs = jax.devices()
assert len(devs) >= 4, devs
mesh = Mesh(np.array(devs[:4]).reshape(4), ("x",))
mesh2 = Mesh(np.array(devs[:4]).reshape(2, 2), ("a", "b"))
row = NamedSharding(mesh, P("x"))
grid = NamedSharding(mesh2, P("a", "b"))
rep = NamedSharding(mesh, P())
w = jax.device_put(jnp.arange(32.0).reshape(8, 4), row)
key = jax.device_put(jax.random.split(jax.random.key(1), 4), row)
state = {"w": w, "b": jax.device_put(jnp.ones(4), rep), "keys": key, "step": jnp.int32(3)}
m = CheckpointManager(d)
m.save(state, 3)
# the target asks for other shardings: each array comes back with the target's
target = {"w": jax.device_put(jnp.zeros((8, 4)), grid), "b": jax.device_put(jnp.zeros(4), row),
          "keys": jax.device_put(jax.random.split(jax.random.key(0), 4), rep),
          "step": jnp.int32(0)}
out = m.restore(target)
for k in ("w", "b"):
    assert out[k].sharding.is_equivalent_to(target[k].sharding, out[k].ndim), (k, out[k].sharding)
    np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(state[k]))
kd = jax.random.key_data(out["keys"])
assert jax.random.key_data(target["keys"]).sharding.is_equivalent_to(kd.sharding, kd.ndim)
np.testing.assert_array_equal(np.asarray(kd), np.asarray(jax.random.key_data(key)))
assert out["w"].sharding == grid and len(out["w"].addressable_shards) == 4
# the same shardings as saved, from abstract leaves
abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
                        if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x, state)
out = m.restore(abstract)
assert out["w"].sharding == row
np.testing.assert_array_equal(np.asarray(out["w"]), np.asarray(w))
print("sharded restore ok", jax.default_backend())
""")


@pytest.mark.slow
def test_sharded_state_comes_back_with_the_targets_shardings(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=os.environ.get("XLA_FLAGS", "") +
               " --xla_force_host_platform_device_count=4")
    res = subprocess.run([sys.executable, "-c", SHARDED, str(tmp_path / "ck")],
                         capture_output=True, text=True, env=env, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "sharded restore ok" in res.stdout
