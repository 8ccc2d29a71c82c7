"""Table of schedule cases shared by the schedule tests: (id, build, kwargs, alternative values).

``build(**kwargs)`` returns a schedule; ``alt`` gives, for EVERY numeric argument of the case, a
second valid value of the same kind (same list length), used to vmap over that argument and to
check that new values do not retrace.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jaxlr


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    build: Callable[..., Any]
    kwargs: dict
    alt: dict

    def make(self, **overrides):
        return self.build(**{**self.kwargs, **overrides})

    def make_alt(self):
        return self.build(**{**self.kwargs, **self.alt})


def _c(id, build, kwargs, alt):
    return Case(id, build, kwargs, alt)


CASES = [
    _c("constant", jaxlr.constant, dict(value=0.5), dict(value=0.25)),
    _c("step_decay", jaxlr.step_decay, dict(init_value=1.0, step_size=4, decay_rate=0.5),
       dict(init_value=2.0, step_size=3, decay_rate=0.9)),
    _c("multistep_decay", jaxlr.multistep_decay,
       dict(init_value=1.0, milestones=[3, 10, 10, 20], decay_rate=0.5),
       dict(init_value=0.3, milestones=[1, 2, 30, 31], decay_rate=0.2)),
    _c("exponential_decay", jaxlr.exponential_decay,
       dict(init_value=1.0, decay_rate=0.9, decay_steps=3, end_value=0.3),
       dict(init_value=2.0, decay_rate=0.8, decay_steps=5, end_value=0.2)),
    _c("exponential_decay-staircase", lambda **k: jaxlr.exponential_decay(**k, staircase=True),
       dict(init_value=1.0, decay_rate=1.1, decay_steps=3, end_value=5.0),
       dict(init_value=2.0, decay_rate=0.8, decay_steps=5, end_value=0.2)),
    _c("inverse_time_decay", jaxlr.inverse_time_decay,
       dict(init_value=1.0, decay_rate=0.5, decay_steps=2),
       dict(init_value=2.0, decay_rate=2.0, decay_steps=7)),
    _c("inverse_time_decay-staircase", lambda **k: jaxlr.inverse_time_decay(**k, staircase=True),
       dict(init_value=1.0, decay_rate=0.5, decay_steps=2),
       dict(init_value=2.0, decay_rate=2.0, decay_steps=7)),
    _c("polynomial_decay", jaxlr.polynomial_decay,
       dict(init_value=1.0, end_value=0.1, decay_steps=10, power=2.0),
       dict(init_value=2.0, end_value=0.0, decay_steps=17, power=0.5)),
    _c("polynomial_decay-cycle", lambda **k: jaxlr.polynomial_decay(**k, cycle=True),
       dict(init_value=1.0, end_value=0.1, decay_steps=10, power=2.0),
       dict(init_value=2.0, end_value=0.0, decay_steps=7, power=1.0)),
    _c("linear", jaxlr.linear, dict(init_value=0.0, end_value=1.0, steps=10),
       dict(init_value=1.0, end_value=0.2, steps=3)),
    _c("cosine_decay", jaxlr.cosine_decay, dict(init_value=1.0, decay_steps=20, end_value=0.1),
       dict(init_value=2.0, decay_steps=7, end_value=0.0)),
    _c("cosine_decay-periodic", lambda **k: jaxlr.cosine_decay(**k, periodic=True),
       dict(init_value=1.0, decay_steps=20, end_value=0.1),
       dict(init_value=2.0, decay_steps=7, end_value=0.0)),
    _c("cosine_restarts", jaxlr.cosine_restarts,
       dict(init_value=1.0, period=3, period_mult=2, peak_decay=0.5, end_value=0.1,
            num_cycles=3),
       dict(init_value=2.0, period=5, period_mult=3, peak_decay=0.9, end_value=0.0,
            num_cycles=2)),
    _c("cosine_restarts-mult1", jaxlr.cosine_restarts,
       dict(init_value=1.0, period=3, period_mult=1),
       dict(init_value=2.0, period=5, period_mult=2)),
    _c("cyclic-exp_range", lambda **k: jaxlr.cyclic(**k, mode="exp_range"),
       dict(min_value=0.1, peak_value=1.0, step_size_up=3, step_size_down=5, gamma=0.97),
       dict(min_value=0.2, peak_value=2.0, step_size_up=4, step_size_down=2, gamma=0.9)),
    _c("cyclic-triangular2", lambda **k: jaxlr.cyclic(**k, mode="triangular2"),
       dict(min_value=0.1, peak_value=1.0, step_size_up=3),
       dict(min_value=0.2, peak_value=2.0, step_size_up=4)),
    _c("cyclic-momentum",
       lambda **k: jaxlr.cyclic(0.1, 1.0, 3, 5, cycle_momentum=True, **k).momentum_schedule(),
       dict(base_momentum=0.8, max_momentum=0.9), dict(base_momentum=0.85, max_momentum=0.99)),
    _c("one_cycle", jaxlr.one_cycle,
       dict(peak_value=1.0, total_steps=30, pct_start=0.3, div_factor=25.0,
            final_div_factor=1e4),
       dict(peak_value=2.0, total_steps=20, pct_start=0.45, div_factor=10.0,
            final_div_factor=2.0)),
    _c("one_cycle-linear-3phase",
       lambda **k: jaxlr.one_cycle(**k, anneal="linear", three_phase=True),
       dict(peak_value=1.0, total_steps=30, pct_start=0.3),
       dict(peak_value=2.0, total_steps=20, pct_start=0.25)),
    _c("one_cycle-momentum",
       lambda **k: jaxlr.one_cycle(1.0, cycle_momentum=True, **k).momentum_schedule(),
       dict(total_steps=30, pct_start=0.3, base_momentum=0.85, max_momentum=0.95),
       dict(total_steps=20, pct_start=0.4, base_momentum=0.8, max_momentum=0.99)),
    _c("warmup", lambda peak, w, init: jaxlr.warmup(jaxlr.cosine_decay(peak, 20), w,
                                                    init_value=init),
       dict(peak=1.0, w=5, init=0.0), dict(peak=2.0, w=0, init=0.5)),
    _c("warmup-cosine", lambda w, init: jaxlr.warmup(jaxlr.constant(1.0), w, init_value=init,
                                                     shape="cosine"),
       dict(w=5, init=0.0), dict(w=3, init=0.5)),
    _c("warmup-exponential",
       lambda w, init: jaxlr.warmup(jaxlr.constant(1.0), w, init_value=init,
                                    shape="exponential"),
       dict(w=5, init=0.01), dict(w=3, init=0.5)),
    _c("warmup_cosine", jaxlr.warmup_cosine,
       dict(peak_value=1.0, warmup_steps=5, total_steps=30, init_value=0.0, end_value=0.1),
       dict(peak_value=2.0, warmup_steps=3, total_steps=20, init_value=0.5, end_value=0.0)),
    _c("warmup_stable_decay", jaxlr.warmup_stable_decay,
       dict(peak_value=1.0, total_steps=30, warmup_steps=5, decay_steps=10, end_value=0.1,
            init_value=0.0),
       dict(peak_value=2.0, total_steps=40, warmup_steps=3, decay_steps=6, end_value=0.0,
            init_value=0.5)),
    _c("warmup_stable_decay-cosine",
       lambda **k: jaxlr.warmup_stable_decay(**k, decay_shape="cosine"),
       dict(peak_value=1.0, total_steps=30, warmup_steps=5, decay_steps=10),
       dict(peak_value=2.0, total_steps=40, warmup_steps=0, decay_steps=6)),
    _c("warmup_stable_decay-1-sqrt",
       lambda **k: jaxlr.warmup_stable_decay(**k, decay_shape="1-sqrt"),
       dict(peak_value=1.0, total_steps=30, warmup_steps=5, decay_steps=10),
       dict(peak_value=2.0, total_steps=40, warmup_steps=3, decay_steps=6)),
    _c("inverse_sqrt", jaxlr.inverse_sqrt, dict(peak_value=1.0, warmup_steps=5, timescale=4),
       dict(peak_value=2.0, warmup_steps=3, timescale=10)),
    _c("inverse_sqrt-default", jaxlr.inverse_sqrt, dict(peak_value=1.0, warmup_steps=5),
       dict(peak_value=2.0, warmup_steps=0)),
    _c("piecewise_constant", jaxlr.piecewise_constant,
       dict(boundaries=[3, 10, 10, 20], values=[1.0, 0.5, 0.25, 0.1, 0.05]),
       dict(boundaries=[1, 5, 6, 40], values=[2.0, 1.0, 0.3, 0.2, 0.0])),
    _c("piecewise_linear", jaxlr.piecewise_linear,
       dict(boundaries=[2, 5, 5, 20], values=[0.0, 1.0, 0.5, 0.1]),
       dict(boundaries=[0, 3, 9, 40], values=[1.0, 0.2, 0.3, 0.0])),
    _c("table", jaxlr.schedules.table, dict(values=[0.5, 1.0, 0.25, 0.0, 0.125]),
       dict(values=[2.0, 0.1, 0.3, 0.7, 0.05])),
    _c("join", lambda b, peak: jaxlr.join([jaxlr.linear(0.0, peak, 5),
                                          jaxlr.cosine_decay(peak, 20)], [b]),
       dict(b=5, peak=1.0), dict(b=9, peak=2.0)),
    _c("multiply", lambda a, b: jaxlr.multiply(jaxlr.constant(a), jaxlr.linear(b, 0.0, 10)),
       dict(a=2.0, b=1.0), dict(a=0.5, b=3.0)),
    _c("scale", lambda factor: jaxlr.schedules.scale(jaxlr.cosine_decay(1.0, 10), factor),
       dict(factor=3.0), dict(factor=0.5)),
    _c("clip", lambda lo, hi: jaxlr.schedules.clip(jaxlr.cosine_decay(1.0, 20), lo, hi),
       dict(lo=0.2, hi=0.8), dict(lo=0.1, hi=0.5)),
]

CASE_IDS = [c.id for c in CASES]
ARG_CASES = [(c, arg) for c in CASES for arg in c.alt]
ARG_IDS = [f"{c.id}:{arg}" for c, arg in ARG_CASES]


# ----------------------------------------------------------------------------------------------
# Generic checks driven by the table.
# ----------------------------------------------------------------------------------------------

import chex  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

INT32_MAX = 2**31 - 1
STEPS = np.array([0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 15, 20, 29, 30, 31, 45, 1000, 2**24 + 1,
                  INT32_MAX], dtype=np.int32)


def _batches(case):
    """Lane 0: default values; lane j: argument j replaced by its alternative (others default).

    Every numeric argument is a batched (vmapped) array, so one vmapped program checks every
    argument: lane j differs from lane 0 only through argument j.
    """
    args = list(case.alt)
    out = {}
    for j, arg in enumerate(args):
        default, alt = case.kwargs[arg], case.alt[arg]
        is_float = isinstance(np.asarray(default).ravel()[0].item(), float)
        lanes = [alt if i == j + 1 else default for i in range(len(args) + 1)]
        out[arg] = jnp.stack([jnp.asarray(v) for v in lanes]).astype(
            jnp.float32 if is_float else jnp.int32)
    return out


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_schedule_generic(case):
    """One compiled program per builder checks, against eager calls:

    * the schedule passed as a jit argument (``jax.tree.map(jnp.asarray, s)``: int32 / float32
      leaves), called again with new values without retracing;
    * ``jaxlr.stack`` + ``jax.vmap`` over lanes, and ``jax.vmap`` over steps == vector steps;
    * every numeric argument vmapped (the schedule built inside the vmapped function, lane j
      changing argument j only) == a Python loop over the argument's values.
    """
    s, s_alt = case.make(), case.make_alt()
    assert isinstance(s, jaxlr.Schedule)
    steps = jnp.asarray(STEPS)
    eager, alt = np.asarray(s(steps)), np.asarray(s_alt(steps))
    assert eager.dtype == np.float32 and eager.shape == STEPS.shape
    assert np.all(np.isfinite(eager)) and np.all(np.isfinite(alt))
    assert not np.allclose(alt, eager), "alternative values must change the schedule"
    arrays, arrays_alt = jax.tree.map(jnp.asarray, s), jax.tree.map(jnp.asarray, s_alt)
    for leaf in jax.tree.leaves(arrays):
        assert leaf.dtype in (jnp.int32, jnp.float32), leaf.dtype
    stacked = jaxlr.stack([s, s_alt])
    batches = _batches(case)

    def program(sched, stacked, batches, steps):
        lanes = jax.vmap(lambda one: jax.vmap(one)(steps))(stacked)
        per_arg = jax.vmap(lambda vals: case.make(**vals)(steps))(batches)
        return sched(steps), lanes, per_arg

    chex.clear_trace_counter()
    f = jax.jit(chex.assert_max_traces(program, n=1))
    out, lanes, per_arg = f(arrays, stacked, batches, steps)
    out_alt, _, _ = f(arrays_alt, stacked, batches, steps)  # new values: no retrace
    tol = dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(out), eager, **tol)
    np.testing.assert_allclose(np.asarray(out_alt), alt, **tol)
    np.testing.assert_allclose(np.asarray(lanes), np.stack([eager, alt]), **tol)
    np.testing.assert_allclose(np.asarray(per_arg[0]), eager, **tol)
    for j, (arg, value) in enumerate(case.alt.items()):
        loop = np.asarray(case.make(**{arg: value})(steps))
        np.testing.assert_allclose(np.asarray(per_arg[j + 1]), loop, **tol,
                                   err_msg=f"vmap over {arg}")
    # repr shows the builder name and its arguments
    assert repr(s).startswith(s._name + "(") or repr(s).startswith("multiply(")
