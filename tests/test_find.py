"""jaxlr.find: the multi-fidelity finder for the planned run.

Rungs are real training runs (the last one at the full horizon is ``fit`` with the real
schedule), compressed schedules are the real schedule at ``t * T // t_r``, the budget is kept,
the suggestion never sits at or next to a diverged rate, the result is small and plots, bad
input fails before work, and a second search with fresh equal objects compiles nothing.
"""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxlr
from jaxlr.finder import _find

N, BS = 128, 16
X = jax.random.normal(jax.random.key(1), (N, 3), jnp.float32)
Y = X @ jnp.array([1.0, -2.0, 0.5], jnp.float32) + 0.1
DATA, VALID = (X, Y), (X[:32] * 1.1, Y[:32] * 1.1)
KEY = jax.random.key(3)


def init(key):
    return {"w": 0.1 * jax.random.normal(key, (3,)), "b": jnp.zeros(())}


def loss(p, batch):
    x, y = batch
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


def run(**kw):
    kw = {"batch_size": BS, "key": KEY, "min_lr": 1e-3, "max_lr": 30.0, **kw}
    return jaxlr.find(init, loss, DATA, **kw)


@pytest.mark.parametrize("budget", [1.0, 2.0, 4.0, 8.0, 100.0])
def test_plan_keeps_the_budget_and_reaches_the_horizon_when_it_can(budget):
    plan = _find.plan_rungs(1000, budget, num_seeds=2, num_lrs=16, rung_lrs=5, num_rungs=3,
                            eta=4)
    used = 2 * sum(c * t for c, t in plan) / 1000
    assert used <= budget + 1e-9
    assert [t for _, t in plan] == sorted(t for _, t in plan)
    need = 2 * (16 / 16 + 5 / 4 + 5)          # full runs for the last rung at the horizon
    assert (plan[-1][1] == 1000) == (budget >= need)
    if budget < need:                           # the budget is spent, up to rounding
        assert used > budget * 0.9


def test_too_small_a_budget_is_a_clear_error():
    with pytest.raises(ValueError, match=r"find: a budget of 0\.01 full runs affords .* "
                                         r"Raise `budget`"):
        run(target_steps=100, budget=0.01)


@pytest.mark.parametrize("kw, match", [
    ({"budget": 0.0}, "budget"),
    ({"budget": float("inf")}, "budget"),
    ({"num_lrs": 2}, "num_lrs"),
    ({"eta": 1}, "eta"),
    ({"target_steps": 4}, "target_steps"),
])
def test_bad_arguments_fail_before_work(kw, match):
    kw = {"target_steps": 200, **kw}
    with pytest.raises(ValueError, match=f"find: .*{match}"):
        run(**kw)


def test_target_steps_is_required_without_a_task():
    with pytest.raises(ValueError, match="find: `target_steps`.*required"):
        run()


def test_last_rung_at_the_full_horizon_is_the_fit_run():
    T = 64
    shape = jaxlr.warmup_cosine(1.0, 8, T)
    r = run(target_steps=T, budget=1000.0, schedule=shape, optimizer=jaxlr.adam,
            smoothing=0.0, chunk_size=1, num_rungs=2, divergence_threshold=1e6)
    last = r.rungs[-1]
    assert last.num_steps == T and r.horizon_fraction == 1.0 and not r.extrapolated
    c = 0
    assert not last.diverged[c, 0]
    lr = float(last.lrs[c])
    _, hist = jaxlr.fit(loss, jaxlr.adam(jaxlr.schedules.scale(shape, lr)), init, DATA,
                        steps=T, batch_size=BS, key=jax.random.fold_in(KEY, 0), progress=False)
    # the rate is traced in the finder (one program for every candidate) and a constant in
    # fit: XLA may contract a multiply-add differently, so float32 rounding, not bits
    np.testing.assert_allclose(last.losses[c, 0], hist.train["loss"], rtol=1e-5)


