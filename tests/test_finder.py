"""Tests of the learning-rate finders (jaxlr.lr_find, jaxlr.parallel_lr_find, FinderResult)."""

import dataclasses
import functools
import json
import math
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxlr
from jaxlr.engine._data import batch_indices, take

X = jax.random.normal(jax.random.key(1), (96, 4), jnp.float32)
W_TRUE = jnp.array([1.0, -2.0, 0.5, 3.0], jnp.float32)
Y = X @ W_TRUE
DATA = (X, Y)
VALID = (X[:32] * 1.5, Y[:32] * 1.5)
P0 = {"w": jnp.zeros(4, jnp.float32), "b": jnp.zeros((), jnp.float32)}


def loss_fn(p, batch):
    x, y = batch
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


SMALL = dict(num_steps=20, batch_size=16, optimizer=optax.sgd, smoothing=0.5, key=0)
# most tests share this configuration (and so one compiled program per number of candidates)
KW = dict(SMALL, key=jax.random.key(0), valid_data=VALID, eval_every=5)


def _manual_run(lr, steps, key, beta=0.5, opt=optax.sgd):
    """A plain training loop with the batches the finder uses (seed 0)."""
    seed_key = jax.random.fold_in(key, 0)       # seed 0's key: its data order
    tx = opt(lr)
    p, s = P0, tx.init(P0)
    losses, smoothed, ema = [], [], 0.0

    @jax.jit
    def step(p, s, k):
        batch = take(DATA, batch_indices(seed_key, k, 96, 16))
        loss, g = jax.value_and_grad(loss_fn)(p, batch)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    for k in range(steps):
        p, s, loss = step(p, s, k)
        ema = beta * ema + (1 - beta) * float(loss)
        losses.append(float(loss))
        smoothed.append(ema / (1 - beta ** (k + 1)))
    return np.array(losses), np.array(smoothed), p


def test_one_lane_is_a_plain_training_run():
    r = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=[0.05], **KW)
    losses, smoothed, p = _manual_run(0.05, 20, KW["key"])
    np.testing.assert_allclose(r.losses[0, 0], losses, rtol=2e-5)
    np.testing.assert_allclose(r.smoothed[0, 0], smoothed, rtol=2e-5)
    np.testing.assert_allclose(r.final_losses[0, 0], smoothed[-1], rtol=2e-5)
    np.testing.assert_allclose(r.valid_losses[0, 0], float(loss_fn(p, VALID)), rtol=2e-5)
    assert not r.diverged[0, 0] and r.diverged_step[0, 0] == -1


def test_diverged_lane_is_masked_and_never_changes_the_others():
    kw = KW
    bad = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=[0.01, 0.05, 50.0], **kw)
    good = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=[0.01, 0.05, 0.1], **kw)
    assert bad.diverged[:, 0].tolist() == [False, False, True]
    step = int(bad.diverged_step[2, 0])
    assert 0 <= step < 19
    assert np.isnan(bad.losses[2, 0, step + 1:]).all() and np.isnan(bad.valid_losses[2, 0])
    assert np.isnan(bad.final_losses[2, 0])
    for field in ("losses", "smoothed", "final_losses", "valid_losses", "valid_curve"):
        np.testing.assert_array_equal(getattr(bad, field)[:2], getattr(good, field)[:2])
    # ... and equal to the healthy lane run alone (a one-lane population runs without vmap:
    # XLA's CPU kernels for other batch widths round differently, hence the tolerance)
    alone = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=[0.05], **kw)
    for field in ("losses", "smoothed", "final_losses", "valid_losses", "valid_curve"):
        np.testing.assert_allclose(getattr(alone, field)[0], getattr(bad, field)[1],
                                   rtol=1e-5, atol=1e-6)


