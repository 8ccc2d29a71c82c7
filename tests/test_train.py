"""TrainState, the pure/jitted train step and the eval step (jaxlr.train)."""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxlr


def loss_fn(p, batch):
    x, y = batch
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


def _data(n=16, seed=0):
    kx, kw = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(kx, (n, 3))
    y = x @ jnp.array([[1.0], [-2.0], [0.5]]) + 0.3
    return x, y


def _params():
    return {"w": jnp.zeros((3, 1)), "b": jnp.zeros((1,))}


def test_step_metrics_and_update():
    opt = jaxlr.sgd(jaxlr.linear(0.1, 0.0, 10))
    step = jaxlr.make_train_step(loss_fn, opt)
    state = jaxlr.TrainState.create(_params(), opt)
    batch = _data()
    loss0, g = jax.value_and_grad(loss_fn)(_params(), batch)
    state, m = step(state, batch)
    assert set(m) == {"loss", "lr", "grad_norm", "update_norm", "finite"}
    np.testing.assert_allclose(m["loss"], loss0, rtol=1e-6)
    np.testing.assert_allclose(m["lr"], 0.1)  # the rate used by update 0 is schedule(0)
    np.testing.assert_allclose(m["grad_norm"], optax.tree.norm(g), rtol=1e-6)
    np.testing.assert_allclose(m["update_norm"], 0.1 * optax.tree.norm(g), rtol=1e-6)
    assert bool(m["finite"]) and int(state.step) == 1
    chex.assert_trees_all_close(state.params, jax.tree.map(lambda a: -0.1 * a, g), rtol=1e-6)
    state, m = step(state, batch)
    np.testing.assert_allclose(m["lr"], 0.09, rtol=1e-6)


def test_hyperparameter_changes_compile_once():
    opt = jaxlr.adam(jaxlr.cosine_decay(1e-2, 100))
    step = jaxlr.make_train_step(loss_fn, opt)
    state = jaxlr.TrainState.create(_params(), opt)
    batch = _data()
    lrs = []
    for peak, b1 in ((1e-2, 0.9), (3e-2, 0.8), (1e-1, 0.0)):
        state = state.replace(opt_state=jaxlr.set_hyperparams(
            state.opt_state, learning_rate=jaxlr.cosine_decay(peak, 50), b1=b1))
        state, m = step(state, batch)
        lrs.append(float(m["lr"]))
    assert step._jitted._cache_size() == 1
    assert lrs[0] < lrs[1] < lrs[2]


def test_has_aux_dict_is_merged_into_metrics():
    def f(p, b):
        loss = loss_fn(p, b)
        return loss, {"mae": jnp.mean(jnp.abs(b[1])), "twice": 2 * loss}

    opt = jaxlr.sgd(0.1)
    state, m = jaxlr.make_train_step(f, opt, has_aux=True)(
        jaxlr.TrainState.create(_params(), opt), _data())
    np.testing.assert_allclose(m["twice"], 2 * m["loss"], rtol=1e-6)


def test_nonfinite_step_leaves_state_unchanged():
    opt = jaxlr.adam(0.1)
    step = jax.jit(jaxlr.engine.train_step_fn(loss_fn, opt))
    state = jaxlr.TrainState.create(_params(), opt)
    x, y = _data()
    new, m = step(state, (x, y.at[0].set(jnp.nan)))
    assert not bool(m["finite"])
    chex.assert_trees_all_equal(new, state)


def test_population_vmap_lanes_are_independent():
    opt = jaxlr.sgd(0.1, momentum=0.9)
    step = jax.jit(jax.vmap(jaxlr.engine.train_step_fn(loss_fn, opt)))
    lrs = jnp.array([0.01, 0.05, 1e30])  # the last lane diverges
    make = lambda lr: jaxlr.TrainState.create(  # noqa: E731
        _params(), opt).replace(opt_state=jaxlr.set_hyperparams(opt.init(_params()),
                                                                  learning_rate=lr))
    pop = jax.vmap(make)(lrs)
    batch = _data()
    pops = jax.tree.map(lambda a: jnp.stack([a] * 3), batch)
    for _ in range(3):
        pop, m = step(pop, pops)
    assert m["finite"].tolist() == [True, True, False]
    # lane 0 equals a single run
    single = make(0.01)
    one = jax.jit(jaxlr.engine.train_step_fn(loss_fn, opt))
    for _ in range(3):
        single, _ = one(single, batch)
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[0], pop.params), single.params,
                                rtol=1e-6)
    assert np.isfinite(np.asarray(pop.params["w"])).all()


