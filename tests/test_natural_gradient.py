"""Tests for jaxlr.optim.natural_gradient, diagonal_natural_gradient and fisher_vector_product."""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxlr


def _logistic_problem(n=12, d=4, k=3, seed=0):
    kx, kw, ky = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, (n, d), jnp.float32)
    y = jax.random.randint(ky, (n,), 0, k)
    params = {"w": 0.5 * jax.random.normal(kw, (d, k), jnp.float32),
              "b": jnp.linspace(-0.2, 0.2, k, dtype=jnp.float32)}
    return params, (x, y)


def linear_apply(p, x):
    return x @ p["w"] + p["b"]


def mlp_apply(p, x):
    return jnp.tanh(x @ p["w1"]) @ p["w2"]


def _explicit_ggn(apply, loss, params, batch):
    flat, unravel = ravel_pytree(params)
    impl = jax.jit(lambda f, b: _explicit_ggn_impl(apply, loss, unravel(f), b))
    return impl(flat, batch), unravel


def _explicit_ggn_impl(apply, loss, params, batch):
    """J^T H J with J the full Jacobian of the flattened outputs (small problems only)."""
    flat, unravel = ravel_pytree(params)
    x, y = batch
    out = lambda f: apply(unravel(f), x).reshape(-1)  # noqa: E731
    jac = jax.jacobian(out)(flat)                          # [N*K, P]
    z = apply(params, x)
    hess = jax.hessian(lambda zz: loss(zz.reshape(z.shape), y))(z.reshape(-1))   # [N*K, N*K]
    return jac.T @ hess @ jac


def _softmax_ce(z, y):
    logp = jax.nn.log_softmax(z)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


# ------------------------------------------------------------------------------------------------
# Mandatory mathematical tests
# ------------------------------------------------------------------------------------------------


def test_fvp_equals_explicit_fisher_logistic_regression():
    params, batch = _logistic_problem()
    x, _ = batch
    flat, unravel = ravel_pytree(params)
    # The Fisher of the categorical likelihood, from its definition (no labels needed):
    # F = 1/N sum_i J_i^T (diag(p_i) - p_i p_i^T) J_i.

    @jax.jit
    def explicit_fisher(flat):
        probs = jax.nn.softmax(linear_apply(unravel(flat), x))

        def one(xi, pi):
            ji = jax.jacobian(lambda f: linear_apply(unravel(f), xi[None])[0])(flat)  # [K, P]
            return ji.T @ (jnp.diag(pi) - jnp.outer(pi, pi)) @ ji

        return jnp.mean(jax.vmap(one)(x, probs), axis=0)

    fisher = explicit_fisher(flat)
    v = jax.random.normal(jax.random.key(1), flat.shape, jnp.float32)
    fvp = jax.jit(lambda p, b, vv: jaxlr.optim.fisher_vector_product(
        linear_apply, "softmax_cross_entropy", p, b, vv))(params, batch, unravel(v))
    np.testing.assert_allclose(ravel_pytree(fvp)[0], fisher @ v, rtol=2e-4, atol=1e-5)
    # For a linear model the GGN is the exact Hessian of the loss.
    hess = jax.jit(jax.hessian(lambda f: _softmax_ce(linear_apply(unravel(f), x), batch[1])))(flat)
    np.testing.assert_allclose(fisher, hess, rtol=1e-3, atol=1e-5)


def test_fvp_equals_explicit_fisher_linear_gaussian():
    kx, ky = jax.random.split(jax.random.key(2))
    x = jax.random.normal(kx, (10, 3), jnp.float32)
    y = jax.random.normal(ky, (10,), jnp.float32)
    params = {"w": jnp.zeros((3,), jnp.float32), "b": jnp.zeros((), jnp.float32)}
    apply = lambda p, xx: xx @ p["w"] + p["b"]  # noqa: E731
    # mean squared error = Gaussian NLL up to constants: F = (2/N) [X 1]^T [X 1].
    xa = jnp.concatenate([jnp.ones((10, 1)), x], axis=1)  # ravel order: b, w
    fisher = 2.0 / 10 * xa.T @ xa
    _, unravel = ravel_pytree(params)
    columns = jax.jit(jax.vmap(lambda e: ravel_pytree(jaxlr.optim.fisher_vector_product(
        apply, "squared_error", params, (x, y), unravel(e)))[0]))(jnp.eye(4))
    np.testing.assert_allclose(columns.T, fisher, rtol=1e-5, atol=1e-6)


