"""Built-in tasks: registry, data splits, model shapes, losses, metrics, and that they train."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxlr import tasks
from jaxlr.engine._data import get_batch
from jaxlr.tasks._builtin import _conv

NAMES = ["diabetes", "digits-cnn", "digits-mlp", "teacher-student"]


@pytest.fixture(scope="module", params=NAMES)
def task(request):
    return tasks.get_task(request.param)


def test_registry_lists_every_builtin_task():
    # The transformer tasks (token sequences) are tested in test_transformer_task.py.
    assert tasks.list_tasks() == sorted([*NAMES, "transformer", "transformer-tiny"])


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match=re.escape("get_task: unknown task 'digits'")) as e:
        tasks.get_task("digits")
    assert "digits-mlp" in str(e.value)


def test_register_task_adds_a_factory():
    tasks.register_task("tiny-test-task", lambda **kw: tasks.get_task("diabetes", **kw))
    try:
        assert tasks.get_task("tiny-test-task").kind == "regression"
    finally:
        from jaxlr.engine import _tasks as impl
        impl._REGISTRY.pop("tiny-test-task")


def test_task_fields(task):
    assert task.description and task.name in tasks.list_tasks()
    assert task.kind in ("classification", "regression")
    (xt, yt), (xv, yv) = task.train, task.valid
    assert xt.shape[0] == yt.shape[0] == task.num_train > 0
    assert xv.shape[0] == yv.shape[0] == task.num_valid > 0
    assert xt.shape[1:] == xv.shape[1:]
    assert xt.dtype == np.float32
    assert yt.dtype == (np.int32 if task.kind == "classification" else np.float32)
    assert 1 <= task.batch_size <= task.num_train
    assert task.default_lr > 0 and task.steps > 0
    assert json.loads(json.dumps(task.summary()))["name"] == task.name


def test_splits_are_disjoint(task):
    train = {row.tobytes() for row in task.train[0].reshape(task.num_train, -1)}
    valid = {row.tobytes() for row in task.valid[0].reshape(task.num_valid, -1)}
    assert not train & valid


def _probe(task):
    """One compiled program per task: model, loss, gradient, metrics and vmap vs loop."""
    @jax.jit
    def probe(params, stacked, batch):
        x = batch[0]
        small = jax.tree_util.tree_map(lambda a: a[:16], batch)
        lane = lambda i: jax.tree_util.tree_map(lambda a: a[i], stacked)
        return dict(
            out=task.apply(params, x[:5]),
            out_flat=task.apply(params, jnp.reshape(x[:5], (5, -1))),
            loss=task.loss(params, batch),
            grads=jax.grad(task.loss)(params, batch),
            metrics=task.metrics(params, batch),
            vmapped=jax.vmap(task.loss, in_axes=(0, None))(stacked, small),
            looped=jnp.stack([task.loss(lane(i), small) for i in range(3)]))
    return probe


def test_model_shapes_loss_metrics_and_vmap(task):
    # Strict promotion (autouse fixture) holds through the model, loss, gradient and metrics.
    init = jax.jit(task.init)
    params = init(jax.random.key(0))
    inits = [init(k) for k in jax.random.split(jax.random.key(1), 3)]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *inits)
    r = _probe(task)(params, stacked, task.valid_batch())
    leaves = jax.tree_util.tree_leaves(params)
    assert leaves and all(leaf.dtype == jnp.float32 for leaf in leaves)
    assert r["out"].shape == ((5, 10) if task.kind == "classification" else (5,))
    np.testing.assert_allclose(r["out_flat"], r["out"], rtol=1e-6)  # flat inputs accepted
    loss = r["loss"]
    assert loss.shape == () and jnp.isfinite(loss)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(r["grads"]))
    assert any(bool(jnp.any(g != 0)) for g in jax.tree_util.tree_leaves(r["grads"]))
    metrics = r["metrics"]
    np.testing.assert_allclose(metrics["loss"], loss, rtol=1e-6)
    if task.kind == "classification":
        assert 0.0 <= float(metrics["accuracy"]) <= 1.0
        # An untrained 10-class model is near chance: loss close to log(10).
        assert abs(float(loss) - np.log(10)) < 0.5
    else:
        np.testing.assert_allclose(metrics["rmse"], jnp.sqrt(loss), rtol=1e-6)
    np.testing.assert_allclose(r["vmapped"], r["looped"], rtol=1e-5)
    # init is a pure function of the key: same key, same params; another key, other params.
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, init(jax.random.key(0)))
    assert any(not np.array_equal(u, v) for u, v in
               zip(leaves, jax.tree_util.tree_leaves(inits[0])))


def test_task_data_is_deterministic(task):
    again = tasks.get_task(task.name)
    np.testing.assert_array_equal(task.train[0], again.train[0])
    np.testing.assert_array_equal(task.valid[1], again.valid[1])


def _train(task, lr, steps):
    data = task.train_batches()
    opt = optax.adam(lr)

    @jax.jit
    def run(params):
        def body(carry, i):
            p, s = carry
            loss, g = jax.value_and_grad(task.loss)(p, get_batch(data, jax.random.key(1), i,
                                                                 task.batch_size))
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss
        (p, _), losses = jax.lax.scan(body, (params, opt.init(params)), jnp.arange(steps))
        return p, losses
    return run(jax.jit(task.init)(jax.random.key(0)))


@pytest.mark.standard_promotion  # optax.adam's bias correction is not strict-promotion clean
def test_trains_at_its_default_learning_rate(task):
    params, losses = _train(task, task.default_lr, 40)
    assert bool(jnp.all(jnp.isfinite(losses)))
    loss = jax.jit(task.loss)
    before = loss(jax.jit(task.init)(jax.random.key(0)), task.valid_batch())
    after = loss(params, task.valid_batch())
    assert float(after) < 0.85 * float(before)


def test_cnn_convolution_equals_lax_conv():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 8, 4)).astype(np.float32)
    layer = {"w": rng.normal(size=(3, 3, 4, 6)).astype(np.float32),
             "b": np.arange(6, dtype=np.float32)}

    @jax.jit
    def both(x, layer):
        return [(_conv(x, layer, s), jax.lax.conv_general_dilated(
            x, layer["w"], (s, s), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            + layer["b"]) for s in (1, 2)]

    for ours, ref in both(x, layer):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


def test_diabetes_is_standardised_on_the_training_split():
    task = tasks.get_task("diabetes")
    (x, y) = task.train
    np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(0), 1.0, rtol=1e-4)
    assert abs(y.mean()) < 1e-5 and abs(y.std() - 1.0) < 1e-4


def test_teacher_student_noise_floor_and_seed():
    a = tasks.get_task("teacher-student", noise=0.0)
    # Targets are the teacher scaled to unit variance (over train + valid together).
    y = np.concatenate([a.train[1], a.valid[1]])
    assert abs(y.std() - 1.0) < 1e-4
    b = tasks.get_task("teacher-student", seed=1)
    assert not np.array_equal(a.train[0], b.train[0])
