import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxlr
from jaxlr.engine._data import take
from jaxlr.sweeps._trial import resolve_task

X = jax.random.normal(jax.random.key(1), (50, 3), jnp.float32)
Y = X @ jnp.array([1.0, -2.0, 0.5], jnp.float32)


def init(key):
    return {"w": 0.1 * jax.random.normal(key, (3,), jnp.float32)}


def loss(p, batch):
    return jnp.mean((batch[0] @ p["w"] - batch[1]) ** 2)


TASK = (init, loss, (X[:40], Y[:40]), (X[40:], Y[40:]))


@settings(max_examples=6)
@given(n=st.integers(2, 60), k=st.integers(2, 10), seed=st.integers(0, 5))
def test_kfold_partitions_equal_size_folds(n, k, seed):
    if k > n:
        with pytest.raises(ValueError, match=re.escape(f"folds={k}")):
            jaxlr.kfold(n, k)
        return
    f = jaxlr.kfold(n, k, key=jax.random.key(seed))
    m = n // k
    assert f.valid_idx.shape == (k, m) and f.train_idx.shape == (k, n - m)
    v = np.asarray(f.valid_idx)
    assert len(np.unique(v)) == k * m  # validation sets are disjoint
    for j in range(k):
        assert set(np.asarray(f.train_idx[j])) | set(v[j]) == set(range(n))
        assert not set(np.asarray(f.train_idx[j])) & set(v[j])
        assert np.asarray(f.valid_mask[j]).sum() == m
        np.testing.assert_array_equal(np.flatnonzero(np.asarray(f.valid_mask[j])), np.sort(v[j]))


@pytest.fixture(scope="module")
def cv_result():
    return jaxlr.sweep_task(TASK, space=jaxlr.grid({"learning_rate": [1e-2, 1e-1, 1e4]}),
                            key=jax.random.key(0), steps=8, batch_size=4, folds=4,
                            optimizer="sgd")


def test_cv_folds_equal_training_on_each_fold_alone(cv_result):
    r = cv_result
    assert r.fold_metrics["valid_loss"].shape == (3, 4)
    assert r.diverged.tolist() == [False, False, True]
    spec = resolve_task("t", TASK, optimizer="sgd", steps=8, batch_size=4)
    folds = jaxlr.kfold(40, 4, key=jax.random.fold_in(jax.random.key(0), 2))
    alone = jax.jit(lambda hp, tr, va: spec.train_fn(hp, jax.random.key(0), index=tr,
                                                     eval_data=take(spec.train, va)))
    for f in range(4):
        out = alone({"learning_rate": jnp.float32(0.1)}, folds.train_idx[f], folds.valid_idx[f])
        np.testing.assert_allclose(r.fold_metrics["valid_loss"][1, f], out["valid_loss"],
                                   rtol=1e-5)
    fm = r.fold_metrics["valid_loss"][:2]
    np.testing.assert_allclose(r.metrics["valid_loss"][:2], fm.mean(1), rtol=1e-5)
    np.testing.assert_allclose(r.metrics["valid_loss_stderr"][:2],
                               fm.std(1, ddof=1) / np.sqrt(4), rtol=1e-4)


def test_one_standard_error_rule():
    r = jaxlr.SweepResult(
        hparams={"weight_decay": np.array([0.0, 1e-3, 1e-2, 1e-1])},
        metrics={"loss": np.array([0.30, 0.31, 0.33, 0.50]),
                 "loss_stderr": np.array([0.02, 0.02, 0.02, 0.02])},
        curves={}, diverged=np.array([False, False, False, False]), metric="loss")
    assert r.select() == 0
    assert r.select("one_se", prefer="weight_decay") == 1  # 0.31 <= 0.30 + 0.02 < 0.33
    assert r.select("one_se", prefer="weight_decay", prefer_mode="min") == 0
    assert r.select("one_se", prefer=lambda rec: -rec["weight_decay"]) == 1
    with pytest.raises(ValueError, match="prefer"):
        r.select("one_se")
    acc = jaxlr.SweepResult(hparams=r.hparams, metrics={"acc": np.array([0.9, 0.95, 0.8, 0.1])},
                            curves={}, diverged=np.array([False, True, False, False]),
                            metric="acc", mode="max")
    assert acc.select() == 0  # the diverged trial is never selected
    with pytest.raises(ValueError, match="cross-validation"):
        acc.select("one_se", prefer="weight_decay")


def test_cv_selection_and_refit_on_the_whole_training_set(cv_result):
    i = cv_result.select("one_se", prefer="learning_rate", prefer_mode="min")
    assert not cv_result.diverged[i]
    out = cv_result.refit(i, key=jax.random.key(0))
    assert out.config == cv_result.config(i) and out.curve.shape == (8,)
    assert np.isfinite(out.metrics["valid_loss"]) and not out.diverged
    assert jax.tree_util.tree_structure(out.params) == jax.tree_util.tree_structure(init(
        jax.random.key(0)))
    # refit == the same configuration trained alone on all 40 training examples
    fn = jax.jit(jaxlr.sweeps.task_train_fn(TASK, steps=8, batch_size=4, optimizer="sgd"))
    alone = fn({"learning_rate": jnp.float32(out.config["learning_rate"])}, jax.random.key(0))
    np.testing.assert_allclose(out.metrics["valid_loss"], alone["valid_loss"], rtol=1e-5)


@pytest.mark.parametrize("kw, match", [
    ({"folds": 41}, "folds=41"),
    ({"folds": 1}, "folds=1"),
    ({"folds": 2, "batch_size": 30}, "batch_size=30"),
])
def test_bad_folds(kw, match):
    args = dict(space={"learning_rate": 0.1}, key=jax.random.key(0), steps=2, batch_size=4,
                num_trials=1)
    args.update(kw)
    with pytest.raises(ValueError, match=re.escape(match)):
        jaxlr.sweep_task(TASK, **args)


def test_refit_bad_config():
    with pytest.raises(TypeError, match="config"):
        jaxlr.refit(TASK, [0.1], key=jax.random.key(0), steps=2, batch_size=4)
