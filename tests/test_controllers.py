"""Tests for jaxlr.controllers: reduce-on-plateau, early stopping and the optax adapter."""

import math
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
from jaxlr.controllers import EarlyStoppingState, PlateauState, simulate

# ------------------------------------------------------------------------------------------------
# Plain-Python references of the peers' semantics (written from their documented code paths).
# ------------------------------------------------------------------------------------------------


def torch_plateau_ref(metrics, *, lr=1.0, factor=0.1, patience=10, threshold=1e-4,
                      threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8, mode="min"):
    """torch.optim.lr_scheduler.ReduceLROnPlateau.step, lr after each step."""
    best = math.inf if mode == "min" else -math.inf
    num_bad, cd, out = 0, 0, []
    for a in metrics:
        a = float(a)
        if mode == "min":
            better = a < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
        else:
            better = a > (best * (1 + threshold) if threshold_mode == "rel" else best + threshold)
        if better:
            best, num_bad = a, 0
        else:
            num_bad += 1
        if cd > 0:
            cd -= 1
            num_bad = 0
        if num_bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > eps:
                lr = new
            cd, num_bad = cooldown, 0
        out.append(lr)
    return out


def keras_plateau_ref(metrics, *, lr=1.0, factor=0.1, patience=10, min_delta=1e-4, cooldown=0,
                      min_lr=0.0, mode="min"):
    """keras.callbacks.ReduceLROnPlateau.on_epoch_end, lr after each epoch."""
    best = math.inf if mode == "min" else -math.inf
    wait, cd, out = 0, 0, []
    for a in metrics:
        a = float(a)
        if cd > 0:
            cd -= 1
            wait = 0
        better = a < best - min_delta if mode == "min" else a > best + min_delta
        if better:
            best, wait = a, 0
        elif not cd > 0:
            wait += 1
            if wait >= patience and lr > min_lr:
                lr = max(lr * factor, min_lr)
                cd, wait = cooldown, 0
        out.append(lr)
    return out


def keras_early_stopping_ref(metrics, *, patience, min_delta=0.0, mode="min", baseline=None,
                             start_from=0):
    """keras.callbacks.EarlyStopping.on_epoch_end: (stop flags, best epoch) per epoch."""
    sign = -1.0 if mode == "min" else 1.0
    best = math.inf if mode == "min" else -math.inf
    wait, best_epoch, stopped, out = 0, -1, False, []

    def improves(a, ref):
        a = a - sign * abs(min_delta)
        return a < ref if mode == "min" else a > ref

    for epoch, a in enumerate(metrics):
        a = float(a)
        if not stopped and epoch >= start_from:
            wait += 1
            if improves(a, best):
                best, best_epoch = a, epoch
                if baseline is None or improves(a, baseline):
                    wait = 0
            elif wait >= patience and epoch > 0:
                stopped = True
        out.append((stopped, best_epoch))
    return out


UPSTREAM_METRICS = [10 - 0.0165 * i for i in range(22)]
UPSTREAM_LR = [0.5] * 6 + [0.05] * 7 + [0.005] * 7 + [0.0005] * 2

# Metric sequences with ties, plateaus and non-finite values (small integer grid: exact in f32).
# A fixed length keeps the number of compiled programs small.
metric_seqs = st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), min_size=16,
                       max_size=16)


# ------------------------------------------------------------------------------------------------
# Reduce on plateau: peer parity
# ------------------------------------------------------------------------------------------------


