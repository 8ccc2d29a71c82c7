import json
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
from jaxlr.engine._data import get_batch
from jaxlr.sweeps._trial import build_schedule

X = jax.random.normal(jax.random.key(1), (64, 4), jnp.float32)
Y = X @ jnp.arange(1.0, 5.0, dtype=jnp.float32) + 0.5


def init(key):
    return {"w": 0.1 * jax.random.normal(key, (4,), jnp.float32), "b": jnp.zeros((), jnp.float32)}


def loss(p, batch):
    x, y = batch
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


TASK = (init, loss, (X[:48], Y[:48]), (X[48:], Y[48:]))
STEPS, BS = 12, 8


def plain_loop(lr, key, steps=STEPS, wd=None):
    """Reference: one configuration trained alone with optax in a Python loop (no jaxlr).

    A trial with key K initialises from fold_in(K, 0) and draws its batches from K, exactly
    as jaxlr.fit(..., key=K) does.
    """
    k_init, k_data = jax.random.fold_in(key, 0), key
    p = init(k_init)
    opt = optax.sgd(lr)
    if wd is not None:
        opt = optax.chain(optax.add_decayed_weights(wd), opt)
    s = opt.init(p)
    train = (X[:48], Y[:48])

    @jax.jit
    def step(p, s, t):
        g = jax.grad(loss)(p, get_batch(train, k_data, t, BS))
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    for t in range(steps):  # a Python loop over a jitted step
        p, s = step(p, s, t)
    return float(loss(p, (X[48:], Y[48:])))


@pytest.fixture(scope="module")
def result():
    # 4 fine rates and one that diverges (lr=1e4), one compiled program (plain SGD)
    g = jaxlr.grid({"learning_rate": [1e-3, 1e-2, 3e-2, 1e4, 1e-1]})
    return jaxlr.sweep_task(TASK, space=g, key=jax.random.key(0), steps=STEPS, batch_size=BS,
                            optimizer="sgd")


def test_each_trial_equals_its_configuration_trained_alone(result):
    fn = jax.jit(jaxlr.sweeps.task_train_fn(TASK, steps=STEPS, batch_size=BS, optimizer="sgd"))
    for i in range(len(result)):
        cfg = result.config(i)
        alone = fn({"learning_rate": jnp.float32(cfg["learning_rate"])}, jax.random.key(0))
        assert bool(alone["diverged"]) == bool(result.diverged[i])
        np.testing.assert_allclose(result.metrics["valid_loss"][i], alone["valid_loss"],
                                   rtol=1e-5)
        np.testing.assert_allclose(result.curves["train_loss"][i],
                                   alone["curves"]["train_loss"], rtol=1e-5)


@pytest.mark.standard_promotion  # optax's own update is not strict-promotion clean
def test_trial_equals_a_plain_optax_loop(result):
    # a reference that shares no code with jaxlr's trainer (only the batch order helper)
    np.testing.assert_allclose(result.metrics["valid_loss"][1],
                               plain_loop(1e-2, jax.random.key(0)), rtol=2e-5)


def test_diverged_trial_is_flagged_and_changes_no_other(result):
    assert result.diverged.tolist() == [False, False, False, True, False]
    assert result.extra["diverged_step"][3] >= 0 and result.extra["diverged_step"][0] == -1
    assert result.best_index != 3 and np.isfinite(result.scores()).sum() == 4
    # same sweep with the divergent lane replaced: every other lane is bit-identical
    g = jaxlr.grid({"learning_rate": [1e-3, 1e-2, 3e-2, 5e-2, 1e-1]})
    other = jaxlr.sweep_task(TASK, space=g, key=jax.random.key(0), steps=STEPS, batch_size=BS,
                             optimizer="sgd")
    keep = [0, 1, 2, 4]
    np.testing.assert_array_equal(other.metrics["valid_loss"][keep],
                                  result.metrics["valid_loss"][keep])
    assert not other.diverged.any()