def test_rerun_with_other_values_does_not_retrace():
    traces = []

    def counted(p, batch):
        traces.append(1)
        return loss_fn(p, batch)

    @functools.partial(jax.tree_util.register_dataclass, data_fields=["decay"], meta_fields=[])
    class Decay:
        def __init__(self, decay):
            self.decay = decay

        def __call__(self, step):
            return 1.0 / (1.0 + self.decay * jnp.asarray(step, jnp.float32))

    kw = dict(SMALL, num_lrs=4, warmup_steps=3)
    jaxlr.parallel_lr_find(P0, counted, DATA, min_lr=1e-3, max_lr=1.0,
                           schedule=Decay(jnp.float32(0.1)), **kw)
    n = len(traces)
    assert n >= 1
    jaxlr.parallel_lr_find(P0, counted, DATA, min_lr=1e-2, max_lr=3.0,
                           schedule=Decay(jnp.float32(0.5)), **dict(kw, key=7))
    jaxlr.parallel_lr_find(P0, counted, DATA, lrs=[0.1, 0.2, 0.3, 0.4],
                           schedule=Decay(jnp.float32(0.0)), **kw)
    assert len(traces) == n
    # the range test too: other bounds, same program
    jaxlr.lr_find(P0, counted, DATA, min_lr=1e-4, max_lr=1.0, num_steps=20, batch_size=16,
                  optimizer=optax.sgd, smoothing=0.5, key=0)
    m = len(traces)
    jaxlr.lr_find(P0, counted, DATA, min_lr=1e-3, max_lr=3.0, num_steps=20, batch_size=16,
                  optimizer=optax.sgd, smoothing=0.8, key=1)
    assert len(traces) == m


def test_schedule_shape_and_schedule_fn_are_equivalent():
    shape = lambda step: jnp.where(step < 10, 1.0, 0.1).astype(jnp.float32)
    peak_fn = lambda peak: (lambda step: peak * shape(step))
    lrs = [0.02, 0.05, 0.08]
    a = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=lrs, schedule=shape, **KW)
    b = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=lrs, schedule_fn=peak_fn, **KW)
    c = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=lrs, **KW)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-6)
    assert not np.allclose(a.losses[:, :, 12:], c.losses[:, :, 12:])
    np.testing.assert_allclose(a.losses[:, :, :11], c.losses[:, :, :11], rtol=1e-6)
    # warmup_steps is jaxlr.warmup around the candidate's schedule (a jaxlr pytree schedule)
    w = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=lrs, warmup_steps=4, **KW)
    v = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=lrs,
                               schedule=jaxlr.warmup(jaxlr.constant(1.0), 4), **KW)
    np.testing.assert_allclose(w.losses, v.losses, rtol=1e-6)
    assert len(set(w.losses[:, 0, 1].tolist())) == 1        # rate 0 at update 0: all equal
    assert len(set(w.losses[:, 0, 2].tolist())) == 3
    assert not np.allclose(w.losses[:, 0, 2], c.losses[:, 0, 2])


def test_chunked_equals_unchunked_and_seeds():
    kw = dict(SMALL, num_lrs=3, min_lr=1e-2, max_lr=100.0, num_seeds=2)
    a = jaxlr.parallel_lr_find(P0, loss_fn, DATA, **kw)
    b = jaxlr.parallel_lr_find(P0, loss_fn, DATA, chunk_size=2, **kw)
    np.testing.assert_array_equal(a.diverged, b.diverged)
    np.testing.assert_array_equal(a.losses, b.losses)
    # one candidate at a time (no vmap): each is its run alone, equal to float32 rounding
    one = jaxlr.parallel_lr_find(P0, loss_fn, DATA, chunk_size=1, **kw)
    np.testing.assert_array_equal(a.diverged, one.diverged)
    np.testing.assert_allclose(a.losses, one.losses, rtol=1e-5)
    assert a.losses.shape == (3, 2, 20) and a.final_losses.shape == (3, 2)
    assert a.diverged[-1].all() and not a.diverged[0].any()
    # seeds see different batches; candidates of one seed see the same ones (CRN)
    assert not np.array_equal(a.losses[0, 0], a.losses[0, 1])
    np.testing.assert_allclose(a.losses[0, :, 0], a.losses[1, :, 0])   # same init + batch
    c = jaxlr.parallel_lr_find(P0, loss_fn, DATA, common_random_numbers=False, **kw)
    assert not np.allclose(c.losses[0, 0, 0], c.losses[1, 0, 0])


