"""Benchmark: jaxlr schedules vs their optax equivalents (issue 2, requirement 10).

1. Evaluation of each schedule over 10**6 steps inside ``jax.jit`` (``jax.vmap`` over the steps,
   summed, for both libraries; compile time excluded; best of several runs), ratio jaxlr/optax
   (goal <= 1.1). Schedules without an optax equivalent are timed alone (baseline null).
2. Compile time (trace + lower + compile) of a 1000-boundary piecewise-constant schedule vs
   ``optax.piecewise_constant_schedule`` (goal: jaxlr >= 10x faster).

Prints one JSON line per figure plus a line naming the device. ``--quick`` uses 10**5 steps and
fewer repeats (a smoke run).

    python scripts/bench_schedules.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxlr


def _pairs(n: int):
    w, t = n // 20, n
    b = np.linspace(0, n, 12, dtype=np.int64)[1:-1]
    scales = {int(x): 0.5 for x in b}
    sgdr_cycles = 10
    period = n // sgdr_cycles
    return [
        ("constant", jaxlr.constant(0.1), optax.constant_schedule(0.1)),
        ("step_decay", jaxlr.step_decay(1.0, n // 10, 0.5),
         optax.exponential_decay(1.0, n // 10, 0.5, staircase=True)),
        ("multistep_decay", jaxlr.multistep_decay(1.0, b.tolist(), 0.5),
         optax.piecewise_constant_schedule(1.0, scales)),
        ("exponential_decay", jaxlr.exponential_decay(1.0, 0.5, n // 10, end_value=1e-4),
         optax.exponential_decay(1.0, n // 10, 0.5, end_value=1e-4)),
        ("polynomial_decay", jaxlr.polynomial_decay(1.0, 0.0, t, power=2.0),
         optax.polynomial_schedule(1.0, 0.0, 2.0, t)),
        ("linear", jaxlr.linear(0.0, 1.0, t), optax.linear_schedule(0.0, 1.0, t)),
        ("cosine_decay", jaxlr.cosine_decay(1.0, t, end_value=0.01),
         optax.cosine_decay_schedule(1.0, t, 0.01)),
        ("cosine_restarts", jaxlr.cosine_restarts(1.0, period, num_cycles=sgdr_cycles),
         optax.sgdr_schedule([dict(init_value=1.0, peak_value=1.0, decay_steps=period,
                                   warmup_steps=0, end_value=0.0)] * sgdr_cycles)),
        ("one_cycle", jaxlr.one_cycle(1.0, t), optax.cosine_onecycle_schedule(t, 1.0)),
        ("warmup_cosine", jaxlr.warmup_cosine(1.0, w, t),
         optax.warmup_cosine_decay_schedule(0.0, 1.0, w, t)),
        ("warmup(exponential_decay)",
         jaxlr.warmup(jaxlr.exponential_decay(1.0, 0.5, n // 10), w),
         optax.warmup_exponential_decay_schedule(0.0, 1.0, w, n // 10, 0.5)),
        ("piecewise_constant",
         jaxlr.piecewise_constant(b.tolist(), (0.5 ** np.arange(11)).tolist()),
         optax.piecewise_constant_schedule(1.0, scales)),
        ("piecewise_linear", jaxlr.piecewise_linear([0, w, t], [0.0, 1.0, 0.0]),
         optax.piecewise_interpolate_schedule("linear", 1e-9, {w: 1e9, t: 0.0})),
        ("join", jaxlr.join([jaxlr.linear(0.0, 1.0, w), jaxlr.cosine_decay(1.0, t - w)], [w]),
         optax.join_schedules([optax.linear_schedule(0.0, 1.0, w),
                               optax.cosine_decay_schedule(1.0, t - w)], [w])),
        ("cyclic", jaxlr.cyclic(0.1, 1.0, n // 20, mode="triangular2"), None),
        ("inverse_time_decay", jaxlr.inverse_time_decay(1.0, 0.5, n // 10), None),
        ("warmup_stable_decay", jaxlr.warmup_stable_decay(1.0, t, warmup_steps=w,
                                                          decay_steps=n // 5), None),
        ("inverse_sqrt", jaxlr.inverse_sqrt(1.0, w), None),
    ]


def _time_eval(schedule, steps, repeats: int) -> float:
    f = jax.jit(lambda t: jnp.sum(jax.vmap(schedule)(t)))
    f(steps).block_until_ready()  # compile
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(steps).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return best


def _time_compile(schedule, step) -> float:
    t0 = time.perf_counter()
    jax.jit(lambda t: schedule(t)).lower(step).compile()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10**5 steps, fewer repeats")
    args = parser.parse_args()
    n = 10**5 if args.quick else 10**6
    repeats = 3 if args.quick else 10
    steps = jnp.arange(n, dtype=jnp.int32)
    print(json.dumps({"device": str(jax.devices()[0]), "platform": jax.default_backend(),
                      "cpu": platform.processor() or platform.machine(), "steps": n,
                      "jax": jax.__version__, "optax": optax.__version__}))
    for name, ours, theirs in _pairs(n):
        ours_s = _time_eval(ours, steps, repeats)
        base_s = _time_eval(theirs, steps, repeats) if theirs is not None else None
        print(json.dumps({"name": f"eval {name} ({n} steps)", "jaxlr_s": ours_s,
                          "baseline_s": base_s,
                          "ratio": ours_s / base_s if base_s else None}))
    # compile time of a 1000-boundary piecewise schedule
    k = 1000
    bounds = np.arange(1, k + 1, dtype=np.int64) * 100
    ours = jaxlr.piecewise_constant(bounds, 0.999 ** np.arange(k + 1, dtype=np.float32))
    theirs = optax.piecewise_constant_schedule(1.0, {int(x): 0.999 for x in bounds})
    step = jnp.int32(12345)
    ours_c = min(_time_compile(ours, step) for _ in range(2 if args.quick else 3))
    base_c = min(_time_compile(theirs, step) for _ in range(1 if args.quick else 2))
    print(json.dumps({"name": f"compile piecewise_constant ({k} boundaries)", "jaxlr_s": ours_c,
                      "baseline_s": base_c, "ratio": ours_c / base_c,
                      "speedup": base_c / ours_c}))


if __name__ == "__main__":
    main()