def test_gradient_accumulation_equals_big_batch():
    x, y = _data(8)
    opt_acc = jaxlr.accumulate_gradients(jaxlr.sgd(0.1), every_k=2)
    step = jaxlr.make_train_step(loss_fn, opt_acc)
    state = jaxlr.TrainState.create(_params(), opt_acc)
    state, _ = step(state, (x[:4], y[:4]))
    state, m = step(state, (x[4:], y[4:]))
    opt = jaxlr.sgd(0.1)
    ref, _ = jaxlr.make_train_step(loss_fn, opt)(jaxlr.TrainState.create(_params(), opt),
                                                 (x, y))
    chex.assert_trees_all_close(state.params, ref.params, rtol=1e-6)
    assert int(state.step) == 2


def test_model_state_and_key_conventions():
    def f(p, ms, batch, *, key):
        noise = jax.random.normal(key, ())
        return loss_fn(p, batch) + 0.0 * noise, {"calls": ms["calls"] + 1, "noise": noise}

    opt = jaxlr.sgd(0.1)
    state = jaxlr.TrainState.create(_params(), opt, key=jax.random.key(3),
                                    model_state={"calls": jnp.zeros([], jnp.int32),
                                                 "noise": jnp.zeros([])})
    step = jaxlr.make_train_step(f, opt)
    state, _ = step(state, _data())
    n1 = float(state.model_state["noise"])
    state, _ = step(state, _data())
    assert int(state.model_state["calls"]) == 2
    np.testing.assert_allclose(n1, jax.random.normal(jax.random.fold_in(jax.random.key(3), 0)))
    assert float(state.model_state["noise"]) != n1


def test_plateau_scale_in_state_multiplies_updates():
    opt = jaxlr.sgd(0.2)
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0)
    state = jaxlr.TrainState.create(_params(), opt, plateau=ctrl)
    state = state.replace(plateau=state.plateau._replace(scale=jnp.float32(0.25)))
    new, m = jaxlr.make_train_step(loss_fn, opt, donate=False)(state, _data())
    np.testing.assert_allclose(m["lr"], 0.05)
    np.testing.assert_allclose(jaxlr.current_lr(state), 0.05)
    g = jax.grad(loss_fn)(_params(), _data())
    chex.assert_trees_all_close(new.params, jax.tree.map(lambda a: -0.05 * a, g), rtol=1e-6)


def test_eval_step():
    opt = jaxlr.sgd(0.1)
    state = jaxlr.TrainState.create(_params(), opt)
    ev = jaxlr.make_eval_step(loss_fn)
    np.testing.assert_allclose(ev(state, _data())["loss"], loss_fn(_params(), _data()))
    ev2 = jaxlr.make_eval_step(lambda p, b: {"a": loss_fn(p, b), "b": jnp.float32(1)})
    assert set(ev2(state, _data())) == {"a", "b"}


@pytest.mark.standard_promotion
def test_flax_linen_with_batch_stats():
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            x = nn.Dense(8)(x)
            x = nn.BatchNorm(use_running_average=not train)(x)
            return nn.Dense(1)(nn.relu(x))

    model = Net()
    x, y = _data(32)
    variables = model.init(jax.random.key(0), x, train=False)

    def linen_loss(params, batch_stats, batch):
        xb, yb = batch
        out, upd = model.apply({"params": params, "batch_stats": batch_stats}, xb, train=True,
                               mutable=["batch_stats"])
        return jnp.mean((out - yb) ** 2), upd["batch_stats"]

    opt = jaxlr.adam(1e-2)
    state = jaxlr.TrainState.create(variables["params"], opt,
                                    model_state=variables["batch_stats"])
    step = jaxlr.make_train_step(linen_loss, opt)
    first = None
    for _ in range(30):
        state, m = step(state, (x, y))
        first = float(m["loss"]) if first is None else first
    assert float(m["loss"]) < 0.5 * first
    assert not np.allclose(state.model_state["BatchNorm_0"]["mean"], 0.0)