def test_trace_count_one_program_chunked_padded_and_equal_to_vmap():
    calls = []

    def train_fn(hp, key):
        calls.append(1)
        x = jax.lax.fori_loop(0, 10, lambda i, x: x - hp["lr"] * 2.0 * x, jnp.float32(1.0))
        return {"loss": x * x + hp["wd"], "curves": {"x": jnp.full((3,), x)}}

    sp = {"lr": jaxlr.loguniform(1e-3, 0.5), "wd": jaxlr.uniform(0.0, 1.0)}
    # 7 trials in chunks of 3 (padded to 9): train_fn is traced exactly once
    r1 = jaxlr.sweep(train_fn, sp, num_trials=7, key=jax.random.key(0), chunk_size=3)
    assert len(calls) == 1
    r2 = jaxlr.sweep(train_fn, sp, num_trials=7, key=jax.random.key(0))
    assert len(calls) == 2
    np.testing.assert_allclose(r1.metrics["loss"], r2.metrics["loss"], rtol=1e-6)
    assert r1.curves["x"].shape == (7, 3)


def test_structural_hyperparameters_are_grouped_one_program_each():
    calls = []

    def train_fn(hp, key):
        calls.append((hp["opt"], hp["steps"]))
        scale = {"a": 1.0, "b": 2.0}[hp["opt"]]
        x = jax.lax.fori_loop(0, hp["steps"], lambda i, x: x - hp["lr"] * x, jnp.float32(scale))
        return {"loss": x}

    sp = {"opt": jaxlr.choice(["a", "b"]), "steps": jaxlr.choice([2, 5], static=True),
          "lr": jaxlr.uniform(0.1, 0.5)}
    r = jaxlr.sweep(train_fn, sp, num_trials=12, key=jax.random.key(0))
    assert sorted(calls) == sorted(set(calls)) and len(calls) <= 4
    for i in range(12):
        c = r.config(i)
        expect = {"a": 1.0, "b": 2.0}[c["opt"]] * (1 - np.float32(c["lr"])) ** c["steps"]
        np.testing.assert_allclose(r.metrics["loss"][i], expect, rtol=1e-5)


def test_seeds_common_independent_and_swept():
    # common random numbers: equal configurations give equal results; a swept seed changes them
    seeded = jaxlr.sweep_task(TASK, space=jaxlr.grid({"learning_rate": [1e-2],
                                                      "seed": [0, 0, 1]}),
                              key=jax.random.key(0), steps=3, batch_size=BS)
    v = seeded.metrics["valid_loss"]
    assert v[0] == v[1] and v[0] != v[2]
    f = lambda hp, key: {"loss": jax.random.uniform(key) + hp["a"]}
    g = jaxlr.grid({"a": [0.0, 0.0]})
    assert len(set(jaxlr.sweep(f, g, key=jax.random.key(0)).metrics["loss"])) == 1
    assert len(set(jaxlr.sweep(f, g, key=jax.random.key(0),
                               seeds="independent").metrics["loss"])) == 2


def test_sweeping_schedule_and_optimizer_hyperparameters():
    # warm-up steps, decay horizon and weight decay are traced data: one program
    sp = {"learning_rate": jaxlr.loguniform(1e-2, 1e-1), "warmup_steps": jaxlr.int_uniform(0, 6),
          "weight_decay": jaxlr.choice([0.0, 1e-2])}
    sched = lambda hp: jaxlr.warmup_cosine(hp["learning_rate"], hp["warmup_steps"], STEPS)
    r = jaxlr.sweep_task(TASK, space=sp, key=jax.random.key(0), steps=STEPS, batch_size=BS,
                         schedule=sched, optimizer="adamw", num_trials=4)
    # a builder name fills arguments from hparams by name (peak from learning_rate, horizon
    # from steps)
    hp = {"learning_rate": jnp.float32(0.1), "warmup_steps": jnp.int32(3)}
    by_name = build_schedule("warmup_cosine", hp, STEPS)
    assert float(by_name(7)) == float(jaxlr.warmup_cosine(0.1, 3, STEPS)(7))
    assert r.hparams["warmup_steps"].dtype == np.int32 and not r.diverged.any()
    assert len(set(r.metrics["valid_loss"].tolist())) == 4


