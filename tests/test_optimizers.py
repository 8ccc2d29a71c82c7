"""Optimizers with hyperparameters in their state (jaxlr.optimizers)."""

import dataclasses
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jaxlr


def _params():
    return {"w": jnp.array([[0.5, -1.0], [2.0, 0.1]]), "b": jnp.array([0.3, -0.2])}


def _grads(i):
    p = _params()
    return jax.tree.map(lambda x: jnp.sin(x * (i + 1.0)) + 0.1 * i, p)


def _run(opt, n=4, params=None):
    params = _params() if params is None else params
    state = opt.init(params)
    out = []
    for i in range(n):
        u, state = opt.update(_grads(i), state, params)
        params = optax.apply_updates(params, u)
        out.append(params)
    return out, state


@dataclasses.dataclass(frozen=True)
class _Tri:
    """A tiny pytree schedule for tests: linear from a to b over n steps."""
    a: jax.Array
    b: jax.Array
    n: jax.Array

    def __call__(self, step):
        frac = jnp.clip(jnp.asarray(step, jnp.float32) / jnp.asarray(self.n, jnp.float32),
                        0.0, 1.0)
        return self.a + (self.b - self.a) * frac


jax.tree_util.register_dataclass(_Tri, data_fields=["a", "b", "n"], meta_fields=[])

PAIRS = [
    ("sgd", lambda: jaxlr.sgd(0.1), lambda: optax.sgd(0.1)),
    ("momentum", lambda: jaxlr.momentum(0.1, 0.8), lambda: optax.sgd(0.1, 0.8)),
    ("nesterov", lambda: jaxlr.momentum(0.1, 0.8, nesterov=True),
     lambda: optax.sgd(0.1, 0.8, nesterov=True)),
    ("rmsprop", lambda: jaxlr.rmsprop(0.01), lambda: optax.rmsprop(0.01)),
    ("rmsprop_centered_mom", lambda: jaxlr.rmsprop(0.01, 0.95, 1e-6, centered=True, momentum=0.5),
     lambda: optax.rmsprop(0.01, 0.95, 1e-6, centered=True, momentum=0.5)),
    ("adagrad", lambda: jaxlr.adagrad(0.1), lambda: optax.adagrad(0.1)),
    ("adam", lambda: jaxlr.adam(0.01, 0.8, 0.99), lambda: optax.adam(0.01, 0.8, 0.99)),
    ("nadam", lambda: jaxlr.adam(0.01, nesterov=True), lambda: optax.nadam(0.01)),
    ("adamw", lambda: jaxlr.adamw(0.01, weight_decay=0.1),
     lambda: optax.adamw(0.01, weight_decay=0.1)),
    ("sgd_wd_clip", lambda: jaxlr.sgd(0.1, 0.9, weight_decay=0.01, max_grad_norm=0.5),
     lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.add_decayed_weights(0.01),
                         optax.sgd(0.1, 0.9))),
    ("adam_schedule", lambda: jaxlr.adam(jaxlr.cosine_decay(0.1, 3)),
     lambda: optax.adam(optax.cosine_decay_schedule(0.1, 3))),
]


@pytest.mark.parametrize("name,ours,ref", PAIRS, ids=[p[0] for p in PAIRS])
def test_matches_optax(name, ours, ref):
    got, _ = _run(ours())
    with jax.numpy_dtype_promotion("standard"):
        want, _ = _run(ref())
    for g, w in zip(got, want):
        # optax folds Python-float constants in float64 (1 - 0.999) where we use float32 arrays: a
        # few ulp of difference
        chex.assert_trees_all_close(g, w, rtol=2e-5, atol=2e-6)


def test_new_values_do_not_retrace():
    opt = jaxlr.adamw(jaxlr.cosine_decay(0.1, 10), weight_decay=0.01, max_grad_norm=1.0)
    p = _params()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def update(state):
        return opt.update(_grads(0), state, p)

    chex.clear_trace_counter()
    state = opt.init(p)
    outs = []
    for lr, b1, wd in ((0.1, 0.9, 0.01), (0.3, 0.5, 0.0), (1e-3, 0.0, 0.2)):
        s = jaxlr.set_hyperparams(state, learning_rate=jaxlr.cosine_decay(lr, 7), b1=b1,
                                  weight_decay=wd, max_grad_norm=2.0)
        outs.append(update(s)[0])
    assert not np.allclose(outs[0]["w"], outs[1]["w"])
    # the new values are really used: equal to a freshly built optimizer
    with jax.numpy_dtype_promotion("standard"):
        ref = optax.chain(optax.clip_by_global_norm(2.0), optax.adamw(0.3, b1=0.5,
                                                                       weight_decay=0.0))
        want = ref.update(_grads(0), ref.init(p), p)[0]
    chex.assert_trees_all_close(outs[1], want, rtol=2e-5)