def test_plateau_reproduces_pytorch_upstream_vector(maybe_jit):
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.1, patience=5, threshold=0.1, threshold_mode="abs")
    run = maybe_jit(lambda m: simulate(ctrl, m))
    states = run(jnp.asarray(UPSTREAM_METRICS, jnp.float32))
    np.testing.assert_allclose(0.5 * np.asarray(states.scale), UPSTREAM_LR, rtol=1e-6)
    assert states.reduced.tolist() == [i in (6, 13, 20) for i in range(22)]
    assert states.num_reductions[-1] == 3
    assert states.last_reduction[-1] == 20
    assert states.count[-1] == 22
    # The reference implementation agrees with the upstream vector too.
    np.testing.assert_allclose(torch_plateau_ref(UPSTREAM_METRICS, lr=0.5, patience=5,
                                                 threshold=0.1, threshold_mode="abs"),
                               UPSTREAM_LR, rtol=1e-12)


@given(metrics=metric_seqs, patience=st.integers(0, 3), cooldown=st.integers(0, 3),
       threshold_mode=st.sampled_from(["rel", "abs"]), mode=st.sampled_from(["min", "max"]))
def test_plateau_matches_torch_semantics(metrics, patience, cooldown, threshold_mode, mode):
    # Positive metrics: the sign-correct threshold equals PyTorch's there.
    metrics = [m + 1.0 for m in metrics]
    kw = dict(factor=0.5, patience=patience, threshold=0.25, threshold_mode=threshold_mode,
              cooldown=cooldown, mode=mode)
    states = simulate(jaxlr.controllers.reduce_on_plateau(min_scale=0.1, **kw),
                      jnp.asarray(metrics, jnp.float32))
    np.testing.assert_allclose(states.scale, torch_plateau_ref(metrics, min_lr=0.1, **kw),
                               rtol=1e-6)


@given(metrics=metric_seqs, patience=st.integers(0, 3), cooldown=st.integers(0, 3),
       mode=st.sampled_from(["min", "max"]))
def test_plateau_keras_convention_matches_keras(metrics, patience, cooldown, mode):
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=patience, threshold=0.5,
                                   threshold_mode="abs", cooldown=cooldown, min_scale=0.1,
                                   mode=mode, patience_convention="keras")
    states = simulate(ctrl, jnp.asarray(metrics, jnp.float32))
    want = keras_plateau_ref(metrics, factor=0.5, patience=patience, min_delta=0.5,
                             cooldown=cooldown, min_lr=0.1, mode=mode)
    np.testing.assert_allclose(states.scale, want, rtol=1e-6)


@given(metrics=metric_seqs, patience=st.integers(1, 3), cooldown=st.integers(1, 3))
def test_keras_count_is_torch_with_one_less(metrics, patience, cooldown):
    # The documented mapping: Keras (p, c) == PyTorch (p - 1, c - 1) before the floor is reached.
    keras = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=patience, cooldown=cooldown,
                                   threshold_mode="abs", threshold=0.5,
                                   patience_convention="keras")
    torch = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=patience - 1, cooldown=cooldown - 1,
                                   threshold_mode="abs", threshold=0.5)
    m = jnp.asarray(metrics, jnp.float32)
    np.testing.assert_array_equal(simulate(keras, m).scale, simulate(torch, m).scale)


@pytest.mark.slow  # imports torch
def test_plateau_matches_real_pytorch_scheduler():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    metrics = np.round(np.cumsum(rng.normal(0.0, 1.0, 60)) + 100.0, 2).astype(np.float32)
    kw = dict(factor=0.3, patience=2, threshold=1e-3, cooldown=1)
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=2.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, min_lr=0.01, **kw)
    want = []
    for m in metrics:
        opt.step()
        sched.step(float(m))
        want.append(opt.param_groups[0]["lr"])
    ctrl = jaxlr.controllers.reduce_on_plateau(min_lr=0.01, base_lr=2.0, **kw)
    got = 2.0 * np.asarray(simulate(ctrl, jnp.asarray(metrics)).scale)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert got[-1] == pytest.approx(0.01, rel=1e-5)  # the floor was reached