def test_pregathered_batches_equal_per_update_gathers(monkeypatch):
    # Small data: all batches of a run are gathered before the scan; larger: the example
    # indices are drawn before the scan and each update gathers its batch; beyond that, each
    # update draws its epoch's permutation. Same numbers every way, with validation blocks
    # and a tail (23 = 4 x 5 + 3).
    from jaxlr.engine import _run

    kw = dict(SMALL, num_steps=23, key=jax.random.key(3), valid_data=VALID, eval_every=5)
    assert _run.should_pregather(DATA, 23, 16, 2) and not _run.should_pregather(DATA, 2**30, 16)
    runs = []
    for gather, table in ((_run.PREGATHER_BYTES, _run.INDEX_TABLE_BYTES),
                          (0, _run.INDEX_TABLE_BYTES), (0, 0)):
        monkeypatch.setattr(_run, "PREGATHER_BYTES", gather)
        monkeypatch.setattr(_run, "INDEX_TABLE_BYTES", table)
        jax.clear_caches()                  # the index-table choice is made while tracing
        runs.append((jaxlr.parallel_lr_find(P0, loss_fn, DATA, num_lrs=3, num_seeds=2, **kw),
                     jaxlr.lr_find(P0, loss_fn, DATA, **kw)))
    pa, ra = runs[0]
    for pb, rb in runs[1:]:
        for field in ("losses", "valid_curve", "valid_losses"):
            np.testing.assert_array_equal(getattr(pa, field), getattr(pb, field))
        for field in ("losses", "smoothed", "valid_losses"):
            np.testing.assert_array_equal(getattr(ra, field), getattr(rb, field))


def test_task_input_per_seed_init_and_result_export(tmp_path):
    from jaxlr.tasks import get_task

    task = get_task("digits-mlp", hidden=16)
    r = jaxlr.parallel_lr_find(task, num_lrs=6, min_lr=1e-3, max_lr=10.0, num_steps=30,
                               num_seeds=2, per_seed_init=True, smoothing=0.8,
                               target_steps=300, key=0)
    # target_steps: eval_every defaults to num_steps // 10, the default rule is `horizon`
    assert r.valid_curve.shape == (6, 2, 10) and r.valid_steps.tolist() == list(range(3, 31, 3))
    assert r.target_steps == 300 and r.default_rule == "horizon"
    h = r.suggest_point()
    assert r.suggestion == h.lr == r.suggest("horizon", target_steps=300)
    assert h.rule == "horizon" and h.lr <= h.lr_point * (300 / 30) ** -0.5 * (1 + 1e-9)
    assert "horizon" in r.suggestions() and r.to_dict()["default_rule"] == "horizon"
    r = dataclasses.replace(r, target_steps=None)             # without it: best_final
    assert r.batch_size == task.batch_size and r.task == "digits-mlp"
    assert r.optimizer == "jaxlr.adam"                       # the default optimizer
    assert not np.array_equal(r.losses[0, 0, :1], r.losses[0, 1, :1])  # per-seed inits
    assert r.diverged[-1].all() and not r.diverged[:3].any()
    lr = r.suggestion
    assert 1e-3 <= lr <= 10.0 and lr == r.suggest("best_final")
    lo, hi = jaxlr.suggest_range(r)
    assert hi == lr and math.isclose(lo, hi / 4)
    d = json.loads(r.to_json(str(tmp_path / "r.json")))
    assert d["suggestion"] == lr and d["diverged"][-1] == [True, True]
    assert d["default_rule"] == "best_final" and set(d["suggestions"]) == {
        "steepest", "valley", "minimum_div_10", "best_final"}
    assert (tmp_path / "r.json").exists()
    ax = r.plot()
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(lbl.startswith("best_final") for lbl in labels)
    assert any(lbl.startswith("diverged") for lbl in labels)
    assert ax.get_xscale() == "log"
    import matplotlib.pyplot as plt

    plt.close("all")


def test_all_diverged_is_a_flagged_result():
    r = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=[100.0, 1000.0, 1e4], **KW)
    assert r.all_diverged and r.diverged.all()
    assert "diverged" in r.message
    with pytest.warns(RuntimeWarning, match="diverged"):
        assert math.isnan(r.suggestion)
    with pytest.warns(RuntimeWarning):
        assert all(math.isnan(v) for v in jaxlr.suggest_range(r))
    d = r.to_dict()
    assert d["suggestion"] is None and d["all_diverged"]