def test_result_table_export_and_selection(result, tmp_path):
    recs = result.records()
    assert len(recs) == 5 and set(recs[0]) >= {"trial", "learning_rate", "valid_loss",
                                               "diverged"}
    best = result.best_index
    assert result.best_config == {"learning_rate": pytest.approx(
        float(result.hparams["learning_rate"][best]))}
    assert result.metrics["valid_loss"][best] == np.nanmin(
        np.where(result.diverged, np.nan, result.metrics["valid_loss"]))
    back = jaxlr.SweepResult.from_json(result.to_json(str(tmp_path / "r.json")))
    np.testing.assert_array_equal(back.diverged, result.diverged)
    assert back.best_index == best and json.loads(result.to_json())["best_index"] == best
    text = result.to_csv(str(tmp_path / "r.csv"))
    assert text.splitlines()[0].startswith("trial,learning_rate") and len(text.splitlines()) == 6
    assert "valid_loss" in result.table() and "yes" in result.table(top=None)
    try:
        import pandas  # noqa: F401
        assert len(result.to_pandas()) == 5
    except ImportError:
        with pytest.raises(ImportError, match="pandas"):
            result.to_pandas()


def test_plots(result):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    fig = result.plot()
    assert fig.axes[0].get_xscale() == "log"
    assert result.plot("curves").axes
    g = jaxlr.Grid.from_columns({"a": [1.0, 1.0, 2.0, 2.0], "b": [0.1, 0.2, 0.1, 0.2]})
    r = jaxlr.SweepResult(hparams=g.columns, metrics={"loss": np.arange(4.0)}, curves={},
                          diverged=np.zeros(4, bool), metric="loss", space=g.space)
    assert r.plot("heatmap").axes
    import matplotlib.pyplot as plt
    plt.close("all")


def test_refit_reproduces_the_best_trial(result):
    out = result.refit(key=jax.random.key(0))
    i = result.best_index
    np.testing.assert_allclose(out.metrics["valid_loss"], result.metrics["valid_loss"][i],
                               rtol=1e-5)
    assert out.curve.shape == (STEPS,) and not out.diverged


def test_sweep_from_config_plain_data():
    r = jaxlr.sweep_from_config({"task": TASK, "steps": 3, "batch_size": BS, "num_trials": 3,
                                 "strategy": "halton", "seed": 1,
                                 "space": {"learning_rate": "loguniform(1e-3, 1e-1)",
                                           "optimizer": "sgd"}})
    assert len(r) == 3 and r.strategy == "halton" and set(r.hparams["optimizer"]) == {"sgd"}
    with pytest.raises(ValueError, match="unknown keys"):
        jaxlr.sweep_from_config({"space": {}, "trials": 3})