@pytest.mark.standard_promotion  # optax.contrib.reduce_on_plateau is not strict-clean
def test_optax_counts_like_keras():
    # optax.contrib.reduce_on_plateau reduces when its plateau count reaches `patience`.
    tx = optax.contrib.reduce_on_plateau(factor=0.5, patience=3, rtol=0.0, atol=0.5)
    state = tx.init(jnp.zeros(()))
    ours = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=3, threshold=0.5, threshold_mode="abs",
                                   patience_convention="keras")
    metrics = jnp.asarray([5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0], jnp.float32)

    def step(s, m):
        s = tx.update(jnp.zeros(()), s, value=m)[1]
        return s, s.scale

    optax_scales = jax.jit(lambda s, ms: jax.lax.scan(step, s, ms)[1])(state, metrics)
    np.testing.assert_allclose(simulate(ours, metrics).scale, optax_scales)


# ------------------------------------------------------------------------------------------------
# Reduce on plateau: behaviour
# ------------------------------------------------------------------------------------------------


def test_negative_metric_plateau_is_detected():
    # A log-likelihood creeping by 5e-4 per evaluation around -10: insignificant at rel 1e-2.
    metrics = -10.0 - 5e-4 * np.arange(8)
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=2, threshold=1e-2)
    states = simulate(ctrl, jnp.asarray(metrics, jnp.float32))
    np.testing.assert_allclose(states.scale, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])
    assert float(states.best[-1]) == -10.0
    # PyTorch's `best * (1 - threshold)` counts every one of them as an improvement.
    assert torch_plateau_ref(metrics, factor=0.5, patience=2, threshold=1e-2) == [1.0] * 8


def test_metric_crossing_zero():
    # Significant decreases all the way through zero, then a plateau just below the last best.
    metrics = [1.0, 0.5, 0.0, -0.5, -1.0, -1.05, -1.05, -1.05]
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=1, threshold=0.1)
    states = simulate(ctrl, jnp.asarray(metrics, jnp.float32))
    # -1.05 is not < -1.0 - 0.1 * 1.0: bad; 0.0 beats 0.5 - 0.05; -0.5 beats best=0 (margin 0).
    np.testing.assert_allclose(states.best, [1.0, 0.5, 0.0, -0.5, -1.0, -1.0, -1.0, -1.0])
    np.testing.assert_array_equal(states.num_bad, [0, 0, 0, 0, 0, 1, 0, 1])
    np.testing.assert_allclose(states.scale, [1, 1, 1, 1, 1, 1, 0.5, 0.5])


@given(metrics=st.lists(st.floats(-50, 50, width=32), min_size=12, max_size=12),
       threshold_mode=st.sampled_from(["rel", "abs"]))
def test_max_mode_mirrors_min_mode(metrics, threshold_mode):
    kw = dict(factor=0.5, patience=1, threshold=0.05, threshold_mode=threshold_mode)
    m = jnp.asarray(metrics, jnp.float32)
    lo = simulate(jaxlr.controllers.reduce_on_plateau(mode="min", **kw), -m)
    hi = simulate(jaxlr.controllers.reduce_on_plateau(mode="max", **kw), m)
    np.testing.assert_array_equal(lo.scale, hi.scale)
    np.testing.assert_array_equal(-lo.best, hi.best)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_metric_is_bad_and_never_best(bad):
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=1)
    states = simulate(ctrl, jnp.asarray([2.0, bad, bad, 1.0], jnp.float32))
    np.testing.assert_array_equal(states.best, [2.0, 2.0, 2.0, 1.0])
    np.testing.assert_array_equal(states.num_bad, [0, 1, 0, 0])
    np.testing.assert_allclose(states.scale, [1.0, 1.0, 0.5, 0.5])
    # Before any finite metric, best stays at the worst value.
    first = jax.jit(ctrl.update)(ctrl.init(), jnp.float32(bad))
    assert float(first.best) == np.inf and int(first.num_bad) == 1


