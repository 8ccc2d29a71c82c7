import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlr

X = jax.random.normal(jax.random.key(1), (48, 3), jnp.float32)
Y = X @ jnp.array([1.0, -2.0, 0.5], jnp.float32)


def init(key):
    return {"w": 0.1 * jax.random.normal(key, (3,), jnp.float32)}


def loss(p, batch):
    return jnp.mean((batch[0] @ p["w"] - batch[1]) ** 2)


TASK = (init, loss, (X[:40], Y[:40]), (X[40:], Y[40:]))

# a trainer whose state is the integral of its learning rate: exact bookkeeping checks
COUNTER = jaxlr.Trainer(
    init=lambda hp, key: {"x": jnp.float32(0.0)},
    advance=lambda s, hp, n: {"x": s["x"] + jnp.float32(n) * hp["learning_rate"]},
    evaluate=lambda s, hp: {"loss": -s["x"]})


def test_successive_halving_rungs_and_continuation():
    sp = jaxlr.grid({"learning_rate": [1e-3, 1e-2, 3e-2, 5e-2, 1e-1, 1e30]})
    r = jaxlr.sweep_task(TASK, space=sp, key=jax.random.key(0), steps=18, batch_size=4,
                         optimizer="sgd", strategy="successive_halving", options={"eta": 6})
    rungs = r.extra["rungs"]
    assert [g["steps"] for g in rungs] == [3, 18]
    assert [len(g["trials"]) for g in rungs] == [6, 1]
    for a, b in zip(rungs[:-1], rungs[1:]):  # survivors are the best 1/eta of each rung
        order = np.argsort(np.nan_to_num(a["valid_loss"], nan=np.inf))
        assert sorted(b["trials"]) == sorted(np.asarray(a["trials"])[order[:len(b["trials"])]])
    assert r.diverged[5] and 5 not in rungs[1]["trials"]
    winner = rungs[-1]["trials"][0]
    assert r.best_index == winner and r.metrics["steps_trained"][winner] == 18
    # the winner was trained 3 + 15 steps in two programs: same as 18 steps straight
    fn = jax.jit(jaxlr.sweeps.task_train_fn(TASK, steps=18, batch_size=4, optimizer="sgd"))
    alone = fn({"learning_rate": jnp.float32(r.config(winner)["learning_rate"])},
               jax.random.key(0))
    np.testing.assert_allclose(r.metrics["valid_loss"][winner], alone["valid_loss"], rtol=1e-5)


def test_pbt_exploit_explore_bookkeeping_is_exact():
    r = jaxlr.pbt(COUNTER, {"learning_rate": jaxlr.loguniform(1e-2, 1.0)}, num_trials=8,
                  key=jax.random.key(0), steps=23, interval=5, quantile=0.25)
    info = r.extra["pbt"]
    lrs, parents, scores = info["lr_history"], info["parents"], info["scores"]
    assert lrs.shape == (4, 8) and parents.shape == (3, 8)
    for t in range(3):
        top = set(np.argsort(scores[t])[:2])
        for i in range(8):
            p = parents[t, i]
            if p == i:
                assert lrs[t + 1, i] == lrs[t, i]
            else:
                assert p in top and i in set(np.argsort(scores[t])[-2:])
                ratio = lrs[t + 1, i] / lrs[t, p]
                assert min(abs(ratio - 0.8), abs(ratio - 1.2)) < 1e-5
    # state copied with the hyperparameters: x = integral of the lineage's learning rate
    for i in range(8):
        cur, x = i, 0.0
        for t in range(3, -1, -1):
            x += lrs[t, cur] * (8 if t == 3 else 5)
            if t > 0:
                cur = parents[t - 1, cur]
        np.testing.assert_allclose(-r.metrics["loss"][i], x, rtol=1e-5)
    best = r.best_index
    assert info["best_member"] == best
    np.testing.assert_allclose(info["best_schedule"][-1], r.hparams["learning_rate"][best])
    lineage = info["best_lineage"]
    np.testing.assert_allclose(info["best_schedule"], [lrs[t, m] for t, m in enumerate(lineage)])


def test_pbt_on_a_task_learns_and_plots():
    r = jaxlr.sweep_task(TASK, space={"learning_rate": jaxlr.loguniform(1e-3, 1e-1)},
                         key=jax.random.key(0), steps=20, batch_size=4, num_trials=4,
                         optimizer="adam", strategy="pbt", options={"interval": 5})
    assert r.strategy == "pbt" and len(r.extra["pbt"]["best_schedule"]) == 4
    assert np.isfinite(r.metrics["valid_loss"]).all()
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    fig = r.plot("pbt")
    assert fig.axes[0].get_yscale() == "log"
    back = jaxlr.SweepResult.from_json(r.to_json())  # JSON round trip keeps the schedule
    np.testing.assert_allclose(back.extra["pbt"]["best_schedule"], r.extra["pbt"]["best_schedule"])
    assert back.plot("pbt").axes
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.mark.parametrize("kw, match", [
    ({"quantile": 0.7}, "quantile=0.7"),
    ({"perturb": ("momentum",)}, "'momentum'"),
    ({"interval": 50}, "interval=50"),
    ({"num_trials": 1}, "at least 2"),
])
def test_pbt_bad_input(kw, match):
    args = dict(num_trials=4, key=jax.random.key(0), steps=10)
    args.update(kw)
    with pytest.raises(ValueError, match=re.escape(match)):
        jaxlr.pbt(COUNTER, {"learning_rate": jaxlr.loguniform(1e-2, 1.0)}, **args)


def test_strategies_refuse_static_hyperparameters_and_bad_eta():
    sp = {"learning_rate": jaxlr.loguniform(1e-2, 1.0), "opt": jaxlr.choice(["a", "b"])}
    with pytest.raises(ValueError, match="static"):
        jaxlr.successive_halving(COUNTER, sp, num_trials=4, key=jax.random.key(0), max_steps=9)
    with pytest.raises(ValueError, match="eta=1"):
        jaxlr.successive_halving(COUNTER, {"learning_rate": jaxlr.uniform(0, 1)}, num_trials=4,
                                 key=jax.random.key(0), max_steps=9, eta=1)
    with pytest.raises(TypeError, match="Trainer"):
        jaxlr.pbt(lambda h, k: 0.0, {"learning_rate": jaxlr.uniform(0, 1)}, num_trials=4,
                  key=jax.random.key(0), steps=4)