def test_fvp_equals_explicit_ggn_for_a_nonlinear_model():
    k1, k2, kx, ky = jax.random.split(jax.random.key(3), 4)
    params = {"w1": jax.random.normal(k1, (3, 5)), "w2": jax.random.normal(k2, (5, 2))}
    x = jax.random.normal(kx, (6, 3))
    y = jax.random.randint(ky, (6,), 0, 2)
    ggn, unravel = _explicit_ggn(mlp_apply, _softmax_ce, params, (x, y))
    v = jnp.arange(ggn.shape[0], dtype=jnp.float32) / ggn.shape[0]
    fvp, fvp2 = jax.jit(lambda p, vv: (
        jaxlr.optim.fisher_vector_product(mlp_apply, "softmax_cross_entropy", p, (x, y), vv),
        # a callable loss gives the same products
        jaxlr.optim.fisher_vector_product(mlp_apply, _softmax_ce, p, (x, y), vv)))(params, unravel(v))
    np.testing.assert_allclose(ravel_pytree(fvp)[0], ggn @ v, rtol=1e-4, atol=1e-5)
    chex.assert_trees_all_close(fvp, fvp2, rtol=1e-5)


def _least_squares():
    kx, ky = jax.random.split(jax.random.key(4))
    x = jax.random.normal(kx, (16, 3), jnp.float32)
    y = x @ jnp.asarray([1.0, -2.0, 0.5]) + 0.3 + 0.1 * jax.random.normal(ky, (16,))
    params = {"w": jnp.zeros((3,), jnp.float32), "b": jnp.zeros((), jnp.float32)}
    apply = lambda p, xx: xx @ p["w"] + p["b"]  # noqa: E731
    loss = lambda p: jnp.mean((apply(p, x) - y) ** 2)  # noqa: E731
    xa = np.concatenate([np.asarray(x), np.ones((16, 1))], axis=1)
    sol = np.linalg.lstsq(xa, np.asarray(y), rcond=None)[0]
    return params, apply, loss, (x, y), sol


def test_one_step_on_a_quadratic_lands_on_the_minimum(maybe_jit):
    params, apply, loss, batch, sol = _least_squares()
    opt = jaxlr.optim.natural_gradient(1.0, apply, loss="squared_error", damping=0.0, cg_iters=4)
    grads = jax.grad(loss)(params)
    upd, state = maybe_jit(lambda g, s, p: opt.update(g, s, p, batch=batch))(
        grads, opt.init(params), params)
    new = jax.tree.map(lambda p, u: p + u, params, upd)
    np.testing.assert_allclose(new["w"], sol[:3], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new["b"], sol[3], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jax.grad(loss)(new)["w"], 0.0, atol=1e-4)
    assert float(state.inner_state.cg_residual) < 1e-3


@pytest.mark.parametrize("kind", ["squared_error", "softmax_cross_entropy"])
def test_infinite_damping_recovers_scaled_gradient_descent(kind):
    if kind == "squared_error":
        params, apply, loss, batch, _ = _least_squares()
    else:
        params, batch = _logistic_problem()
        apply = linear_apply
        loss = lambda p: _softmax_ce(linear_apply(p, batch[0]), batch[1])  # noqa: E731
    grads = jax.grad(loss)(params)
    eta, lam = 0.1, 1e6
    opt = jaxlr.optim.natural_gradient(eta * lam, apply, loss=kind, damping=lam, cg_iters=3)
    upd, _ = opt.update(grads, opt.init(params), params, batch=batch)
    # (G + lam I)^-1 g -> g / lam: the update is -eta * g.
    chex.assert_trees_all_close(upd, jax.tree.map(lambda g: -eta * g, grads), rtol=1e-3,
                                atol=1e-7)


# ------------------------------------------------------------------------------------------------
# Mechanics: CG, momentum, damping adaptation
# ------------------------------------------------------------------------------------------------