def test_cooldown_follows_pytorch():
    # patience=0: reduce at every bad evaluation outside cooldown; cooldown=2 ignores two.
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0, cooldown=2)
    states = simulate(ctrl, jnp.full((8,), 1.0, jnp.float32))
    np.testing.assert_allclose(states.scale, [1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125])
    np.testing.assert_array_equal(states.cooldown, [0, 2, 1, 0, 2, 1, 0, 2])
    np.testing.assert_allclose(states.scale, torch_plateau_ref([1.0] * 8, factor=0.5, patience=0,
                                                               cooldown=2))


def test_floor_and_eps():
    ones = jnp.ones((6,), jnp.float32)
    s = simulate(jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0, min_scale=0.3), ones)
    np.testing.assert_allclose(s.scale, [1, 0.5, 0.3, 0.3, 0.3, 0.3])
    assert s.reduced.tolist() == [False, True, True, False, False, False]
    # min_lr in rate units with base_lr: floor = 0.03 / 0.1.
    s = simulate(jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0, min_lr=0.03, base_lr=0.1), ones)
    np.testing.assert_allclose(s.scale[-1], 0.3, rtol=1e-6)
    # A reduction smaller than eps is skipped (eps in rate units with base_lr).
    s = simulate(jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0, eps=0.2, base_lr=0.5), ones)
    np.testing.assert_allclose(s.scale, [1, 0.5, 0.5, 0.5, 0.5, 0.5])


@given(metrics=st.lists(st.one_of(st.floats(-1e3, 1e3, width=32), st.just(float("nan"))),
                        min_size=12, max_size=12),
       factor=st.floats(0.05, 0.95), patience=st.integers(0, 3), min_scale=st.floats(0, 0.5))
def test_scale_never_increases_and_respects_floor(metrics, factor, patience, min_scale):
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=factor, patience=patience, min_scale=min_scale)
    scale = np.asarray(simulate(ctrl, jnp.asarray(metrics, jnp.float32)).scale)
    assert np.all(np.diff(np.concatenate([[1.0], scale])) <= 0)
    assert np.all(scale >= np.float32(min_scale) * (1 - 1e-6)) or np.all(scale == 1.0)


# ------------------------------------------------------------------------------------------------
# Compile once, vmap, lanes
# ------------------------------------------------------------------------------------------------


def test_plateau_hyperparameter_changes_do_not_retrace():
    chex.clear_trace_counter()
    ctrl = jaxlr.controllers.reduce_on_plateau()
    update = jax.jit(chex.assert_max_traces(ctrl.update, n=1))
    for kw in [dict(factor=0.1), dict(factor=0.5, patience=3), dict(threshold=0.2, cooldown=4),
               dict(min_scale=0.01, eps=0.0), dict(min_lr=1e-4, base_lr=1e-2)]:
        state = jaxlr.controllers.reduce_on_plateau(**kw).init()
        update(state, jnp.float32(1.0))
        update(state, jnp.float32(2.0))


def test_early_stopping_hyperparameter_changes_do_not_retrace():
    chex.clear_trace_counter()
    ctrl = jaxlr.early_stopping(patience=1)
    update = jax.jit(chex.assert_max_traces(ctrl.update, n=1))
    for kw in [dict(patience=2), dict(patience=5, min_delta=0.1), dict(patience=0, baseline=3.0),
               dict(patience=3, start_from=2)]:
        update(jaxlr.early_stopping(**kw).init(), jnp.float32(1.0))


PLATEAU_VALUES = {
    "factor": (0.5, 0.25), "patience": (0, 2), "threshold": (0.0, 0.3), "cooldown": (0, 2),
    "min_scale": (0.0, 0.4), "eps": (1e-8, 0.6),
}
PLATEAU_METRICS = jnp.asarray([5.0, 4.0, 3.9, 3.9, 3.9, 3.8, 3.8, 3.8, 3.8, 3.8], jnp.float32)