def test_range_test_ramp_divergence_and_plain_loop():
    key = jax.random.key(2)
    r = jaxlr.lr_find(P0, loss_fn, DATA, min_lr=1e-3, max_lr=100.0, num_steps=40,
                      batch_size=16, optimizer=optax.sgd, smoothing=0.5, key=key)
    np.testing.assert_allclose(r.lrs, 1e-3 * (1e5) ** (np.arange(40) / 39), rtol=1e-5)
    assert bool(r.diverged) and 0 < int(r.diverged_step) < 39
    k = int(r.diverged_step)
    assert np.isnan(r.losses[k + 1:]).all() and np.isfinite(r.losses[:k + 1]).all()
    # before divergence it is a plain loop with the same rates (data order: the key itself,
    # as in jaxlr.fit(key=key))
    p, losses = P0, []
    for i in range(k):
        batch = take(DATA, batch_indices(key, i, 96, 16))
        loss, g = jax.value_and_grad(loss_fn)(p, batch)
        p = jax.tree_util.tree_map(lambda a, b: a - r.lrs[i].astype(np.float32) * b, p, g)
        losses.append(float(loss))
    np.testing.assert_allclose(r.losses[:k], losses, rtol=1e-4)
    lin = jaxlr.lr_find(P0, loss_fn, DATA, min_lr=1e-3, max_lr=1.0, num_steps=11,
                        step_mode="linear", batch_size=16, smoothing=0.0, key=0)
    # jaxlr.linear (optax's formula, end + (init - end) * remaining): 1.3e-5 off at the start
    np.testing.assert_allclose(lin.lrs, np.linspace(1e-3, 1.0, 11), rtol=3e-5)
    np.testing.assert_array_equal(lin.losses, lin.smoothed)   # smoothing=0: none
    assert r.method == "range_test" and r.default_rule == "steepest"
    assert 1e-3 <= r.suggestion <= 100.0
    assert P0["w"].tolist() == [0.0] * 4                      # caller's params untouched


def test_range_test_validation_every_and_lag():
    r = jaxlr.lr_find(P0, loss_fn, DATA, valid_data=VALID, eval_every=5, min_lr=1e-4,
                      max_lr=1.0, num_steps=40, batch_size=16, optimizer=optax.sgd,
                      smoothing=0.9, key=1)
    assert r.valid_losses.shape == (8,) and r.valid_steps.tolist() == list(range(5, 41, 5))
    assert np.isfinite(r.valid_losses).all() and r.valid_losses[-1] < r.valid_losses[0]
    x, y = r.curve(on="valid")
    np.testing.assert_allclose(x, r.lrs[r.valid_steps - 1])
    with pytest.raises(ValueError, match="rule='horizon'"):   # parallel finder only
        r.suggest("horizon", target_steps=400)
    assert 0 <= r.lag_steps <= 9
    np.testing.assert_allclose(r.effective_lrs[r.lag_steps:], r.lrs[: 40 - r.lag_steps],
                               rtol=1e-5)
    assert math.isfinite(r.suggest("valley", on="valid"))
    assert math.isfinite(r.suggest("steepest", lag_correction=False))


def test_range_test_lag_estimate_on_a_known_delay():
    from jaxlr.finder._finder import estimate_lag

    raw = np.concatenate([np.full(40, 2.0), np.linspace(2.0, 0.2, 20), np.full(20, 0.2)])
    beta, ema, sm = 0.9, 0.0, []
    for k, v in enumerate(raw):
        ema = beta * ema + (1 - beta) * v
        sm.append(ema / (1 - beta ** (k + 1)))
    lag = estimate_lag(raw, np.array(sm), beta)
    assert 5 <= lag <= 10        # a ramp is delayed by the EMA's mean age, ~9 updates
    assert estimate_lag(raw, raw, 0.0) == 0


def test_flax_nnx_and_linen_models():
    from flax import linen as nn
    from flax import nnx

    class Lin(nnx.Module):
        def __init__(self, rngs):
            self.dense = nnx.Linear(4, 1, rngs=rngs)

        def __call__(self, x):
            return self.dense(x)[:, 0]

    def nnx_loss(model, batch):
        return jnp.mean((model(batch[0]) - batch[1]) ** 2)

    r = jaxlr.parallel_lr_find(Lin(nnx.Rngs(0)), nnx_loss, DATA, lrs=[0.01, 0.1], **SMALL)
    assert np.isfinite(r.losses).all() and r.final_losses[1, 0] < r.final_losses[0, 0]

    module = nn.Dense(1)
    variables = module.init(jax.random.key(0), X[:1])

    def linen_loss(v, batch):
        return jnp.mean((module.apply(v, batch[0])[:, 0] - batch[1]) ** 2)

    r2 = jaxlr.parallel_lr_find(variables, linen_loss, DATA, lrs=[0.01, 0.1], **SMALL)
    assert np.isfinite(r2.losses).all() and r2.final_losses[1, 0] < r2.final_losses[0, 0]
    with pytest.raises(TypeError, match="linen Module holds no parameters"):
        jaxlr.parallel_lr_find(module, linen_loss, DATA, **SMALL)