def test_one_cg_iteration_is_the_line_searched_gradient():
    params, batch = _logistic_problem()
    loss = lambda p: _softmax_ce(linear_apply(p, batch[0]), batch[1])  # noqa: E731
    g = jax.grad(loss)(params)
    lam = 0.01
    opt = jaxlr.optim.natural_gradient(1.0, linear_apply, damping=lam, cg_iters=1)
    upd, _ = opt.update(g, opt.init(params), params, batch=batch)
    gv, unravel = ravel_pytree(g)
    ag = ravel_pytree(jaxlr.optim.fisher_vector_product(linear_apply, "softmax_cross_entropy", params,
                                                  batch, g))[0] + lam * gv
    alpha = (gv @ gv) / (gv @ ag)
    np.testing.assert_allclose(ravel_pytree(upd)[0], -alpha * gv, rtol=1e-5)


def test_cg_solves_the_damped_system():
    params, batch = _logistic_problem()
    loss = lambda p: _softmax_ce(linear_apply(p, batch[0]), batch[1])  # noqa: E731
    g = jax.grad(loss)(params)
    lam = 0.05
    ggn, unravel = _explicit_ggn(linear_apply, _softmax_ce, params, batch)
    want = np.linalg.solve(np.asarray(ggn) + lam * np.eye(ggn.shape[0]), ravel_pytree(g)[0])
    opt = jaxlr.optim.natural_gradient(1.0, linear_apply, damping=lam, cg_iters=15)
    upd, _ = opt.update(g, opt.init(params), params, batch=batch)
    np.testing.assert_allclose(-ravel_pytree(upd)[0], want, rtol=2e-3, atol=1e-5)


def test_momentum_accumulates_directions():
    params, apply, loss, batch, _ = _least_squares()
    g = jax.grad(loss)(params)
    plain = jaxlr.optim.natural_gradient(0.5, apply, loss="squared_error", damping=1.0, cg_iters=4)
    mom = jaxlr.optim.natural_gradient(0.5, apply, loss="squared_error", damping=1.0, cg_iters=4,
                                 momentum=0.9)
    u0, _ = plain.update(g, plain.init(params), params, batch=batch)
    s = mom.init(params)
    u1, s = mom.update(g, s, params, batch=batch)
    u2, s = mom.update(g, s, params, batch=batch)
    chex.assert_trees_all_close(u1, u0, rtol=1e-6)
    chex.assert_trees_all_close(u2, jax.tree.map(lambda u: 1.9 * u, u0), rtol=1e-5)
    assert float(jaxlr.hyperparams(s)["momentum"]) == pytest.approx(0.9)