@pytest.mark.parametrize("call, match", [
    (lambda: jaxlr.sweep(lambda h, k: {"loss": h["a"]}, {"a": jaxlr.uniform(0, 1)},
                         num_trials=0, key=jax.random.key(0)), "num_trials=0"),
    (lambda: jaxlr.sweep(lambda h, k: {"loss": h["a"]}, {"a": jaxlr.uniform(0, 1)},
                         num_trials=2, key=jax.random.key(0), metric="acc"),
     "unknown metric name metric='acc'"),
    (lambda: jaxlr.sweep(lambda h, k: {"loss": jnp.ones(3) * h["a"]},
                         {"a": jaxlr.uniform(0, 1)}, num_trials=2, key=jax.random.key(0)),
     "must return scalar metrics; metric 'loss' has shape (3,)"),
    (lambda: jaxlr.sweep(lambda h, k: h["a"], {"a": jaxlr.uniform(0, 1)}, num_trials=2,
                         key=None), "key"),
    (lambda: jaxlr.sweep(3, {"a": jaxlr.uniform(0, 1)}, num_trials=2, key=jax.random.key(0)),
     "callable"),
    (lambda: jaxlr.sweep_task(TASK, space={"momentum": jaxlr.uniform(0, 1)}, steps=2,
                              batch_size=BS, key=jax.random.key(0), num_trials=2),
     "no 'learning_rate'"),
    (lambda: jaxlr.sweep_task(TASK, space={"learning_rate": 0.1}, steps=2, batch_size=BS,
                              key=jax.random.key(0), num_trials=2, optimizer="lion"),
     "optimizer='lion'"),
    (lambda: jaxlr.sweep_task(TASK, space={"learning_rate": 0.1}, steps=2, batch_size=100,
                              key=jax.random.key(0), num_trials=2), "batch_size=100"),
    (lambda: jaxlr.sweep_task(TASK, space={"learning_rate": 0.1}, steps=2, batch_size=BS,
                              key=jax.random.key(0), num_trials=2, strategy="bayes"),
     "strategy='bayes'"),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises((ValueError, TypeError), match=re.escape(match)):
        call()


@pytest.mark.slow
def test_sharded_equals_single_device_on_8_virtual_devices():
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        import jaxlr
        assert len(jax.devices()) == 8, jax.devices()
        x = jax.random.normal(jax.random.key(1), (40, 3)); y = x.sum(1)
        init = lambda k: {"w": jax.random.normal(k, (3,)) * 0.1}
        loss = lambda p, b: jnp.mean((b[0] @ p["w"] - b[1]) ** 2)
        task = (init, loss, (x[:32], y[:32]), (x[32:], y[32:]))
        sp = {"learning_rate": jaxlr.loguniform(1e-3, 1e1)}
        kw = dict(space=sp, key=jax.random.key(0), steps=6, batch_size=4, num_trials=13)
        a = jaxlr.sweep_task(task, **kw)                       # 13 trials -> 8 devices x 2
        b = jaxlr.sweep_task(task, devices="none", chunk_size=2, **kw)    # 7 chunks of 2
        c = jaxlr.sweep_task(task, devices="none", **kw)                  # one 13-wide block
        # the same block width: bit-identical
        np.testing.assert_array_equal(a.diverged, b.diverged)
        np.testing.assert_array_equal(a.metrics["valid_loss"], b.metrics["valid_loss"])
        # another width: XLA's CPU kernels round differently (float32 rounding, amplified by
        # the run): equal to a documented tolerance
        np.testing.assert_array_equal(a.diverged, c.diverged)
        ok = ~a.diverged
        np.testing.assert_allclose(a.metrics["valid_loss"][ok], c.metrics["valid_loss"][ok],
                                   rtol=1e-4)
        r = jaxlr.sweep_task(task, space={"learning_rate": jaxlr.loguniform(1e-3, 1e-1)},
                             key=jax.random.key(0), steps=8, batch_size=4, num_trials=8,
                             strategy="pbt", options={"interval": 2})
        r1 = jaxlr.sweep_task(task, space={"learning_rate": jaxlr.loguniform(1e-3, 1e-1)},
                              key=jax.random.key(0), steps=8, batch_size=4, num_trials=8,
                              strategy="pbt", options={"interval": 2}, devices="none")
        np.testing.assert_allclose(r.metrics["valid_loss"], r1.metrics["valid_loss"], rtol=1e-4)
        print("OK")
    """)
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr


def test_plateau_factor_is_sweepable_data():
    def optimizer(hp, lr):
        ctrl = jaxlr.controllers.reduce_on_plateau(factor=hp["factor"], patience=0)
        return optax.chain(jaxlr.sgd(lr), jaxlr.controllers.plateau_transform(ctrl))

    g = jaxlr.grid({"learning_rate": [0.05], "factor": [0.1, 0.5, 1.0]})
    r = jaxlr.sweep_task(TASK, space=g, key=jax.random.key(0), steps=STEPS, batch_size=BS,
                         optimizer=optimizer)
    v = r.metrics["valid_loss"]
    assert len(set(v.tolist())) == 3  # the factor changes the run: it is data, one program