def test_jaxlr_optimizer_factories():
    r = jaxlr.parallel_lr_find(P0, loss_fn, DATA, lrs=[0.01, 0.05], num_steps=10,
                               batch_size=16, smoothing=0.5, key=0,
                               optimizer=functools.partial(jaxlr.momentum, momentum=0.9))
    assert np.isfinite(r.losses).all() and "momentum" in r.optimizer


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(min_lr=1.0, max_lr=0.1), ValueError, "min_lr=1.0, max_lr=0.1"),
    (dict(min_lr=0.0), ValueError, "min_lr=0.0"),
    (dict(max_lr=-1.0), ValueError, "max_lr=-1.0"),
    (dict(lrs=[0.1, 0.01]), ValueError, "strictly increasing"),
    (dict(lrs=[0.1, -1.0]), ValueError, "> 0"),
    (dict(num_steps=0), ValueError, "num_steps=0"),
    (dict(num_steps=10.0), TypeError, "num_steps=10.0"),
    (dict(smoothing=1.0), ValueError, "smoothing=1.0"),
    (dict(smoothing=0.99), ValueError, "smoothing=0.99"),
    (dict(divergence_threshold=1.0), ValueError, "divergence_threshold=1.0"),
    (dict(batch_size=500), ValueError, "batch_size=500"),
    (dict(eval_every=5), ValueError, "eval_every=5"),
    (dict(optimizer=optax.adam(1e-3)), TypeError, "factory"),
    (dict(per_seed_init=True), ValueError, "per_seed_init"),
    (dict(key="seed"), TypeError, "key"),
    (dict(target_steps=0), ValueError, "target_steps=0"),
    (dict(target_steps=1.5), TypeError, "target_steps=1.5"),
])
def test_parallel_bad_input(kwargs, error, match):
    kw = dict(num_steps=20, batch_size=16, smoothing=0.5, num_lrs=3, key=0)
    kw.update(kwargs)
    with pytest.raises(error, match=re.escape(match)) as e:
        jaxlr.parallel_lr_find(P0, loss_fn, DATA, **kw)
    assert "parallel_lr_find" in str(e.value)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_steps=5), "num_steps=5"),
    (dict(num_steps=40, smoothing=0.98), "smoothing=0.98"),
    (dict(step_mode="cosine"), "step_mode='cosine'"),
])
def test_range_test_bad_input(kwargs, match):
    kw = dict(num_steps=20, batch_size=16, smoothing=0.5, key=0)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(match)):
        jaxlr.lr_find(P0, loss_fn, DATA, **kw)


def test_bad_model_and_data():
    with pytest.raises(TypeError, match="loss_fn"):
        jaxlr.parallel_lr_find(P0, None, DATA)
    with pytest.raises(TypeError, match="data"):
        jaxlr.parallel_lr_find(P0, loss_fn)
    with pytest.raises(ValueError, match="leading"):
        jaxlr.parallel_lr_find(P0, loss_fn, (X, Y[:10]), batch_size=4)