def test_levenberg_marquardt_adapts_damping():
    params, apply, loss, batch, _ = _least_squares()
    g = jax.grad(loss)(params)
    # Exact quadratic model, full step: rho = 1 > 3/4 -> damping decreases by 2/3.
    opt = jaxlr.optim.natural_gradient(1.0, apply, loss="squared_error", damping=1e-3, cg_iters=4,
                                 adaptive_damping=True, min_damping=0.0)
    lsq = jax.jit(lambda st: opt.update(g, st, params, batch=batch))
    _, s = lsq(opt.init(params))
    assert float(s.inner_state.rho) == pytest.approx(1.0, abs=1e-2)
    assert float(s.inner_state.damping_scale) == pytest.approx(2 / 3, rel=1e-5)
    # On a quadratic the model is exact whatever the step (rho = 1 for a 3x step too).
    _, s = lsq(jaxlr.set_hyperparams(opt.init(params), learning_rate=3.0))
    assert float(s.inner_state.rho) == pytest.approx(1.0, abs=1e-2)
    # A full Gauss-Newton step on a small, nearly separable logistic problem is poorly predicted
    # by the quadratic model: rho < 1/4 -> damping increases by 3/2.
    lparams, lbatch = _logistic_problem()
    lg = jax.grad(lambda p: _softmax_ce(linear_apply(p, lbatch[0]), lbatch[1]))(lparams)
    opt = jaxlr.optim.natural_gradient(1.0, linear_apply, damping=1e-3, cg_iters=10,
                                 adaptive_damping=True, min_damping=0.0, momentum=0.5)
    logistic = jax.jit(lambda st, gg: opt.update(gg, st, lparams, batch=lbatch))
    _, s = logistic(jaxlr.set_hyperparams(opt.init(lparams), momentum=0.0), lg)
    assert float(s.inner_state.rho) < 0.25
    assert float(s.inner_state.damping_scale) == pytest.approx(1.5, rel=1e-5)
    # A step that increases the batch loss (here: a gradient of the wrong sign) has rho < 0 and
    # is rejected: zero update, and the damping grows.
    wrong = jax.tree.map(lambda x: -x, lg)
    u, s = logistic(opt.init(lparams), wrong)
    assert float(s.inner_state.rho) < 0
    chex.assert_trees_all_equal(u, jax.tree.map(jnp.zeros_like, lparams))
    chex.assert_trees_all_equal(s.inner_state.velocity, jax.tree.map(jnp.zeros_like, lparams))
    assert float(s.inner_state.damping_scale) == pytest.approx(1.5, rel=1e-5)
    # Non-adaptive: scale stays 1 and rho is NaN.
    opt = jaxlr.optim.natural_gradient(3.0, apply, loss="squared_error", cg_iters=4)
    _, s = opt.update(g, opt.init(params), params, batch=batch)
    assert float(s.inner_state.damping_scale) == 1.0 and np.isnan(s.inner_state.rho)


# ------------------------------------------------------------------------------------------------
# Hyperparameters as data: schedules, trace counts, vmap
# ------------------------------------------------------------------------------------------------


def test_schedule_and_current_lr():
    params, batch = _logistic_problem()
    sched = jaxlr.warmup_cosine(1.0, warmup_steps=2, total_steps=10)
    opt = jaxlr.optim.natural_gradient(sched, linear_apply, damping=0.1, cg_iters=2)
    s = opt.init(params)
    g = jax.grad(lambda p: _softmax_ce(linear_apply(p, batch[0]), batch[1]))(params)
    lrs, used = [], []
    step = jax.jit(lambda st: opt.update(g, st, params, batch=batch))
    for _ in range(3):
        lrs.append(float(jaxlr.current_lr(s)))
        u, s = step(s)
        used.append(u)
    np.testing.assert_allclose(lrs, [float(sched(t)) for t in range(3)], rtol=1e-6)
    assert lrs[0] == 0.0 and not np.any(used[0]["w"])  # warm-up from 0: update 0 uses sched(0)
    np.testing.assert_allclose(used[2]["w"], 2 * used[1]["w"], rtol=1e-5)  # sched(2) = 2 sched(1)


def test_new_hyperparameters_do_not_retrace():
    chex.clear_trace_counter()
    params, batch = _logistic_problem()
    opt = jaxlr.optim.natural_gradient(1.0, linear_apply, damping=0.1, cg_iters=3, momentum=0.5,
                                 adaptive_damping=True)
    g = jax.grad(lambda p: _softmax_ce(linear_apply(p, batch[0]), batch[1]))(params)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(s):
        return opt.update(g, s, params, batch=batch)

    s0 = opt.init(params)
    u_a, _ = step(s0)
    for kw in [dict(learning_rate=0.5), dict(damping=1.0, cg_iters=1), dict(momentum=0.0),
               dict(damping_increase=2.0, min_damping=1e-3)]:
        u_b, _ = step(jaxlr.set_hyperparams(s0, **kw))
        if "learning_rate" in kw:
            np.testing.assert_allclose(u_b["w"], 0.5 * u_a["w"], rtol=1e-6)
    # One CG iteration via set_hyperparams equals an optimizer built with cg_iters=1.
    u_c, _ = step(jaxlr.set_hyperparams(s0, cg_iters=1))
    ref = jaxlr.optim.natural_gradient(1.0, linear_apply, damping=0.1, cg_iters=1, momentum=0.5)
    u_d, _ = ref.update(g, ref.init(params), params, batch=batch)
    chex.assert_trees_all_close(u_c, u_d, rtol=1e-5)