PLATEAU_BASE = dict(factor=0.5, patience=1, threshold=0.01, cooldown=0, min_scale=0.0, eps=1e-8)
_INT_ARGS = ("patience", "cooldown")


def test_plateau_vmap_over_each_argument():
    # One vmapped program: lanes (2j, 2j+1) give argument j its two values (others at the base
    # values); each lane equals a solo run (one jitted scalar program called per lane).
    names = sorted(PLATEAU_VALUES)
    lanes = [{**PLATEAU_BASE, name: v} for name in names for v in PLATEAU_VALUES[name]]

    def run(kw):
        return simulate(jaxlr.controllers.reduce_on_plateau(**kw), PLATEAU_METRICS).scale

    def as_arrays(kw):
        return {k: jnp.asarray(v, jnp.int32 if k in _INT_ARGS else jnp.float32)
                for k, v in kw.items()}

    batched = jax.tree.map(lambda *x: jnp.stack(x), *[as_arrays(kw) for kw in lanes])
    got = np.asarray(jax.jit(jax.vmap(run))(batched))
    solo = jax.jit(run)
    for i, kw in enumerate(lanes):
        np.testing.assert_allclose(got[i], solo(as_arrays(kw)), rtol=1e-6, err_msg=str(kw))
    # the two values of each argument behave differently (so each argument is really used),
    # and a Python-float build (validated, eager) agrees with the traced build
    for j, name in enumerate(names):
        assert not np.array_equal(got[2 * j], got[2 * j + 1]), name
    np.testing.assert_allclose(got[1], run(lanes[1]), rtol=1e-6)


def test_plateau_min_lr_and_base_lr_traced():
    def final(min_lr, base_lr):
        ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0, min_lr=min_lr, base_lr=base_lr)
        return simulate(ctrl, jnp.ones((8,), jnp.float32)).scale[-1]

    got = jax.vmap(final)(jnp.asarray([0.01, 0.05]), jnp.asarray([0.1, 0.1]))
    np.testing.assert_allclose(got, [0.1, 0.5], rtol=1e-6)


def test_lanes_are_independent():
    # One lane sees NaNs and reduces; the other lane is unaffected and equals its solo run.
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0)
    metrics = jnp.asarray([[3.0, 2.0, 1.0, 0.5], [3.0, jnp.nan, jnp.nan, jnp.nan]], jnp.float32)
    states = jax.vmap(lambda m: simulate(ctrl, m))(metrics)
    np.testing.assert_allclose(states.scale[0], [1, 1, 1, 1])
    np.testing.assert_allclose(states.scale[1], [1, 0.5, 0.25, 0.125])
    solo = simulate(ctrl, metrics[0])
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[0], states), solo)


def test_vmap_over_stacked_states_from_different_controllers():
    # Stacking init() states of differently-configured controllers is another way to sweep.
    states = [jaxlr.controllers.reduce_on_plateau(factor=f, patience=p).init()
              for f, p in [(0.5, 0), (0.1, 1), (0.9, 2)]]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *states)
    ctrl = jaxlr.controllers.reduce_on_plateau()
    out = jax.vmap(lambda s: simulate(ctrl, jnp.ones((4,), jnp.float32), s))(stacked)
    np.testing.assert_allclose(out.scale[:, -1], [0.125, 0.1, 0.9])


def test_state_dtypes_and_shapes():
    s = jaxlr.controllers.reduce_on_plateau().init()
    assert isinstance(s, PlateauState)
    assert s.scale.dtype == jnp.float32 and s.best.dtype == jnp.float32
    for f in (s.num_bad, s.cooldown, s.num_reductions, s.last_reduction, s.count):
        assert f.dtype == jnp.int32 and f.shape == ()
    assert s.reduced.dtype == jnp.bool_
    s2 = jax.jit(jaxlr.controllers.reduce_on_plateau().update)(s, jnp.float64(1.0) if jax.config.x64_enabled
                                                   else 1.0)
    chex.assert_trees_all_equal_dtypes(s, s2)
    e = jaxlr.early_stopping(patience=2).init()
    assert isinstance(e, EarlyStoppingState)
    e2 = jax.jit(jaxlr.early_stopping(patience=2).update)(e, jnp.asarray(1, jnp.int32))
    chex.assert_trees_all_equal_dtypes(e, e2)


