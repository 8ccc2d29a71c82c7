"""Tests for jaxlr.schedule_free_adamw / schedule_free_sgd / eval_params."""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxlr


def _quadratic_grads(p):
    return jax.tree.map(lambda x: 2.0 * (x - 3.0) + 0.1 * jnp.sin(5.0 * x), p)


def _run(opt, params, steps=6):
    state = opt.init(params)
    for _ in range(steps):
        upd, state = opt.update(_quadratic_grads(params), state, params)
        params = optax.apply_updates(params, upd)
    return params, state


PARAMS = {"w": jnp.asarray([0.5, -1.0, 2.0], jnp.float32), "b": jnp.asarray(0.25, jnp.float32)}


def _inner(state):
    """The optax ScheduleFreeState inside a jaxlr HyperState."""
    return state.inner_state


@pytest.mark.standard_promotion  # the optax reference is not strict-promotion clean
def test_adamw_matches_optax_exactly():
    kw = dict(b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.01, weight_lr_power=1.5)
    ours, s_ours = _run(jaxlr.schedule_free_adamw(0.05, **kw), PARAMS)
    ref, s_ref = _run(optax.contrib.schedule_free_adamw(0.05, **kw), PARAMS)
    chex.assert_trees_all_close(ours, ref, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(jaxlr.optim.eval_params(s_ours, ours),
                                optax.contrib.schedule_free_eval_params(s_ref, ref),
                                rtol=1e-6, atol=1e-7)


@pytest.mark.standard_promotion
def test_sgd_matches_optax_exactly():
    ours, s_ours = _run(jaxlr.schedule_free_sgd(0.1, b1=0.7, weight_decay=0.05), PARAMS)
    ref, s_ref = _run(optax.contrib.schedule_free_sgd(0.1, b1=0.7, weight_decay=0.05), PARAMS)
    chex.assert_trees_all_close(ours, ref, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(jaxlr.optim.eval_params(s_ours, ours),
                                optax.contrib.schedule_free_eval_params(s_ref, ref), rtol=1e-6)


@pytest.mark.standard_promotion
def test_warmup_follows_jaxlr_step_convention():
    opt = jaxlr.schedule_free_adamw(0.1, warmup_steps=4)
    state = opt.init(PARAMS)
    params, lrs = PARAMS, []
    for _ in range(6):
        lrs.append(float(jaxlr.current_lr(state)))
        upd, state = opt.update(_quadratic_grads(params), state, params)
        params = optax.apply_updates(params, upd)
    np.testing.assert_allclose(lrs, [0.0, 0.025, 0.05, 0.075, 0.1, 0.1], rtol=1e-6)
    # The z sequence (the inner Adam, which optax also drives with the 0-based count) matches
    # optax's warm-up exactly; only the averaging weights read optax's warm-up one step later.
    ref = optax.contrib.schedule_free_adamw(0.1, warmup_steps=4)
    rs, rp = ref.init(PARAMS), PARAMS
    params, state = PARAMS, opt.init(PARAMS)
    for _ in range(3):
        upd, state = opt.update(_quadratic_grads(rp), state, params)
        params = optax.apply_updates(params, upd)
        rupd, rs = ref.update(_quadratic_grads(rp), rs, rp)
        rp = optax.apply_updates(rp, rupd)
    chex.assert_trees_all_close(_inner(state).z, rs.z, rtol=1e-5, atol=1e-6)


def test_hyperparameters_are_data():
    chex.clear_trace_counter()
    opt = jaxlr.schedule_free_adamw(0.05)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state, params):
        upd, state = opt.update(_quadratic_grads(params), state, params)
        params = optax.apply_updates(params, upd)
        return jaxlr.optim.eval_params(state, params), state

    s0 = opt.init(PARAMS)
    a, _ = step(s0, PARAMS)
    for kw in [dict(learning_rate=0.1), dict(b1=0.5, b2=0.9), dict(weight_decay=0.1, eps=1e-3),
               dict(weight_lr_power=0.0)]:
        b, _ = step(jaxlr.set_hyperparams(s0, **kw), PARAMS)
    hp = jaxlr.hyperparams(jaxlr.set_hyperparams(s0, b1=0.5))
    assert float(hp["b1"]) == 0.5
    assert not np.allclose(a["w"], step(jaxlr.set_hyperparams(s0, learning_rate=0.1),
                                        PARAMS)[0]["w"])


@pytest.mark.standard_promotion
def test_set_b1_is_used_by_update_and_eval_params():
    # An optimizer whose b1 was replaced behaves like one built with that b1.
    replaced = jaxlr.schedule_free_sgd(0.1, b1=0.9)
    built = jaxlr.schedule_free_sgd(0.1, b1=0.6)
    s_r = jaxlr.set_hyperparams(replaced.init(PARAMS), b1=0.6)
    s_b = built.init(PARAMS)
    p_r = p_b = PARAMS
    for _ in range(3):
        u, s_r = replaced.update(_quadratic_grads(p_r), s_r, p_r)
        p_r = optax.apply_updates(p_r, u)
        u, s_b = built.update(_quadratic_grads(p_b), s_b, p_b)
        p_b = optax.apply_updates(p_b, u)
    chex.assert_trees_all_close(p_r, p_b, rtol=1e-6)
    chex.assert_trees_all_close(jaxlr.optim.eval_params(s_r, p_r), jaxlr.optim.eval_params(s_b, p_b),
                                rtol=1e-6)


def test_vmap_over_learning_rate_and_b1():
    def run(lr, b1):
        opt = jaxlr.schedule_free_adamw(lr, b1=b1)

        def body(carry, _):
            p, s = carry
            u, s = opt.update(_quadratic_grads(p), s, p)
            return (optax.apply_updates(p, u), s), None

        (p, s), _ = jax.lax.scan(body, (PARAMS, opt.init(PARAMS)), None, length=4)
        return jaxlr.optim.eval_params(s, p)

    lrs = jnp.asarray([0.01, 0.1], jnp.float32)
    b1s = jnp.asarray([0.9, 0.5], jnp.float32)
    got = jax.jit(jax.vmap(run))(lrs, b1s)
    for i in range(2):
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[i], got),
                                    run(float(lrs[i]), float(b1s[i])), rtol=1e-5, atol=1e-7)