def test_vmap_over_learning_rate_damping_and_cg_iters_lanes_independent():
    # One vmapped program: lanes differ in learning rate, damping and CG iterations, and the
    # last lane sees a NaN batch; it must not change the other lanes, which equal solo runs.
    params, (x, y) = _logistic_problem()

    def one(lr, damping, iters, xb):
        g = jax.grad(lambda p: _softmax_ce(linear_apply(p, xb), y))(params)
        opt = jaxlr.optim.natural_gradient(lr, linear_apply, damping=damping, cg_iters=iters)
        return opt.update(g, opt.init(params), params, batch=(xb, y))[0]

    lrs = jnp.asarray([1.0, 0.5, 1.0, 1.0], jnp.float32)
    dampings = jnp.asarray([0.1, 0.1, 1.0, 0.1], jnp.float32)
    iters = jnp.asarray([2, 2, 5, 2], jnp.int32)
    xs = jnp.stack([x, x, x, x.at[0, 0].set(jnp.nan)])
    got = jax.jit(jax.vmap(one))(lrs, dampings, iters, xs)
    assert not np.all(np.isfinite(got["w"][3]))
    solo = jax.jit(one)
    for i in range(3):
        assert np.all(np.isfinite(got["w"][i]))
        want = solo(lrs[i], dampings[i], iters[i], x)
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], got), want, rtol=1e-5,
                                    atol=1e-7)
    # the lanes really differ (each argument is used)
    assert not np.allclose(got["w"][0], got["w"][1]) and not np.allclose(got["w"][0], got["w"][2])


# ------------------------------------------------------------------------------------------------
# Diagonal empirical Fisher
# ------------------------------------------------------------------------------------------------


def test_diagonal_empirical_fisher_matches_definition():
    params, batch = _logistic_problem()
    x, y = batch
    per = jax.jit(jax.vmap(lambda xi, yi: jax.grad(
        lambda p: _softmax_ce(linear_apply(p, xi[None]), yi[None]))(params)))(x, y)
    diag = jax.tree.map(lambda gs: jnp.mean(gs ** 2, axis=0), per)
    g = jax.tree.map(lambda gs: jnp.mean(gs, axis=0), per)
    lam, lr = 1e-3, 0.1
    opt = jaxlr.optim.diagonal_natural_gradient(lr, linear_apply, damping=lam, decay=0.9)
    s = opt.init(params)
    u1, s = opt.update(g, s, params, batch=batch)
    # bias correction makes the first step use the current diagonal exactly
    chex.assert_trees_all_close(u1, jax.tree.map(lambda gg, f: -lr * gg / (f + lam), g, diag),
                                rtol=1e-4)
    u2, s = opt.update(g, s, params, batch=batch)
    chex.assert_trees_all_close(u2, u1, rtol=1e-4)   # same batch: same corrected average
    chex.assert_trees_all_close(s.inner_state.fisher,
                                jax.tree.map(lambda f: (1 - 0.9 ** 2) * f, diag), rtol=1e-4)


def test_diagonal_vmap_and_retrace():
    chex.clear_trace_counter()
    params, batch = _logistic_problem()
    g = jax.grad(lambda p: _softmax_ce(linear_apply(p, batch[0]), batch[1]))(params)
    opt = jaxlr.optim.diagonal_natural_gradient(0.1, linear_apply, momentum=0.9)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(s):
        return opt.update(g, s, params, batch=batch)[0]

    s0 = opt.init(params)
    step(s0)
    step(jaxlr.set_hyperparams(s0, learning_rate=0.01, damping=0.1, decay=0.5, momentum=0.0))

    def one(lr):
        o = jaxlr.optim.diagonal_natural_gradient(lr, linear_apply)
        return o.update(g, o.init(params), params, batch=batch)[0]

    got = jax.vmap(one)(jnp.asarray([0.1, 0.2], jnp.float32))
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[1], got), one(0.2), rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------