def test_init_states_have_distinct_buffers():
    # make_train_step donates its TrainState (controller states included): no buffer twice.
    for ctrl in (jaxlr.controllers.reduce_on_plateau(), jaxlr.early_stopping(patience=2)):
        leaves = jax.tree.leaves(ctrl.init())
        assert len({x.unsafe_buffer_pointer() for x in leaves}) == len(leaves)


def test_controller_attributes():
    p = jaxlr.controllers.reduce_on_plateau(mode="max")
    e = jaxlr.early_stopping(patience=3, restore_best=False)
    assert (p.mode, p.restore_best, p.kind) == ("max", False, "plateau")
    assert (e.mode, e.restore_best, e.kind) == ("min", False, "early_stopping")
    assert jaxlr.early_stopping(patience=3).restore_best is True
    # one update function per static configuration, so equal configurations share jit caches
    assert jaxlr.controllers.reduce_on_plateau(factor=0.5).update is jaxlr.controllers.reduce_on_plateau().update
    assert jaxlr.controllers.reduce_on_plateau(mode="max").update is not jaxlr.controllers.reduce_on_plateau().update
    assert jaxlr.early_stopping(patience=1).update is jaxlr.early_stopping(patience=9).update


# ------------------------------------------------------------------------------------------------
# Early stopping
# ------------------------------------------------------------------------------------------------


@given(metrics=metric_seqs, patience=st.integers(0, 4), mode=st.sampled_from(["min", "max"]),
       min_delta=st.sampled_from([0.0, 0.5, 1.5]),
       baseline=st.sampled_from([None, 2.5]), start_from=st.integers(0, 3))
def test_early_stopping_matches_keras(metrics, patience, mode, min_delta, baseline, start_from):
    ctrl = jaxlr.early_stopping(patience=patience, min_delta=min_delta, mode=mode,
                                baseline=baseline, start_from=start_from)
    states = simulate(ctrl, jnp.asarray(metrics, jnp.float32))
    want = keras_early_stopping_ref(metrics, patience=patience, min_delta=min_delta, mode=mode,
                                    baseline=baseline, start_from=start_from)
    assert states.stop.tolist() == [w[0] for w in want]
    assert states.best_step.tolist() == [w[1] for w in want]