def test_new_momentum_values_do_not_retrace():
    opt = jaxlr.momentum(0.1, 0.9, nesterov=True)
    p = _params()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def two_updates(state):
        _, state = opt.update(_grads(0), state, p)
        return opt.update(_grads(1), state, p)[0]

    chex.clear_trace_counter()
    state = opt.init(p)
    got = [two_updates(jaxlr.set_hyperparams(state, momentum=m)) for m in (0.9, 0.5)]
    with jax.numpy_dtype_promotion("standard"):
        for m, g in zip((0.9, 0.5), got):
            ref = optax.sgd(0.1, m, nesterov=True)
            _, s = ref.update(_grads(0), ref.init(p), p)
            chex.assert_trees_all_close(g, ref.update(_grads(1), s, p)[0], rtol=1e-5)


def test_pytree_schedule_stored_whole_and_replaceable():
    opt = jaxlr.sgd(_Tri(1.0, 0.0, 4))
    state = opt.init(jnp.zeros(2))
    assert isinstance(state.hyperparams["learning_rate"], _Tri)
    assert state.hyperparams["learning_rate"].a.dtype == jnp.float32
    assert state.hyperparams["learning_rate"].n.dtype == jnp.int32
    lrs = []
    f = jax.jit(lambda s: opt.update(jnp.ones(2), s))
    for _ in range(3):
        lrs.append(float(jaxlr.current_lr(state)))
        u, state = f(state)
        np.testing.assert_allclose(u, -lrs[-1] * np.ones(2), rtol=1e-6)
    np.testing.assert_allclose(lrs, [1.0, 0.75, 0.5])
    state = jaxlr.set_hyperparams(state, learning_rate=_Tri(2.0, 0.0, 6))
    np.testing.assert_allclose(jaxlr.current_lr(state), 1.0)  # 2 * (1 - 3/6)
    assert f._cache_size() == 1
    with pytest.raises(ValueError, match="structure"):
        jaxlr.set_hyperparams(state, learning_rate=0.1)


def test_plain_callable_schedule_is_readable():
    sched = optax.linear_schedule(1.0, 0.0, 10)
    opt = jaxlr.adam(sched)
    _, state = _run(opt, n=2)
    np.testing.assert_allclose(jaxlr.current_lr(state), 0.8, rtol=1e-6)


def test_bf16_params_keep_float32_hyperparams():
    p = {"w": jnp.ones(3, jnp.bfloat16)}
    opt = jaxlr.adam(1e-3, b2=0.999)
    state = opt.init(p)
    assert state.hyperparams["b2"].dtype == jnp.float32
    np.testing.assert_allclose(state.hyperparams["b2"], np.float32(0.999))  # not rounded to 1
    u, state2 = jax.jit(opt.update)({"w": jnp.ones(3, jnp.bfloat16)}, state, p)
    assert u["w"].dtype == jnp.bfloat16
    chex.assert_trees_all_equal_dtypes(state, state2)


def test_population_under_vmap_matches_loop():
    opt = jaxlr.momentum(0.1, 0.9)
    lrs = jnp.array([0.01, 0.1, 1.0])
    moms = jnp.array([0.0, 0.5, 0.9])
    p = _params()
    states = jax.vmap(lambda lr, m: jaxlr.set_hyperparams(opt.init(p), learning_rate=lr,
                                                          momentum=m))(lrs, moms)
    upd = jax.jit(jax.vmap(lambda s: opt.update(_grads(1), s, p)))
    u, states = upd(states)
    u, states = upd(states)
    np.testing.assert_allclose(jaxlr.current_lr(states), lrs)
    for i in range(3):
        with jax.numpy_dtype_promotion("standard"):
            ref = optax.sgd(float(lrs[i]), float(moms[i]))
            s = ref.init(p)
            _, s = ref.update(_grads(1), s, p)
            want, _ = ref.update(_grads(1), s, p)
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[i], u), want, rtol=1e-6)


def test_current_lr_through_chains_and_plateau():
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0)
    opt = optax.chain(optax.clip_by_global_norm(1.0), jaxlr.adam(0.2),
                      jaxlr.controllers.plateau_transform(ctrl))
    state = opt.init(_params())
    np.testing.assert_allclose(jaxlr.current_lr(state), 0.2)
    _, state = opt.update(_grads(0), state, _params(), value=jnp.float32(1.0))
    _, state = opt.update(_grads(0), state, _params(), value=jnp.float32(2.0))  # worse: reduce
    np.testing.assert_allclose(jaxlr.current_lr(state), 0.1, rtol=1e-6)
    np.testing.assert_allclose(jaxlr.hyperparams(state)["learning_rate"], 0.1, rtol=1e-6)