def test_eval_params_on_batched_state_and_train_state():
    opt = jaxlr.schedule_free_sgd(0.1, b1=0.5)

    def run(lr):
        s = jaxlr.set_hyperparams(opt.init(PARAMS), learning_rate=lr)
        u, s = opt.update(_quadratic_grads(PARAMS), s, PARAMS)
        return optax.apply_updates(PARAMS, u), s

    ps, ss = jax.vmap(run)(jnp.asarray([0.1, 0.2], jnp.float32))
    batched = jaxlr.optim.eval_params(ss, ps)            # outside vmap, leading lane axis
    per_lane = jax.vmap(jaxlr.optim.eval_params)(ss, ps)
    chex.assert_trees_all_close(batched, per_lane, rtol=1e-6)
    # after one SGD step x = z_1 (c_1 = 1): params - lr * grad
    want = jax.tree.map(lambda p, g: p - 0.2 * g, PARAMS, _quadratic_grads(PARAMS))
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[1], batched), want, rtol=1e-5)
    ts = jaxlr.TrainState.create(PARAMS, opt)
    chex.assert_trees_all_close(jaxlr.optim.eval_params(ts, ts.params), PARAMS)


def test_eval_params_is_identity_for_other_optimizers():
    state = optax.chain(optax.clip_by_global_norm(1.0), jaxlr.adam(0.1)).init(PARAMS)
    assert jaxlr.optim.eval_params(state, PARAMS) is PARAMS


def test_trains_in_make_train_step():
    loss_fn = lambda p, b: jnp.mean((p["w"] - b) ** 2) + p["b"] ** 2  # noqa: E731
    opt = jaxlr.schedule_free_adamw(0.1, warmup_steps=2)
    state = jaxlr.TrainState.create(PARAMS, opt)
    step = jaxlr.make_train_step(loss_fn, opt)
    target = jnp.asarray([1.0, -0.5, 2.5], jnp.float32)
    first = None
    for _ in range(40):
        state, m = step(state, target)
        first = float(m["loss"]) if first is None else first
    x = jaxlr.optim.eval_params(state.opt_state, state.params)
    assert float(loss_fn(x, target)) < 0.1 * first


@pytest.mark.parametrize("builder, kw, text", [
    (jaxlr.schedule_free_adamw, dict(b1=0.0), "b1=0.0"),
    (jaxlr.schedule_free_adamw, dict(b1=1.0), "b1=1.0"),
    (jaxlr.schedule_free_adamw, dict(b2=1.0), "b2=1.0"),
    (jaxlr.schedule_free_adamw, dict(learning_rate=-1.0), "learning_rate=-1.0"),
    (jaxlr.schedule_free_adamw, dict(weight_decay=-0.1), "weight_decay=-0.1"),
    (jaxlr.schedule_free_sgd, dict(b1=1.5), "b1=1.5"),
    (jaxlr.schedule_free_sgd, dict(warmup_steps=-2), "warmup_steps=-2"),
])
def test_bad_input(builder, kw, text):
    with pytest.raises(ValueError, match=re.escape(text)) as e:
        builder(**kw)
    assert str(e.value).startswith(builder.__name__ + ":")


def test_bad_types():
    with pytest.raises(TypeError, match=re.escape("warmup_steps=2.5")):
        jaxlr.schedule_free_sgd(warmup_steps=2.5)
    with pytest.raises(TypeError, match="b1"):
        jaxlr.schedule_free_adamw(b1="0.9")


def test_fit_evaluates_schedule_free_at_the_averaged_point():
    # a small synthetic regression problem (no data set to load)
    kx, kw = jax.random.split(jax.random.key(3))
    xs = jax.random.normal(kx, (96, 4), jnp.float32)
    ys = jnp.tanh(xs @ jnp.asarray([1.0, -2.0, 0.5, 0.3]))
    loss = lambda p, b: jnp.mean((jnp.tanh(b[0] @ p["w1"]) @ p["w2"] - b[1]) ** 2)  # noqa: E731
    params = {"w1": 0.5 * jax.random.normal(kw, (4, 8)), "w2": jnp.zeros((8,))}
    train, valid = (xs[:64], ys[:64]), (xs[64:], ys[64:])
    opt = jaxlr.schedule_free_adamw(0.01, warmup_steps=5)
    state, hist = jaxlr.fit(loss, opt, params, train, steps=20, batch_size=16,
                            key=jax.random.key(1), valid_data=valid, eval_every=20,
                            progress=False)
    x = jaxlr.optim.eval_params(state.opt_state, state.params)
    want = float(loss(x, valid))
    at_y = float(loss(state.params, valid))
    assert abs(want - at_y) > 1e-6  # the two points differ, so the check below has teeth
    np.testing.assert_allclose(hist.eval["val_loss"][-1], want, rtol=1e-5)