def test_early_stopping_basic_sequence(maybe_jit):
    ctrl = jaxlr.early_stopping(patience=2, min_delta=0.1)
    run = maybe_jit(lambda m: simulate(ctrl, m))
    # 1.95 is not an improvement over 2.0 by more than min_delta.
    s = run(jnp.asarray([3.0, 2.0, 1.95, 2.5, 0.0, 0.0], jnp.float32))
    assert s.stop.tolist() == [False, False, False, True, True, True]
    assert s.improved.tolist() == [True, True, False, False, False, False]
    # Frozen after stopping: the later 0.0 is not recorded.
    np.testing.assert_array_equal(s.best, [3.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    np.testing.assert_array_equal(s.best_step, [0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(s.count, [1, 2, 3, 4, 4, 4])


def test_early_stopping_nan_never_best():
    ctrl = jaxlr.early_stopping(patience=2)
    s = simulate(ctrl, jnp.asarray([jnp.nan, 1.0, jnp.nan, jnp.inf], jnp.float32))
    np.testing.assert_array_equal(s.best_step, [-1, 1, 1, 1])
    np.testing.assert_array_equal(s.best, [np.inf, 1.0, 1.0, 1.0])
    assert s.stop.tolist() == [False, False, False, True]


def test_early_stopping_max_mode():
    ctrl = jaxlr.early_stopping(patience=1, mode="max")
    s = simulate(ctrl, jnp.asarray([0.1, 0.5, 0.4], jnp.float32))
    assert s.stop.tolist() == [False, False, True]
    assert int(s.best_step[-1]) == 1


def test_early_stopping_lanes_stop_independently():
    def run(patience, metrics):
        return simulate(jaxlr.early_stopping(patience=patience), metrics)

    metrics = jnp.asarray([[3.0, 2.0, 2.0, 2.0, 2.0], [3.0, 2.0, 1.0, 0.5, 0.1]], jnp.float32)
    s = jax.vmap(run)(jnp.asarray([1, 1], jnp.int32), metrics)
    assert s.stop[:, -1].tolist() == [True, False]
    np.testing.assert_array_equal(s.best_step[:, -1], [1, 4])
    # vmap over patience alone: larger patience stops later
    s = jax.vmap(run, in_axes=(0, None))(jnp.asarray([1, 3], jnp.int32), metrics[0])
    assert s.stop.tolist() == [[False, False, True, True, True], [False] * 4 + [True]]


def test_early_stopping_vmap_over_min_delta_baseline_start_from():
    metrics = jnp.asarray([3.0, 2.5, 2.4, 2.4, 2.3, 2.3], jnp.float32)

    def stop_at(min_delta, baseline, start_from):
        s = simulate(jaxlr.early_stopping(patience=2, min_delta=min_delta, baseline=baseline,
                                          start_from=start_from), metrics)
        return jnp.where(jnp.any(s.stop), jnp.argmax(s.stop), -1)

    got = jax.vmap(stop_at)(jnp.asarray([0.0, 0.2, 0.0, 0.0]), jnp.asarray([9.0, 9.0, 2.0, 9.0]),
                            jnp.asarray([0, 0, 0, 2], jnp.int32))
    # Plain: never two bad evaluations in a row. min_delta=0.2: 2.4 and 2.4 are not significant.
    # baseline=2.0 is never beaten, so improvements do not reset the count: stop at the first
    # bad evaluation once 2 have passed. start_from=2 ignores the first two evaluations.
    np.testing.assert_array_equal(got, [-1, 3, 3, -1])


# ------------------------------------------------------------------------------------------------
# Optax adapter
# ------------------------------------------------------------------------------------------------


def test_plateau_transform_scales_updates_in_a_chain(maybe_jit):
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0)
    tx = optax.chain(optax.sgd(0.1), jaxlr.controllers.plateau_transform(ctrl))
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    assert any(isinstance(s, PlateauState) for s in state)
    step = maybe_jit(lambda g, s, v: tx.update(g, s, params, value=v))
    grads = {"w": jnp.ones(3)}
    scales = []
    for v in [1.0, 1.0, 0.5, 0.5]:
        upd, state = step(grads, state, jnp.float32(v))
        scales.append(float(-upd["w"][0] / 0.1))
    np.testing.assert_allclose(scales, [1.0, 0.5, 0.5, 0.25], rtol=1e-6)


def test_plateau_transform_without_value_keeps_scale():
    ctrl = jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=0)
    tx = jaxlr.controllers.plateau_transform(ctrl)
    state = ctrl.init()._replace(scale=jnp.float32(0.25))
    upd, new = jax.jit(tx.update)({"w": jnp.ones(2, jnp.bfloat16)}, state)
    assert upd["w"].dtype == jnp.bfloat16
    np.testing.assert_allclose(upd["w"].astype(jnp.float32), [0.25, 0.25])
    chex.assert_trees_all_equal(new, state)


@pytest.mark.standard_promotion  # optax.contrib.reduce_on_plateau is not strict-clean
def test_plateau_transform_matches_optax_with_keras_count():
    metrics = [3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0]
    ours = jaxlr.controllers.plateau_transform(jaxlr.controllers.reduce_on_plateau(
        factor=0.5, patience=2, threshold=0.5, threshold_mode="abs",
        patience_convention="keras"))
    ref = optax.contrib.reduce_on_plateau(factor=0.5, patience=2, rtol=0.0, atol=0.5)

    def run(tx):
        def step(s, m):
            u, s = tx.update(jnp.ones(2), s, value=m)
            return s, u

        return jax.jit(lambda ms: jax.lax.scan(step, tx.init(jnp.zeros(2)), ms)[1])(
            jnp.asarray(metrics, jnp.float32))

    np.testing.assert_allclose(run(ours), run(ref))


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, error, text", [
    (dict(factor=1.0), ValueError, "factor=1.0"),
    (dict(factor=0.0), ValueError, "factor=0.0"),
    (dict(factor=-0.5), ValueError, "(0, 1)"),
    (dict(patience=-1), ValueError, "patience=-1"),
    (dict(patience=2.0), TypeError, "patience=2"),
    (dict(cooldown=-3), ValueError, "cooldown=-3"),
    (dict(mode="auto"), ValueError, "mode='auto'"),
    (dict(threshold_mode="relative"), ValueError, "threshold_mode='relative'"),
    (dict(patience_convention="tf"), ValueError, "patience_convention='tf'"),
    (dict(threshold=-0.1), ValueError, "threshold=-0.1"),
    (dict(min_scale=-1.0), ValueError, "min_scale=-1.0"),
    (dict(min_lr=1e-5), ValueError, "base_lr=None"),
    (dict(min_lr=1e-5, base_lr=0.0), ValueError, "base_lr=0.0"),
    (dict(factor="0.1"), TypeError, "factor='0.1'"),
    (dict(factor=np.array([0.1, 0.2])), ValueError, "scalar"),
])
def test_plateau_bad_input(kw, error, text):
    with pytest.raises(error, match=re.escape(text)) as e:
        jaxlr.controllers.reduce_on_plateau(**kw)
    assert str(e.value).startswith("reduce_on_plateau:")