def test_accumulate_gradients_counts_optimizer_updates():
    opt = jaxlr.accumulate_gradients(jaxlr.sgd(_Tri(1.0, 0.0, 2)), every_k=2)
    state = opt.init(jnp.zeros(1))
    seen = []
    for g in (1.0, 3.0, 5.0, 7.0):
        seen.append(float(jaxlr.current_lr(state)))
        u, state = opt.update(jnp.full(1, g), state)
    # schedule advances once per 2 micro-batches; the 2nd update uses lr 0.5 on mean(5, 7)
    np.testing.assert_allclose(seen, [1.0, 1.0, 0.5, 0.5])
    np.testing.assert_allclose(u, [-3.0])


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_cycle_momentum_drives_momentum_or_b1(kind):
    sched = jaxlr.one_cycle(1.0, total_steps=10, cycle_momentum=True, base_momentum=0.85,
                            max_momentum=0.95)
    mom = sched.momentum_schedule()
    opt = jaxlr.sgd(sched, momentum=0.9) if kind == "sgd" else jaxlr.adam(sched)
    name = "momentum" if kind == "sgd" else "b1"
    state = opt.init(jnp.zeros(2))
    f = jax.jit(lambda s: opt.update(jnp.ones(2), s)[1])
    for t in range(4):
        np.testing.assert_allclose(jaxlr.hyperparams(state)[name], mom(t), rtol=1e-6)
        state = f(state)
    # off by default: Adam's b1 stays a number
    state = jaxlr.adam(jaxlr.one_cycle(1.0, total_steps=10)).init(jnp.zeros(2))
    assert not callable(state.hyperparams["b1"])


@given(base=st.floats(1e-5, 1.0), b=st.integers(1, 4096), b0=st.integers(1, 4096))
def test_scale_lr_rules(base, b, b0):
    np.testing.assert_allclose(jaxlr.scale_lr(base, b, b0), base * b / b0, rtol=1e-5)
    np.testing.assert_allclose(jaxlr.scale_lr(base, b, b0, rule="sqrt"),
                               base * np.sqrt(b / b0), rtol=1e-5)


def test_inject_hyperparams_any_optax_factory():
    opt = jaxlr.optim.inject_hyperparams(optax.lion, {"learning_rate": 0.1, "b1": 0.5})
    got, state = _run(opt, n=2)
    with jax.numpy_dtype_promotion("standard"):
        want, _ = _run(optax.lion(0.1, b1=0.5), n=2)
    chex.assert_trees_all_close(got[-1], want[-1], rtol=1e-6)
    assert set(jaxlr.hyperparams(state)) == {"learning_rate", "b1"}


@pytest.mark.parametrize("call,err,text", [
    (lambda: jaxlr.adam(-1.0), ValueError, "learning_rate=-1.0"),
    (lambda: jaxlr.adam("fast"), TypeError, "learning_rate='fast'"),
    (lambda: jaxlr.adam(None), TypeError, "learning_rate=None"),
    (lambda: jaxlr.adam(0.1, b1=1.0), ValueError, "b1=1.0"),
    (lambda: jaxlr.sgd(0.1, momentum=1.5), ValueError, "momentum=1.5"),
    (lambda: jaxlr.sgd(0.1, nesterov=True), ValueError, "nesterov=True"),
    (lambda: jaxlr.rmsprop(0.1, eps=float("nan")), ValueError, "eps=nan"),
    (lambda: jaxlr.adamw(0.1, weight_decay=-0.1), ValueError, "weight_decay=-0.1"),
    (lambda: jaxlr.sgd(0.1, max_grad_norm=0.0), ValueError, "max_grad_norm=0.0"),
    (lambda: jaxlr.adam(0.1, betas=(0.9, 0.99)), TypeError, "betas"),
    (lambda: jaxlr.scale_lr(0.1, 64, 0), ValueError, "base_batch_size=0"),
    (lambda: jaxlr.scale_lr(0.1, 64, 32, rule="cube"), ValueError, "rule='cube'"),
    (lambda: jaxlr.accumulate_gradients(jaxlr.sgd(0.1), 0), ValueError, "every_k=0"),
    (lambda: jaxlr.sgd(0.1).init({"n": jnp.arange(3)}), TypeError, "params['n']"),
    (lambda: jaxlr.set_hyperparams(jaxlr.sgd(0.1).init(jnp.zeros(1)), momentum=0.9),
     ValueError, "'momentum'"),
    (lambda: jaxlr.current_lr(optax.adam(0.1).init(jnp.zeros(1))), TypeError, "HyperState"),
])
def test_bad_input(call, err, text):
    with pytest.raises(err, match=re.escape(text)):
        call()