def test_a_short_rung_trains_the_schedule_compressed_to_its_length():
    T = 400
    shape = jaxlr.warmup_cosine(1.0, 40, T)
    r = run(target_steps=T, budget=1.0, schedule=shape, optimizer=jaxlr.sgd, smoothing=0.0,
            chunk_size=1, divergence_threshold=1e6)
    first = r.rungs[0]
    t = first.num_steps
    assert t < T
    c = 3
    assert not first.diverged[c, 0]
    lr = float(first.lrs[c])
    squeezed = lambda step: lr * shape(jnp.asarray(step, jnp.int32) * T // t)  # noqa: E731
    _, hist = jaxlr.fit(loss, jaxlr.sgd(squeezed), init, DATA, steps=t, batch_size=BS,
                        key=jax.random.fold_in(KEY, 0), progress=False)
    np.testing.assert_allclose(first.losses[c, 0], hist.train["loss"], rtol=1e-6)


def test_suggestion_is_never_at_or_next_to_a_diverged_rate():
    # plain SGD on this quadratic diverges above about 1: every rung's grid reaches it
    r = run(target_steps=200, budget=4.0, optimizer=optax.sgd, max_lr=100.0, num_seeds=2)
    last = r.rungs[-1]
    d = np.asarray(last.diverged).any(axis=1)
    if d.any():
        first = int(np.flatnonzero(d)[0])
        assert first >= 2 and r.suggestion <= last.lrs[first - 2] * (1 + 1e-9)
    every = np.concatenate([np.asarray(x.lrs)[np.asarray(x.diverged).any(axis=1)]
                            for x in r.rungs])
    assert every.size                                  # the test exercises divergence
    assert r.suggestion < every.min()
    assert r.stability_margin == pytest.approx(every.min() / r.suggestion)
    # and the run at the suggestion does not diverge over the full horizon
    state, hist = jaxlr.fit(loss, optax.sgd(r.suggestion), init, DATA, steps=200,
                            batch_size=BS, key=jax.random.fold_in(KEY, 0), progress=False)
    assert np.isfinite(hist.train["loss"]).all()


def test_result_reports_trust_figures_and_stays_small(tmp_path):
    r = run(target_steps=1000, budget=3.0, valid_data=VALID, num_seeds=2)
    assert r.metric == "valid_loss"
    assert 0 < r.horizon_fraction < 1 and r.extrapolated
    last = r.rungs[-1]
    extension = 2 * (last.lrs.shape[0] - 5) * last.num_steps / 1000    # beyond-edge rates
    assert r.compute <= 3.0 + extension + 1e-9
    lo1, hi1 = r.band_1pct
    lo5, hi5 = r.band_5pct
    assert lo5 <= lo1 <= hi1 <= hi5
    assert lo1 <= r.best_observed * 1.7 and hi1 >= r.best_observed / 1.7
    text = r.to_json(str(tmp_path / "find.json"))
    assert len(text) < 5000
    d = json.loads(text)
    assert d["suggestion"] == pytest.approx(r.suggestion)
    assert [x["steps"] for x in d["rungs"]] == [x.num_steps for x in r.rungs]
    assert "losses" not in text
    assert len(r.to_json(curves=True)) > 2 * len(text)
    ax = r.plot(path=tmp_path / "find.png")
    assert (tmp_path / "find.png").stat().st_size > 1000
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("suggestion" in x for x in labels) and any("1%" in x for x in labels)
    assert "suggestion" in str(r) and "stability margin" in str(r)


def test_an_optimum_past_the_last_grid_is_found_by_extensions():
    # rung 0 at 20 updates favours a far larger rate than 600 updates of constant-rate SGD
    # with this noisy loss; whatever the rungs predicted, the last rung's best rate may not
    # sit at its grid edge unless no extension could move past it
    r = run(target_steps=600, budget=8.0, optimizer=optax.sgd, valid_data=VALID)
    last = r.rungs[-1]
    y = r.rung_losses(len(r.rungs) - 1)
    i = int(np.argmin(y))
    ratio = last.lrs[1] / last.lrs[0]
    np.testing.assert_allclose(last.lrs[1:] / last.lrs[:-1], ratio, rtol=1e-9)   # one grid
    if i == len(y) - 1:                 # top edge: only when the next rate up had diverged
        every = np.concatenate([np.asarray(x.lrs)[np.asarray(x.diverged).any(axis=1)]
                                for x in r.rungs])
        assert every.size and every.min() <= last.lrs[-1] * ratio * (1 + 1e-9)
    assert i != 0 or last.lrs.shape[0] == 5 + 6


def test_all_diverged_gives_nan_and_a_message():
    r = run(target_steps=400, budget=2.0, optimizer=optax.sgd, min_lr=1e3, max_lr=1e5)
    assert math.isnan(r.suggestion) and "diverged" in r.message
    assert "Lower" in str(r)


def test_a_second_search_with_fresh_equal_objects_compiles_nothing():
    from jaxlr.finder import _lanes

    shape = lambda: jaxlr.warmup_cosine(1.0, 10, 200)  # noqa: E731
    run(target_steps=200, budget=2.0, schedule=shape(), optimizer=jaxlr.adam(1.0, b1=0.8))
    before = _lanes._program_jit._cache_size()
    again = run(target_steps=200, budget=2.0, schedule=shape(),
                optimizer=jaxlr.adam(1.0, b1=0.8), key=jax.random.key(9))
    assert _lanes._program_jit._cache_size() == before
    assert math.isfinite(again.suggestion)


def test_a_task_gives_its_horizon_and_the_top_level_name():
    task = jaxlr.tasks.get_task("teacher-student")
    r = jaxlr.find(task, budget=1.0, key=0, num_lrs=8)
    assert r.target_steps == task.steps
    assert jaxlr.find is jaxlr.finder.find and isinstance(r, jaxlr.FindResult)