@pytest.mark.parametrize("kw, error, text", [
    (dict(patience=-1), ValueError, "patience=-1"),
    (dict(patience=1, min_delta=-0.1), ValueError, "min_delta=-0.1"),
    (dict(patience=1, mode="maximum"), ValueError, "mode='maximum'"),
    (dict(patience=1, restore_best="yes"), TypeError, "restore_best='yes'"),
    (dict(patience=1, baseline=float("nan")), ValueError, "baseline=nan"),
    (dict(patience=1, start_from=-2), ValueError, "start_from=-2"),
])
def test_early_stopping_bad_input(kw, error, text):
    with pytest.raises(error, match=re.escape(text)) as e:
        jaxlr.early_stopping(**kw)
    assert str(e.value).startswith("early_stopping:")


def test_early_stopping_requires_patience():
    with pytest.raises(TypeError):
        jaxlr.early_stopping()  # patience has no default: it is the one required decision


def test_adapter_and_simulate_reject_wrong_controller():
    with pytest.raises(TypeError, match="reduce_on_plateau"):
        jaxlr.controllers.plateau_transform(jaxlr.early_stopping(patience=1))
    with pytest.raises(TypeError, match="Controller"):
        simulate(lambda s, m: s, jnp.ones(3))
    with pytest.raises(ValueError, match=re.escape("(2, 2)")):
        simulate(jaxlr.early_stopping(patience=1), jnp.ones((2, 2)))


def test_traced_arguments_skip_build_time_validation():
    # Inside jit the values are unknown at build time: no error, the state carries them.
    @jax.jit
    def f(factor, patience):
        return jaxlr.controllers.reduce_on_plateau(factor=factor, patience=patience).init().hparams

    hp = f(jnp.float32(0.3), jnp.int32(4))
    assert float(hp.factor) == pytest.approx(0.3) and int(hp.patience) == 4