def _mlp_classification(n=256, d=8, h=8, k=3, seed=5):
    """A small synthetic MLP classification task: (apply, loss, params, train, valid)."""
    kx, kt, k1, k2 = jax.random.split(jax.random.key(seed), 4)
    x = jax.random.normal(kx, (n + 64, d), jnp.float32)
    y = jnp.argmax(x @ jax.random.normal(kt, (d, k), jnp.float32), axis=1)
    params = {"w1": jax.random.normal(k1, (d, h)) / np.sqrt(d),
              "w2": jax.random.normal(k2, (h, k)) / np.sqrt(h)}
    loss = lambda p, b: _softmax_ce(mlp_apply(p, b[0]), b[1])  # noqa: E731
    return mlp_apply, loss, params, (x[:n], y[:n]), (x[n:], y[n:])


MLP_TASK = _mlp_classification()
NG_MLP = jaxlr.optim.natural_gradient(1.0, mlp_apply, damping=1.0, cg_iters=3, momentum=0.5)


def test_works_inside_the_train_step():
    apply, loss, params, (x, y), _ = MLP_TASK
    # make_train_step donates the state's buffers: give it its own copy of the shared params
    state = jaxlr.TrainState.create(jax.tree.map(jnp.copy, params), NG_MLP)
    step = jaxlr.make_train_step(loss, NG_MLP)
    state, metrics = step(state, (x[:64], y[:64]))
    state, metrics2 = step(state, (x[:64], y[:64]))
    assert float(metrics2["loss"]) < float(metrics["loss"])
    assert float(metrics["lr"]) == 1.0


def test_works_inside_fit():
    apply, loss, params, train, valid = MLP_TASK
    start = float(loss(params, valid))
    state, hist = jaxlr.fit(loss, NG_MLP, params, train, steps=20, batch_size=64,
                            key=jax.random.key(1), valid_data=valid, eval_every=20,
                            progress=False)
    assert int(state.step) == 20
    np.testing.assert_allclose(hist.train["lr"], 1.0)
    assert hist.eval["val_loss"][-1] < 0.7 * start


def _distinct_buffers(tree):
    leaves = jax.tree.leaves(tree)
    return len({x.unsafe_buffer_pointer() for x in leaves}) == len(leaves)


def test_states_have_distinct_buffers_for_donation():
    params, _ = _logistic_problem()
    for opt in (jaxlr.optim.natural_gradient(1.0, linear_apply, momentum=0.9, adaptive_damping=True),
                jaxlr.optim.diagonal_natural_gradient(0.1, linear_apply, momentum=0.9)):
        assert _distinct_buffers(opt.init(params).inner_state)


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, error, text", [
    (dict(damping=-1.0), ValueError, "damping=-1.0"),
    (dict(momentum=1.0), ValueError, "momentum=1.0"),
    (dict(cg_iters=0), ValueError, "cg_iters=0"),
    (dict(cg_iters=2.5), TypeError, "cg_iters=2.5"),
    (dict(loss="hinge"), ValueError, "loss='hinge'"),
    (dict(adaptive_damping=1), TypeError, "adaptive_damping=1"),
    (dict(damping_decrease=1.5), ValueError, "damping_decrease=1.5"),
    (dict(damping_increase=0.5), ValueError, "damping_increase=0.5"),
])
def test_natural_gradient_bad_input(kw, error, text):
    with pytest.raises(error, match=re.escape(text)) as e:
        jaxlr.optim.natural_gradient(1.0, linear_apply, **kw)
    assert str(e.value).startswith("natural_gradient:")


def test_bad_apply_lr_and_missing_batch():
    with pytest.raises(TypeError, match="apply_fn"):
        jaxlr.optim.natural_gradient(1.0, "model")
    with pytest.raises(TypeError, match="learning_rate=None"):
        jaxlr.optim.natural_gradient(None, linear_apply)
    with pytest.raises(ValueError, match=re.escape("decay=1.0")):
        jaxlr.optim.diagonal_natural_gradient(0.1, linear_apply, decay=1.0)
    params, batch = _logistic_problem()
    opt = jaxlr.optim.natural_gradient(1.0, linear_apply)
    with pytest.raises(TypeError, match=re.escape("batch=None")):
        opt.update(params, opt.init(params), params)
    with pytest.raises(TypeError, match=re.escape("params=None")):
        opt.update(params, opt.init(params), batch=batch)
