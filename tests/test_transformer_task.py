"""The decoder-only transformer tasks (jaxlr.tasks._transformer): data, model, loss, training."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxlr import tasks
from jaxlr.engine._data import get_batch
from jaxlr.tasks._transformer import NUM_SPECIAL, PAD, SEP, sequence_data, transformer_lm


@pytest.fixture(scope="module")
def task():
    return tasks.get_task("transformer-tiny")


@pytest.fixture(scope="module")
def params(task):
    return jax.jit(task.init)(jax.random.key(0))


def test_registry_names():
    names = tasks.list_tasks()
    assert "transformer" in names and "transformer-tiny" in names
    for name in ("transformer", "transformer-tiny"):
        t = tasks.get_task(name)
        assert t.name == name and t.kind == "classification"
        assert t.default_lr > 0 and t.steps > 0 and 1 <= t.batch_size <= t.num_train
        assert json.loads(json.dumps(t.summary()))["name"] == name


def test_data_is_deterministic_from_the_seed(task):
    again = tasks.get_task("transformer-tiny")
    for a, b in zip(task.train + task.valid, again.train + again.valid):
        np.testing.assert_array_equal(a, b)
    other = tasks.get_task("transformer-tiny", seed=1)
    assert not np.array_equal(task.train[0][:100], other.train[0][:100])


def test_shapes_dtypes_and_disjoint_splits(task):
    (xt, yt), (xv, yv) = task.train, task.valid
    assert xt.shape == yt.shape and xt.shape[1] == 16 and xv.shape == yv.shape == (256, 16)
    assert xt.dtype == yt.dtype == np.int32
    assert xt.min() >= 0 and xt.max() < 16
    assert task.num_train > 1500  # a few thousand generated, duplicates removed
    train = {row.tobytes() for row in xt}
    assert len(train) == task.num_train and not train & {row.tobytes() for row in xv}


def test_sequences_are_copy_reverse_and_sort():
    x, y, op = sequence_data(300, seq_len=16, vocab_size=16, seed=3)
    assert set(op.tolist()) == {0, 1, 2}
    for xi, yi, o in zip(x, y, op):
        assert xi[0] == NUM_SPECIAL - 3 + o          # the problem token
        sep = int(np.flatnonzero(xi == SEP)[0])
        n = sep - 1
        a = xi[1:sep]
        assert np.all(a >= NUM_SPECIAL)
        answer = [a, a[::-1], np.sort(a)][o]
        # targets: exactly the answer, right after SEP; everything else ignored (PAD)
        np.testing.assert_array_equal(yi[sep:sep + n], answer)
        assert np.all(yi[:sep] == PAD) and np.all(yi[sep + n:] == PAD)
        # teacher forcing: the input after each target is that target
        np.testing.assert_array_equal(xi[sep + 1:sep + n + 1], answer)
        assert np.all(xi[sep + n + 1:] == PAD)


def test_init_is_a_plain_pytree_of_float32_arrays_matching_the_nnx_state(task, params):
    from flax import nnx

    leaves = jax.tree_util.tree_leaves(params)
    assert isinstance(params, dict) and leaves
    assert all(isinstance(v, jax.Array) and v.dtype == jnp.float32 for v in leaves)
    # the structure is the nnx.Param state of the module, as a pure dict
    assert set(params) == {"embed", "pos", "blocks", "ln_f"}
    assert set(params["blocks"]) == {0, 1}
    assert params["blocks"][0]["attn"]["query"]["kernel"].shape == (32, 2, 16)
    n = sum(v.size for v in leaves)
    assert 20_000 < n < 40_000
    # GPT-2 initialisation: normal(0.02) weights, zero biases, unit LayerNorm scales
    assert abs(float(jnp.std(params["embed"]["embedding"])) - 0.02) < 0.003
    block = params["blocks"][0]
    for w, std in ((block["attn"]["query"]["kernel"], 0.02), (block["fc"]["kernel"], 0.02),
                   (block["attn"]["out"]["kernel"], 0.01), (block["proj"]["kernel"], 0.01)):
        assert abs(float(jnp.std(w)) - std) < 0.2 * std   # residual outputs: 0.02 / sqrt(2 * 2)
    assert float(jnp.max(jnp.abs(params["blocks"][1]["fc"]["bias"]))) == 0.0
    assert float(jnp.min(params["ln_f"]["scale"])) == 1.0
    # pure function of the key
    jax.tree_util.tree_map(np.testing.assert_array_equal, params,
                           jax.jit(task.init)(jax.random.key(0)))
    # the pytree operations the engine uses
    doubled = jax.tree_util.tree_map(lambda v: 2 * v, params)
    assert jax.tree_util.tree_structure(doubled) == jax.tree_util.tree_structure(params)
    assert isinstance(nnx.State(params), nnx.State)


@pytest.fixture(scope="module")
def apply(task):
    return jax.jit(task.apply)


def test_loss_and_metrics_at_init(task, params, apply):
    batch = task.valid_batch()
    loss, metrics = jax.jit(lambda p, b: (task.loss(p, b), task.metrics(p, b)))(params, batch)
    assert loss.shape == () and bool(jnp.isfinite(loss))
    assert abs(float(loss) - np.log(16)) < 0.1      # an untrained model is uniform
    np.testing.assert_allclose(metrics["loss"], loss, rtol=1e-6)
    assert 0.0 <= float(metrics["accuracy"]) <= 1.0
    # the loss is the mean cross-entropy over the non-PAD targets only
    x, y = (np.asarray(a) for a in batch)
    logits = apply(params, x)
    assert logits.shape == (256, 16, 16) and logits.dtype == jnp.float32
    logp = np.asarray(jax.nn.log_softmax(logits))
    mask = y != PAD
    nll = -np.take_along_axis(logp, y[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss, nll[mask].mean(), rtol=1e-5)
    hits = (logits.argmax(-1) == y)[mask]
    np.testing.assert_allclose(metrics["accuracy"], hits.mean(), rtol=1e-6)


def test_model_is_causal(task, params, apply):
    x = np.asarray(task.valid[0]).copy()
    changed = x.copy()
    changed[:, 8:] = NUM_SPECIAL  # rewrite the future
    a, b = apply(params, x), apply(params, changed)
    np.testing.assert_allclose(a[:, :8], b[:, :8], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[:, 8:], b[:, 8:])


def test_vmap_over_stacked_params_equals_a_loop(task):
    init = jax.jit(task.init)
    inits = [init(k) for k in jax.random.split(jax.random.key(1), 2)]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *inits)
    batch = jax.tree_util.tree_map(lambda a: a[:64], task.valid_batch())

    vmapped = jax.jit(jax.vmap(task.loss, in_axes=(0, None)))(stacked, batch)
    loss = jax.jit(task.loss)
    looped = jnp.stack([loss(p, batch) for p in inits])
    np.testing.assert_allclose(vmapped, looped, rtol=1e-5)
    assert float(jnp.abs(vmapped[0] - vmapped[1])) > 0  # two different inits


@pytest.mark.slow  # one compiled program, ~5 s on one core: 3 lanes x 80 Adam steps
@pytest.mark.standard_promotion  # optax.adam's bias correction is not strict-promotion clean
def test_adam_trains_and_a_30x_rate_is_much_worse(task):
    """Lanes in one jit(vmap(scan)) program: two inits at the default rate, one at 30x."""
    data = task.train_batches()
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)
    steps = 80

    def lane(key, lr):
        p = task.init(key)
        s = opt.init(p)
        s.hyperparams["learning_rate"] = lr

        def body(carry, i):
            p, s = carry
            loss, g = jax.value_and_grad(task.loss)(
                p, get_batch(data, jax.random.key(7), i, task.batch_size))
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        (p, _), losses = jax.lax.scan(body, (p, s), jnp.arange(steps))
        return losses, task.metrics(p, task.valid_batch())

    keys = jax.random.split(jax.random.key(0), 3).at[2].set(jax.random.split(
        jax.random.key(0), 3)[0])
    lrs = jnp.asarray([1.0, 1.0, 30.0], jnp.float32) * task.default_lr
    losses, metrics = jax.jit(jax.vmap(lane))(keys, lrs)
    start = float(np.log(16))
    for lane_i in (0, 1):
        assert bool(jnp.all(jnp.isfinite(losses[lane_i])))
        assert float(metrics["loss"][lane_i]) < 0.85 * start          # it learns
        assert float(jnp.mean(losses[lane_i, -10:])) < float(jnp.mean(losses[lane_i, :10]))
    good = float(jnp.mean(metrics["loss"][:2]))
    bad = metrics["loss"][2]
    # 30x the rate: diverged (non-finite) or clearly worse than the default
    assert (not bool(jnp.isfinite(bad))) or float(bad) > good + 0.2, (good, float(bad))


def test_bigger_configuration_shapes():
    task = tasks.get_task("transformer")
    assert task.summary()["input_shape"] == [32]
    shapes = jax.eval_shape(task.init, jax.random.key(0))
    n = sum(int(np.prod(s.shape)) for s in jax.tree_util.tree_leaves(shapes))
    assert 150_000 < n < 300_000 and len(shapes["blocks"]) == 4
    logits = jax.eval_shape(task.apply, shapes, jax.ShapeDtypeStruct((2, 32), jnp.int32))
    assert logits.shape == (2, 32, 32)


@pytest.mark.parametrize("kwargs, needle", [
    (dict(d_model=30, num_heads=4), "d_model=30, num_heads=4"),
    (dict(min_len=20), "min_len=20"),
    (dict(num_train=8, batch_size=32), "num_train=8"),
])
def test_bad_configurations_are_clear_errors(kwargs, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        transformer_lm(**kwargs)


def test_sequence_data_checks_its_arguments():
    with pytest.raises(TypeError, match=re.escape("sequence_data: `seq_len`")):
        sequence_data(10, seq_len=16.0, vocab_size=16)
    with pytest.raises(ValueError, match=re.escape("vocab_size=6")):
        sequence_data(10, seq_len=16, vocab_size=6)