@pytest.mark.standard_promotion
def test_flax_nnx_split_merge():
    from flax import nnx

    model = nnx.Sequential(nnx.Linear(3, 8, rngs=nnx.Rngs(0)), nnx.relu,
                           nnx.Linear(8, 1, rngs=nnx.Rngs(1)))
    graphdef, params = nnx.split(model, nnx.Param)

    def nnx_loss(p, batch):
        xb, yb = batch
        return jnp.mean((nnx.merge(graphdef, p)(xb) - yb) ** 2)

    opt = jaxlr.adam(1e-2)
    state = jaxlr.TrainState.create(params, opt)
    step = jaxlr.make_train_step(nnx_loss, opt)
    losses = []
    for _ in range(30):
        state, m = step(state, _data(32))
        losses.append(float(m["loss"]))
    assert losses[-1] < 0.5 * losses[0]
    nnx.update(model, state.params)  # back into the module
    np.testing.assert_allclose(model(_data(32)[0]), nnx.merge(graphdef, state.params)(
        _data(32)[0]), rtol=1e-6)


@pytest.mark.parametrize("make,err,text", [
    (lambda: jaxlr.make_train_step(lambda p, b: p["w"] * 2.0, jaxlr.sgd(0.1)), ValueError,
     "must return a scalar; got an array of shape (3, 1)"),
    (lambda: jaxlr.make_train_step(lambda p, b: (loss_fn(p, b), 1.0), jaxlr.sgd(0.1)),
     TypeError, "has_aux=True"),
    (lambda: jaxlr.make_train_step(loss_fn, "adam"), TypeError, "optimizer='adam'"),
])
def test_bad_loss_fn(make, err, text):
    state = jaxlr.TrainState.create(_params(), jaxlr.sgd(0.1))
    with pytest.raises(err, match=re.escape(text)):
        make()(state, _data())


def test_bad_state_inputs():
    with pytest.raises(TypeError, match=re.escape("params['i']")):
        jaxlr.TrainState.create({"i": jnp.arange(3)}, jaxlr.sgd(0.1))
    with pytest.raises(TypeError, match="TrainState"):
        jaxlr.make_train_step(loss_fn, jaxlr.sgd(0.1))({"w": 1.0}, _data())
    with pytest.raises(TypeError, match="key=None"):
        f = lambda p, b, key: loss_fn(p, b)  # noqa: E731
        jaxlr.make_train_step(f, jaxlr.sgd(0.1))(
            jaxlr.TrainState.create(_params(), jaxlr.sgd(0.1)), _data())


def test_early_stopped_lane_freezes_in_a_population():
    opt = jaxlr.sgd(0.1)
    es = jaxlr.early_stopping(patience=0)
    step = jax.jit(jax.vmap(jaxlr.engine.train_step_fn(loss_fn, opt), in_axes=(0, None)))
    one = jaxlr.TrainState.create(_params(), opt, early_stopping=es)
    pop = jax.tree.map(lambda a: jnp.stack([a, a]), one)
    # lane 1 has triggered: its state must not move; lane 0 trains as a single run would
    pop = pop.replace(early_stopping=pop.early_stopping._replace(stop=jnp.array([False, True])))
    new, m = step(pop, _data())
    assert bool(m["finite"].all())
    chex.assert_trees_all_equal(jax.tree.map(lambda a: a[1], new),
                                jax.tree.map(lambda a: a[1], pop))
    ref, _ = jaxlr.make_train_step(loss_fn, opt, donate=False)(one, _data())
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[0], new.params), ref.params, rtol=1e-6)
    assert new.step.tolist() == [1, 0]
