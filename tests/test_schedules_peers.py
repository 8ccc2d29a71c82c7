"""Conformance of jaxlr schedules to their peers (PyTorch, Keras, HF, optax), exact integer
structure at large steps, and optax interop."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxlr

INT32_MAX = 2**31 - 1


def values(schedule, n_or_steps):
    """Schedule values at steps (or range(n)); steps are padded to 128 so that calls of the
    same schedule structure share one compiled program."""
    steps = np.arange(n_or_steps) if np.isscalar(n_or_steps) else np.asarray(n_or_steps)
    padded = np.zeros(max(128, len(steps)), np.int32)
    padded[:len(steps)] = steps
    return np.asarray(schedule(padded), dtype=np.float64)[:len(steps)]


def close(got, want, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(got, np.asarray(want, dtype=np.float64), rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------
# The issue's test vectors.
# ----------------------------------------------------------------------------------------------


def test_issue_vectors(maybe_jit):
    onecycle = jaxlr.one_cycle(25.0, total_steps=10, anneal="linear", final_div_factor=2.0)
    close(jax.vmap(maybe_jit(onecycle))(jnp.arange(10)),
          [1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5])
    cyc = jaxlr.cyclic(1.0, 5.0, 4, mode="triangular2")
    close(jax.vmap(maybe_jit(cyc))(jnp.arange(22)),
          [1, 2, 3, 4, 5, 4, 3, 2, 1, 1.5, 2, 2.5, 3, 2.5, 2, 1.5, 1, 1.25, 1.5, 1.75, 2, 1.75])
    keras = jaxlr.cosine_restarts(1.0, 10, period_mult=2)
    close(maybe_jit(keras)(jnp.array([0, 5, 9, 10, 20, 29, 30, 70])),
          [1, .5, .0245, 1, .5, .0062, 1, 1], rtol=0, atol=5e-5)  # vector rounded in the issue
    hf = jaxlr.warmup(jaxlr.linear(10.0, 0.0, 8), 2)
    close(maybe_jit(hf)(jnp.arange(10)), [0, 5, 10, 8.75, 7.5, 6.25, 5, 3.75, 2.5, 1.25])


# ----------------------------------------------------------------------------------------------
# PyTorch (closed forms and the recursive rules, re-implemented here in float64).
# ----------------------------------------------------------------------------------------------


def torch_onecycle(max_lr, total, pct, anneal, three_phase, div=25.0, final_div=1e4,
                   base_m=0.85, max_m=0.95):
    initial = max_lr / div
    min_lr = initial / final_div
    if three_phase:
        phases = [(float(pct * total) - 1, initial, max_lr, max_m, base_m),
                  (float(2 * pct * total) - 2, max_lr, initial, base_m, max_m),
                  (total - 1, initial, min_lr, max_m, max_m)]
    else:
        phases = [(float(pct * total) - 1, initial, max_lr, max_m, base_m),
                  (total - 1, max_lr, min_lr, base_m, max_m)]

    def ann(start, end, p):
        if anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * p) + 1)
        return (end - start) * p + start

    lrs, moms = [], []
    for step in range(total):
        start_step = 0
        for i, (end_step, a, b, ma, mb) in enumerate(phases):
            if step <= end_step or i == len(phases) - 1:
                p = (step - start_step) / (end_step - start_step)
                lrs.append(ann(a, b, p))
                moms.append(ann(ma, mb, p))
                break
            start_step = end_step
    return lrs, moms


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("total,pct", [(10, 0.3), (15, 0.3), (37, 0.77), (100, 0.25)])
def test_pytorch_onecycle(anneal, three_phase, total, pct):
    s = jaxlr.one_cycle(2.0, total, pct_start=pct, anneal=anneal, three_phase=three_phase,
                        final_div_factor=100.0, cycle_momentum=True)
    lrs, moms = torch_onecycle(2.0, total, pct, anneal, three_phase, final_div=100.0)
    close(values(s, total), lrs, rtol=2e-6)
    close(values(s.momentum_schedule(), total), moms, rtol=2e-6)
    assert float(s(total + 5)) == pytest.approx(lrs[-1], rel=1e-6)  # clamps beyond T - 1


def torch_cyclic(base, top, up, down, mode, gamma, n, base_m=0.8, max_m=0.9):
    total = up + down
    ratio = up / total
    lrs, moms = [], []
    for e in range(n):
        cycle = math.floor(1 + e / total)
        x = 1.0 + e / total - cycle
        sf = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if mode == "triangular":
            amp = 1.0
        elif mode == "triangular2":
            amp = 1 / (2.0 ** (cycle - 1))
        else:
            amp = gamma**e
        lrs.append(base + (top - base) * sf * amp)
        moms.append(max_m - (max_m - base_m) * sf * amp)
    return lrs, moms


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_pytorch_cyclic(mode):
    s = jaxlr.cyclic(0.1, 1.0, 3, 5, mode=mode, gamma=0.97, cycle_momentum=True)
    lrs, moms = torch_cyclic(0.1, 1.0, 3, 5, mode, 0.97, 40)
    close(values(s, 40), lrs)
    close(values(s.momentum_schedule(), 40), moms)
    assert jaxlr.cyclic(0.1, 1.0, 3).momentum_schedule() is None


def torch_warm_restarts(t0, t_mult, eta_min, n, base=1.0):
    out, t_cur, t_i = [], 0, t0
    for _ in range(n):
        out.append(eta_min + (base - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
        t_cur += 1
        if t_cur >= t_i:
            t_cur -= t_i
            t_i *= t_mult
    return out


@pytest.mark.parametrize("t0,t_mult", [(3, 1), (3, 2), (2, 3)])
def test_pytorch_cosine_warm_restarts(t0, t_mult):
    s = jaxlr.cosine_restarts(1.0, t0, period_mult=t_mult, end_value=0.05)
    close(values(s, 120), torch_warm_restarts(t0, t_mult, 0.05, 120), rtol=1e-5)


def test_pytorch_closed_forms():
    t = np.arange(40)
    close(values(jaxlr.step_decay(1.0, 4, 0.5), 40), 0.5 ** (t // 4))
    close(values(jaxlr.multistep_decay(1.0, [3, 3, 8], 0.5), 40),
          0.5 ** ((t >= 3) * 2 + (t >= 8)))
    close(values(jaxlr.exponential_decay(1.0, 0.9), 40), 0.9**t, rtol=1e-5)
    close(values(jaxlr.polynomial_decay(1.0, 0.0, 9, power=2.0), 40),
          (1 - np.minimum(t, 9) / 9) ** 2)
    close(values(jaxlr.linear(0.25, 1.0, 6), 40), 0.25 + 0.75 * np.minimum(t, 6) / 6)
    # CosineAnnealingLR: periodic=True reproduces its rise after T_max; default clamps.
    periodic = 0.1 + 0.9 * (1 + np.cos(np.pi * t / 7)) / 2
    close(values(jaxlr.cosine_decay(1.0, 7, end_value=0.1, periodic=True), 40), periodic,
          rtol=1e-5)
    close(values(jaxlr.cosine_decay(1.0, 7, end_value=0.1), 40),
          np.where(t <= 7, periodic, 0.1), rtol=1e-5)
    # SequentialLR: schedule i sees step - milestone
    seq = jaxlr.join([jaxlr.linear(0.1, 1.0, 3), jaxlr.exponential_decay(1.0, 0.9)], [5])
    close(values(seq, 40), np.where(t < 5, 0.1 + 0.9 * np.minimum(t, 3) / 3,
                                    0.9 ** np.maximum(t - 5, 0)), rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# Keras and HF.
# ----------------------------------------------------------------------------------------------


def keras_cosine_restarts(lr, first, t_mul, m_mul, alpha, steps):
    out = []
    for step in steps:
        frac = step / first
        if t_mul == 1:
            i = math.floor(frac)
            frac -= i
        else:
            i = math.floor(math.log(1 - frac * (1 - t_mul)) / math.log(t_mul))
            sum_r = (1 - t_mul**i) / (1 - t_mul)
            frac = (frac - sum_r) / t_mul**i
        cos = 0.5 * m_mul**i * (1 + math.cos(math.pi * frac))
        out.append(lr * ((1 - alpha) * cos + alpha))
    return out


def test_keras():
    t = np.arange(60)
    close(values(jaxlr.cosine_restarts(2.0, 5, period_mult=2, peak_decay=0.7, end_value=0.2), t),
          keras_cosine_restarts(2.0, 5, 2.0, 0.7, 0.1, t), rtol=1e-5)
    close(values(jaxlr.exponential_decay(2.0, 0.5, 4, staircase=True), t), 2.0 * 0.5 ** (t // 4))
    close(values(jaxlr.exponential_decay(2.0, 0.5, 4), t), 2.0 * 0.5 ** (t / 4), rtol=1e-5)
    close(values(jaxlr.inverse_time_decay(2.0, 0.5, 4), t), 2.0 / (1 + 0.5 * t / 4))
    close(values(jaxlr.inverse_time_decay(2.0, 0.5, 4, staircase=True), t),
          2.0 / (1 + 0.5 * (t // 4)))
    # PolynomialDecay(cycle=True): decay_steps *= ceil(step / decay_steps) (1 at step 0)
    mult = np.where(t == 0, 1, np.ceil(t / 7))
    close(values(jaxlr.polynomial_decay(1.0, 0.1, 7, power=2.0, cycle=True), t),
          0.9 * (1 - t / (7 * mult)) ** 2 + 0.1)


def test_huggingface():
    t = np.arange(60)
    # get_cosine_schedule_with_warmup(W=5, T=40) on lr=2 (up to T; jaxlr clamps after)
    progress = (t - 5) / 35
    hf_cos = np.where(t < 5, t / 5, np.maximum(0.0, 0.5 * (1 + np.cos(np.pi * progress))))
    close(values(jaxlr.warmup_cosine(2.0, 5, 40), t), 2.0 * np.where(t <= 40, hf_cos, 0.0))
    # get_wsd_schedule(W=4, D=10, T=40, min_lr_ratio=0.1): warm-up from the minimum.
    for shape in ("linear", "cosine", "1-sqrt"):
        stable_end = 30
        p = np.clip((t - stable_end) / 10, 0, 1)
        f = {"linear": 1 - p, "cosine": 0.5 * (1 + np.cos(np.pi * p)), "1-sqrt": 1 - np.sqrt(p)}
        decay = f[shape] * 0.9 + 0.1
        want = np.where(t < 4, (t / 4) * 0.9 + 0.1, np.where(t < stable_end, 1.0, decay))
        s = jaxlr.warmup_stable_decay(2.0, 40, warmup_steps=4, decay_steps=10, end_value=0.2,
                                      init_value=0.2, decay_shape=shape)
        close(values(s, t), 2.0 * want)
    # get_inverse_sqrt_schedule(W=4, timescale=None -> 4; and timescale=10)
    for ts in (None, 10):
        tau = 4 if ts is None else ts
        want = np.where(t < 4, t / 4, 1 / np.sqrt(np.maximum(t + tau - 4, 1) / tau))
        close(values(jaxlr.inverse_sqrt(2.0, 4, timescale=ts), t), 2.0 * want)
    close(values(jaxlr.inverse_sqrt(1.0, 0), [0, 30000]), [1.0, 0.5])  # timescale 10000


# ----------------------------------------------------------------------------------------------
# optax, compared directly where optax is correct.
# ----------------------------------------------------------------------------------------------


@pytest.mark.standard_promotion
def test_optax_equivalents():
    t = np.array([0, 1, 5, 9, 10, 11, 15, 19, 20, 21, 29, 30, 31, 39, 40, 41, 50, 59, 60, 79])
    pairs = [
        (jaxlr.constant(0.3), optax.constant_schedule(0.3)),
        (jaxlr.exponential_decay(1.0, 0.5, 7, end_value=0.1),
         optax.exponential_decay(1.0, 7, 0.5, end_value=0.1)),
        (jaxlr.exponential_decay(1.0, 0.5, 7, staircase=True),
         optax.exponential_decay(1.0, 7, 0.5, staircase=True)),
        (jaxlr.polynomial_decay(1.0, 0.1, 30, power=3.0),
         optax.polynomial_schedule(1.0, 0.1, 3.0, 30)),
        (jaxlr.linear(0.0, 1.0, 30), optax.linear_schedule(0.0, 1.0, 30)),
        (jaxlr.cosine_decay(1.0, 50, end_value=0.1), optax.cosine_decay_schedule(1.0, 50, 0.1)),
        (jaxlr.warmup_cosine(1.0, 10, 60, init_value=0.1, end_value=0.05),
         optax.warmup_cosine_decay_schedule(0.1, 1.0, 10, 60, 0.05)),
        (jaxlr.piecewise_constant([10, 20, 40], [1.0, 0.5, 0.05, 0.005]),
         optax.piecewise_constant_schedule(1.0, {10: 0.5, 20: 0.1, 40: 0.1})),
        (jaxlr.join([jaxlr.linear(0.0, 1.0, 10), jaxlr.cosine_decay(1.0, 30)], [10]),
         optax.join_schedules([optax.linear_schedule(0.0, 1.0, 10),
                               optax.cosine_decay_schedule(1.0, 30)], [10])),
    ]
    for ours, theirs in pairs:
        want = np.array([float(theirs(int(k))) for k in t])
        close(values(ours, t), want, rtol=1e-5, atol=1e-6)


@pytest.mark.standard_promotion
def test_optax_interop():
    """optax.adam / inject_hyperparams(sgd) / scale_by_schedule: update k uses s(k)."""
    import test_schedules

    n = 4
    params = jnp.zeros(())
    grad = jnp.ones(())

    def run(opt):
        # n updates in one scan: update k must use s(k)
        def body(state, _):
            updates, state = opt.update(grad, state, params)
            return state, updates

        return jax.lax.scan(body, opt.init(params), None, length=n)[1]

    @jax.jit
    def all_cases():  # one compiled program for every schedule and optimizer
        out = []
        for case in test_schedules.CASES:
            s = case.make()
            out.append(jnp.stack([s(jnp.arange(n)),  # (jit == eager: test_schedule_generic)
                                  run(optax.scale_by_schedule(s)),
                                  -run(optax.inject_hyperparams(optax.sgd)(learning_rate=s)),
                                  -run(optax.adam(learning_rate=s))]))
        return out

    for case, got in zip(test_schedules.CASES, all_cases()):
        want, *rows = np.asarray(got)
        for row in rows:
            np.testing.assert_allclose(row, want, rtol=1e-5, atol=1e-6, err_msg=case.id)


# ----------------------------------------------------------------------------------------------
# Exact integer structure at large steps.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mult", [2, 3])
@pytest.mark.parametrize("period", [1, 7])
def test_restart_steps_exact_up_to_int32_max(mult, period):
    starts = [0]
    while starts[-1] + period * mult ** (len(starts) - 1) <= INT32_MAX:
        starts.append(starts[-1] + period * mult ** (len(starts) - 1))
    restarts = np.array(starts[1:], dtype=np.int64)
    s = jaxlr.cosine_restarts(1.0, period, period_mult=mult, peak_decay=0.5, end_value=0.0)
    at = values(s, restarts)
    peaks = 0.5 ** np.arange(1, len(restarts) + 1)
    close(at, peaks, rtol=2e-6, atol=0)  # every restart step gets the (decayed) peak
    plain = jaxlr.cosine_restarts(1.0, period, period_mult=mult)
    np.testing.assert_array_equal(values(plain, restarts), 1.0)  # exactly the peak
    # the step before a restart is the last step of the previous cycle (length P * m**(i-1))
    before = values(s, restarts - 1)
    lengths = period * float(mult) ** np.arange(len(restarts))
    prev_peaks = np.concatenate([[1.0], peaks[:-1]])
    close(before, prev_peaks * np.sin(np.pi / (2 * lengths)) ** 2, rtol=1e-5, atol=0)
    after = values(s, np.minimum(restarts + 1, INT32_MAX))
    assert np.all(after <= at)
    assert np.isfinite(values(s, [INT32_MAX])).all()


def test_boundaries_beyond_float32_integers():
    b = 2**24 + 1  # float32 cannot represent 2**24 + 1
    steps = [b - 1, b, b + 1, INT32_MAX]
    close(values(jaxlr.piecewise_constant([b], [1.0, 0.5]), steps), [1.0, 0.5, 0.5, 0.5])
    close(values(jaxlr.multistep_decay(1.0, [b, b + 1], 0.5), steps), [1, .5, .25, .25])
    close(values(jaxlr.join([jaxlr.constant(1.0), jaxlr.linear(0.0, 1.0, 2)], [b]), steps),
          [1.0, 0.0, 0.5, 1.0])
    close(values(jaxlr.piecewise_linear([b, b + 2], [0.0, 1.0]), steps), [0, 0, .5, 1])
    close(values(jaxlr.step_decay(1.0, b, 0.5), steps[:3]), [1.0, 0.5, 0.5])
    # many boundaries (binary search path) beyond 2**24
    many = np.arange(40, dtype=np.int64) * 3 + b
    pc = jaxlr.piecewise_constant(many.tolist(), np.arange(41, dtype=np.float32).tolist())
    close(values(pc, [b - 1, b, b + 2, b + 3, INT32_MAX]), [0, 1, 1, 2, 40])


def test_step_dtypes_and_clamping():
    s = jaxlr.cosine_decay(1.0, 10)
    want = float(s(3))
    for step in (np.int64(3), np.uint8(3), jnp.int16(3), 3.7, np.float32(3.2)):
        assert float(s(step)) == pytest.approx(want)
    assert float(s(-5)) == float(s(0))
    assert float(s(np.int64(2**40))) == float(s(INT32_MAX)) == 0.0
