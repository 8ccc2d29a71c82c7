import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlr

pytest.importorskip("optuna")

CALLS = []


def quadratic(hp, key):
    CALLS.append(1)
    # minimum at lr = 1e-2, momentum = 0.9; lr = 0.5 and above "diverges" (NaN)
    v = (jnp.log10(hp["lr"]) + 2.0) ** 2 + (hp["momentum"] - 0.9) ** 2
    return {"loss": jnp.where(hp["lr"] > 0.5, jnp.nan, v)}


SPACE = {"lr": jaxlr.loguniform(1e-4, 1.0), "momentum": jaxlr.uniform(0.5, 0.99)}


def test_tpe_batches_share_one_program_and_improve_on_random():
    CALLS.clear()
    r = jaxlr.optuna_search(quadratic, SPACE, num_trials=40, batch_size=8,
                            key=jax.random.key(0), seed=0, sampler="tpe")
    info = r.extra["optuna"]
    assert info["batches"] == 5 and info["programs"] == 1
    assert len(CALLS) <= 2  # one probe for the metric's name + one trace for all 5 batches
    assert len(r) == 40 and r.strategy == "optuna-tpe"
    trials = r.study.trials
    assert len(trials) == 40
    states = [t.state.name for t in trials]
    np.testing.assert_array_equal(np.asarray(states) == "FAIL", r.diverged)
    for t, lr in zip(trials, r.hparams["lr"]):  # result rows are in ask order
        np.testing.assert_allclose(t.params["lr"], lr, rtol=1e-6)
    # the later batches concentrate near the optimum: better than the first (random) batch
    first, last = np.nanmin(r.scores()[:8]), np.nanmin(r.scores()[-16:])
    assert last <= first and r.best_metrics["loss"] < 0.05


def test_last_partial_batch_and_gp_sampler():
    pytest.importorskip("torch")
    CALLS.clear()
    r = jaxlr.optuna_search(quadratic, SPACE, num_trials=7, batch_size=3,
                            key=jax.random.key(1), seed=0, sampler="gp")
    assert len(r) == 7 and r.extra["optuna"]["batches"] == 3 and len(CALLS) <= 2


def test_cmaes_sampler_selectable():
    try:
        import cmaes  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="cmaes"):
            jaxlr.optuna_search(quadratic, SPACE, num_trials=2, key=jax.random.key(0),
                                sampler="cmaes")
        return
    r = jaxlr.optuna_search(quadratic, SPACE, num_trials=8, batch_size=4,
                            key=jax.random.key(0), seed=0, sampler="cmaes")
    assert len(r) == 8


def test_static_choices_are_grouped():
    def f(hp, key):
        return {"loss": (hp["lr"] - {"a": 0.1, "b": 0.2}[hp["kind"]]) ** 2}

    r = jaxlr.optuna_search(f, {"lr": jaxlr.uniform(0.0, 1.0), "kind": jaxlr.choice(["a", "b"])},
                            num_trials=12, batch_size=4, key=jax.random.key(0), seed=0)
    assert set(r.hparams["kind"]) == {"a", "b"} and r.extra["optuna"]["programs"] == 2
    for i in range(12):
        c = r.config(i)
        np.testing.assert_allclose(r.metrics["loss"][i],
                                   (c["lr"] - {"a": 0.1, "b": 0.2}[c["kind"]]) ** 2, rtol=1e-5)


def test_sweep_task_with_optuna():
    x = jax.random.normal(jax.random.key(1), (32, 3), jnp.float32)
    y = x.sum(1)
    task = (lambda k: {"w": jnp.zeros(3, jnp.float32)},
            lambda p, b: jnp.mean((b[0] @ p["w"] - b[1]) ** 2), (x[:24], y[:24]), (x[24:], y[24:]))
    r = jaxlr.sweep_task(task, space={"learning_rate": jaxlr.loguniform(1e-3, 1e-1)},
                         key=jax.random.key(0), steps=4, batch_size=4, num_trials=6,
                         strategy="tpe", options={"batch_size": 3, "seed": 0})
    assert len(r) == 6 and r.extra["optuna"]["programs"] == 1 and r.spec is not None


@pytest.mark.parametrize("kw, match", [
    ({"sampler": "bohb"}, "sampler='bohb'"),
    ({"num_trials": 0}, "num_trials=0"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"metric": "acc"}, "metric='acc'"),
])
def test_bad_input(kw, match):
    args = dict(num_trials=2, key=jax.random.key(0))
    args.update(kw)
    with pytest.raises(ValueError, match=re.escape(match)):
        jaxlr.optuna_search(quadratic, SPACE, **args)