@pytest.mark.slow
def test_sharded_on_8_virtual_devices_equals_one_device():
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np, optax, jaxlr
        assert len(jax.devices()) == 8, jax.devices()
        x = jax.random.normal(jax.random.key(1), (64, 3)); y = x @ jnp.array([1.0, -1.0, 2.0])
        loss = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
        kw = dict(num_lrs=11, min_lr=1e-3, max_lr=50.0, num_steps=15, batch_size=8,
                  optimizer=optax.sgd, smoothing=0.5, num_seeds=2, valid_data=(x, y), key=0)
        a = jaxlr.parallel_lr_find(jnp.zeros(3), loss, (x, y), **kw)      # 2 per device
        b = jaxlr.parallel_lr_find(jnp.zeros(3), loss, (x, y), devices="none", chunk_size=2,
                                   **kw)
        c = jaxlr.parallel_lr_find(jnp.zeros(3), loss, (x, y), devices="none", **kw)
        assert a.losses.shape == (11, 2, 15) and a.diverged.any() and not a.diverged.all()
        # same block width (2 lanes per device / per chunk): bit-identical
        for f in ("diverged", "losses", "valid_losses", "diverged_step"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
        # one 11-wide block: XLA may vectorise across lanes, so float32 rounding differs
        np.testing.assert_array_equal(a.diverged, c.diverged)
        ok = ~a.diverged
        np.testing.assert_allclose(a.final_losses[ok], c.final_losses[ok], rtol=1e-3)
        print("OK")
    """)
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr


def test_horizon_rule_slope_bounds_are_passed_and_checked():
    r = jaxlr.parallel_lr_find(P0, loss_fn, DATA, num_lrs=6, min_lr=1e-3, max_lr=0.3,
                               target_steps=200, **KW)
    assert r.default_rule == "horizon"
    theory = r.suggest_point()
    measured = r.suggest_point(slope_bounds=(-1.0, 0.0))
    fixed = r.suggest_point(slope_bounds=(-0.5, -0.5))
    assert theory.lr_point == measured.lr_point == fixed.lr_point
    assert math.isclose(fixed.lr, fixed.lr_point * (200 / 20) ** -0.5, rel_tol=1e-9)
    assert measured.lr >= theory.lr
    with pytest.raises(ValueError, match=r"slope_bounds=\(-0\.5, 0\.5\)"):
        r.suggest("horizon", slope_bounds=(-0.5, 0.5))
    with pytest.raises(TypeError, match="pair"):
        r.suggest("horizon", slope_bounds=-0.5)


def test_auto_chunk_size_blocks_candidates_for_the_cache_on_cpu(monkeypatch):
    from jaxlr.finder import _lanes
    from jaxlr.population import _map

    kw = dict(SMALL, num_lrs=10, min_lr=1e-3, max_lr=0.3, num_seeds=2, key=jax.random.key(5))
    whole = jaxlr.parallel_lr_find(P0, loss_fn, DATA, chunk_size=None, **kw)
    # 5 parameters, SGD (no state): 2 seeds x (params + grads) = 80 bytes per candidate
    prob = jaxlr.engine.as_problem("t", P0, loss_fn, DATA, batch_size=16)
    sh = _lanes.Shared(jax.random.key(0), [], [], prob.params, None, prob.train, None, None,
                       None, None)
    sgd = jaxlr.engine.rate_optimizer("t", optax.sgd)[0]
    adam = jaxlr.engine.rate_optimizer("t", optax.adam)[0]
    assert _lanes.auto_chunk(prob.model, sgd, sh, 2, 10, None) is None   # fits: no chunks
    monkeypatch.setattr(_lanes, "CPU_CHUNK_BYTES", 4 * 80)
    assert _lanes.auto_chunk(prob.model, sgd, sh, 2, 10, None) == 4      # 3 equal chunks
    # Adam adds m, v (20 bytes each) and an int32 count per seed: 168 bytes per candidate
    monkeypatch.setattr(_lanes, "CPU_CHUNK_BYTES", 2 * 168)
    assert _lanes.auto_chunk(prob.model, adam, sh, 2, 10, None) == 2
    # not even two candidates fit: chunks would only serialise them (no chunking)
    monkeypatch.setattr(_lanes, "CPU_CHUNK_BYTES", 168)
    assert _lanes.auto_chunk(prob.model, adam, sh, 2, 10, None) is None
    monkeypatch.setattr(_lanes, "CPU_CHUNK_BYTES", 4 * 80)
    layouts = []
    real = _map.layout
    monkeypatch.setattr(jaxlr.population, "layout",
                        lambda *a, **k: layouts.append(real(*a, **k)) or layouts[-1])
    auto = jaxlr.parallel_lr_find(P0, loss_fn, DATA, **kw)        # chunk_size="auto"
    assert layouts and layouts[0].chunk == 4 and layouts[0].padded == 12
    np.testing.assert_allclose(auto.losses, whole.losses, rtol=1e-5)
    np.testing.assert_array_equal(auto.diverged, whole.diverged)
    with pytest.raises(ValueError, match="chunk_size"):
        jaxlr.parallel_lr_find(P0, loss_fn, DATA, chunk_size="big", **kw)
