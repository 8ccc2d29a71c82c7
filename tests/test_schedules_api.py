"""Clear errors, config dicts, spec strings, describe, plot_schedule, horizon and properties."""

import json
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxlr
from test_schedules import CASE_IDS, CASES, STEPS  # same steps: reuses compiled programs
COS = jaxlr.cosine_decay(1.0, 10)

# ----------------------------------------------------------------------------------------------
# Errors: (call, error type, substrings the message must contain: function, argument, value).
# ----------------------------------------------------------------------------------------------

ERRORS = [
    (lambda: jaxlr.constant(-1.0), ValueError, ["constant", "value=-1.0", ">= 0"]),
    (lambda: jaxlr.constant(float("nan")), ValueError, ["constant", "value=nan"]),
    (lambda: jaxlr.constant("0.1"), TypeError, ["constant", "value='0.1'"]),
    (lambda: jaxlr.step_decay(1.0, 0), ValueError, ["step_decay", "step_size=0", ">= 1"]),
    (lambda: jaxlr.step_decay(1.0, 2.0), TypeError, ["step_decay", "step_size=2.0",
                                                     "step_size=2"]),
    (lambda: jaxlr.step_decay(1.0, 10, -0.1), ValueError, ["step_decay", "decay_rate=-0.1"]),
    (lambda: jaxlr.multistep_decay(1.0, [5, 3]), ValueError,
     ["multistep_decay", "milestones=[5, 3]", "sorted"]),
    (lambda: jaxlr.multistep_decay(1.0, [-1, 3]), ValueError, ["multistep_decay", "[-1, 3]"]),
    (lambda: jaxlr.multistep_decay(1.0, [1.5]), TypeError, ["multistep_decay", "[1.5]"]),
    (lambda: jaxlr.multistep_decay(1.0, 5), TypeError, ["multistep_decay", "milestones=5",
                                                        "1-D"]),
    (lambda: jaxlr.exponential_decay(1.0, 0.0), ValueError, ["exponential_decay",
                                                            "decay_rate=0.0", "> 0"]),
    (lambda: jaxlr.exponential_decay(1.0, 0.5, 0), ValueError, ["exponential_decay",
                                                               "decay_steps=0"]),
    (lambda: jaxlr.exponential_decay(1.0, 0.5, staircase="yes"), TypeError,
     ["exponential_decay", "staircase='yes'"]),
    (lambda: jaxlr.exponential_decay(1.0, 0.5, end_value=-1.0), ValueError,
     ["exponential_decay", "end_value=-1.0"]),
    (lambda: jaxlr.inverse_time_decay(1.0, -0.5), ValueError, ["inverse_time_decay",
                                                              "decay_rate=-0.5"]),
    (lambda: jaxlr.polynomial_decay(1.0, 0.0, 0), ValueError, ["polynomial_decay",
                                                              "decay_steps=0"]),
    (lambda: jaxlr.polynomial_decay(1.0, 0.0, 10, power=0.0), ValueError,
     ["polynomial_decay", "power=0.0"]),
    (lambda: jaxlr.linear(1.0, 0.0, 0), ValueError, ["linear", "steps=0"]),
    (lambda: jaxlr.linear(1.0, 0.0, 10.0), TypeError, ["linear", "steps=10.0", "steps=10"]),
    (lambda: jaxlr.linear(-1.0, 0.0, 10), ValueError, ["linear", "init_value=-1.0"]),
    (lambda: jaxlr.cosine_decay(1.0, 0), ValueError, ["cosine_decay", "decay_steps=0"]),
    (lambda: jaxlr.cosine_decay(1.0, -5), ValueError, ["cosine_decay", "decay_steps=-5"]),
    (lambda: jaxlr.cosine_decay(1.0, 10, end_value=-1.0), ValueError,
     ["cosine_decay", "end_value=-1.0"]),
    (lambda: jaxlr.cosine_decay(1.0, 10, periodic=1), TypeError, ["cosine_decay",
                                                                 "periodic=1"]),
    (lambda: jaxlr.cosine_restarts(1.0, 0), ValueError, ["cosine_restarts", "period=0"]),
    (lambda: jaxlr.cosine_restarts(1.0, 10, period_mult=0), ValueError,
     ["cosine_restarts", "period_mult=0"]),
    (lambda: jaxlr.cosine_restarts(1.0, 10, period_mult=1.5), TypeError,
     ["cosine_restarts", "period_mult=1.5"]),
    (lambda: jaxlr.cosine_restarts(1.0, 10, peak_decay=0.0), ValueError,
     ["cosine_restarts", "peak_decay=0.0"]),
    (lambda: jaxlr.cosine_restarts(1.0, 10, num_cycles=0), ValueError,
     ["cosine_restarts", "num_cycles=0"]),
    (lambda: jaxlr.cyclic(0.1, 1.0, 0), ValueError, ["cyclic", "step_size_up=0"]),
    (lambda: jaxlr.cyclic(0.1, 1.0, 5, 0), ValueError, ["cyclic", "step_size_down=0"]),
    (lambda: jaxlr.cyclic(0.1, 1.0, 5, mode="triangle"), ValueError,
     ["cyclic", "mode='triangle'", "'triangular2'"]),
    (lambda: jaxlr.cyclic(0.1, 1.0, 5, gamma=0.0), ValueError, ["cyclic", "gamma=0.0"]),
    (lambda: jaxlr.cyclic(-0.1, 1.0, 5), ValueError, ["cyclic", "min_value=-0.1"]),
    (lambda: jaxlr.one_cycle(1.0, 0), ValueError, ["one_cycle", "total_steps=0"]),
    (lambda: jaxlr.one_cycle(1.0, 100.0), TypeError, ["one_cycle", "total_steps=100.0"]),
    (lambda: jaxlr.one_cycle(1.0, 100, pct_start=0.0), ValueError,
     ["one_cycle", "pct_start=0.0", "(0, 1)"]),
    (lambda: jaxlr.one_cycle(1.0, 100, pct_start=1.0), ValueError, ["one_cycle",
                                                                   "pct_start=1.0"]),
    (lambda: jaxlr.one_cycle(1.0, 100, pct_start=1.5), ValueError, ["one_cycle",
                                                                   "pct_start=1.5"]),
    (lambda: jaxlr.one_cycle(1.0, 100, anneal="cosine"), ValueError,
     ["one_cycle", "anneal='cosine'", "'cos'"]),
    (lambda: jaxlr.one_cycle(1.0, 100, div_factor=0.0), ValueError, ["one_cycle",
                                                                    "div_factor=0.0"]),
    (lambda: jaxlr.one_cycle(1.0, 100, final_div_factor=-1.0), ValueError,
     ["one_cycle", "final_div_factor=-1.0"]),
    (lambda: jaxlr.warmup(0.1, 10), TypeError, ["warmup", "schedule=0.1", "jaxlr.constant"]),
    (lambda: jaxlr.warmup(COS, -1), ValueError, ["warmup", "warmup_steps=-1"]),
    (lambda: jaxlr.warmup(COS, 1.5), TypeError, ["warmup", "warmup_steps=1.5"]),
    (lambda: jaxlr.warmup(COS, 10, shape="quadratic"), ValueError,
     ["warmup", "shape='quadratic'", "'cosine'"]),
    (lambda: jaxlr.warmup(COS, 10, shape="exponential"), ValueError,
     ["warmup", "init_value=0.0", "> 0"]),
    (lambda: jaxlr.warmup_cosine(1.0, 10, 10), ValueError,
     ["warmup_cosine", "total_steps=10, warmup_steps=10", "jaxlr.warmup(jaxlr.constant"]),
    (lambda: jaxlr.warmup_cosine(1.0, -1, 10), ValueError, ["warmup_cosine",
                                                           "warmup_steps=-1"]),
    (lambda: jaxlr.warmup_stable_decay(1.0, 10, warmup_steps=5, decay_steps=6), ValueError,
     ["warmup_stable_decay", "warmup_steps=5, decay_steps=6", "total_steps=10"]),
    (lambda: jaxlr.warmup_stable_decay(1.0, 10, warmup_steps=1, decay_steps=0), ValueError,
     ["warmup_stable_decay", "decay_steps=0"]),
    (lambda: jaxlr.warmup_stable_decay(1.0, 10, warmup_steps=1, decay_steps=5,
                                       decay_shape="exp"), ValueError,
     ["warmup_stable_decay", "decay_shape='exp'", "'1-sqrt'"]),
    (lambda: jaxlr.inverse_sqrt(1.0, -1), ValueError, ["inverse_sqrt", "warmup_steps=-1"]),
    (lambda: jaxlr.inverse_sqrt(1.0, 10, timescale=0), ValueError, ["inverse_sqrt",
                                                                   "timescale=0"]),
    (lambda: jaxlr.piecewise_constant([10, 5], [1.0, 0.5, 0.1]), ValueError,
     ["piecewise_constant", "boundaries=[10, 5]", "sorted"]),
    (lambda: jaxlr.piecewise_constant([10], [1.0]), ValueError,
     ["piecewise_constant", "values", "2", "boundaries=[10], values=[1.0]"]),
    (lambda: jaxlr.piecewise_constant([-1], [1.0, 0.5]), ValueError, ["piecewise_constant",
                                                                     "boundaries=[-1]"]),
    (lambda: jaxlr.piecewise_constant([10], [1.0, -0.5]), ValueError,
     ["piecewise_constant", "values[1]=-0.5"]),
    (lambda: jaxlr.piecewise_constant([10.5], [1.0, 0.5]), TypeError,
     ["piecewise_constant", "boundaries=[10.5]"]),
    (lambda: jaxlr.piecewise_linear([], []), ValueError, ["piecewise_linear",
                                                         "boundaries=[]"]),
    (lambda: jaxlr.piecewise_linear([0, 10], [1.0]), ValueError,
     ["piecewise_linear", "values", "boundaries=[0, 10], values=[1.0]"]),
    (lambda: jaxlr.schedules.table([]), ValueError, ["table", "values=[]", "at least one"]),
    (lambda: jaxlr.schedules.table([0.1, -0.5]), ValueError, ["table", "values[1]=-0.5"]),
    (lambda: jaxlr.schedules.table(np.ones((2, 3))), ValueError, ["table", "1-D"]),
    (lambda: jaxlr.schedules.table(0.1), TypeError, ["table", "1-D", "values=0.1"]),
    (lambda: jaxlr.join([COS, COS], [5, 10]), ValueError, ["join", "boundaries=[5, 10]",
                                                          "len(schedules) - 1"]),
    (lambda: jaxlr.join([COS, COS, COS], [10, 5]), ValueError, ["join", "sorted"]),
    (lambda: jaxlr.join(COS, [5]), TypeError, ["join", "schedules=cosine_decay("]),
    (lambda: jaxlr.join([COS, 0.1], [5]), TypeError, ["join", "schedules[1]=0.1"]),
    (lambda: jaxlr.multiply(), ValueError, ["multiply", "at least one"]),
    (lambda: jaxlr.multiply(COS, 0.5), TypeError, ["multiply", "schedules[1]=0.5"]),
    (lambda: jaxlr.schedules.scale(COS, -1.0), ValueError, ["scale", "factor=-1.0"]),
    (lambda: jaxlr.schedules.scale(0.1, 2.0), TypeError, ["scale", "schedule=0.1"]),
    (lambda: jaxlr.schedules.clip(COS), ValueError, ["clip", "min_value", "max_value"]),
    (lambda: jaxlr.schedules.clip(COS, 0.5, 0.1), ValueError, ["clip", "min_value=0.5, max_value=0.1"]),
    (lambda: jaxlr.stack([]), ValueError, ["stack", "at least one"]),
    (lambda: jaxlr.stack([COS, jaxlr.linear(1.0, 0.0, 5)]), ValueError,
     ["stack", "same structure"]),
    (lambda: jaxlr.stack([jaxlr.piecewise_constant([1], [1.0, 0.5]),
                          jaxlr.piecewise_constant([1, 2], [1.0, 0.5, 0.1])]), ValueError,
     ["stack", "same structure"]),
    (lambda: jaxlr.to_config(jaxlr.warmup(lambda t: 0.1, 5)), TypeError,
     ["to_config", "schedule.schedule", "callable"]),
    (lambda: jaxlr.from_config({"name": "cosine"}), ValueError,
     ["from_config", "'cosine'", "cosine_decay"]),
    (lambda: jaxlr.from_config({"name": "linear", "init_value": 1.0, "end_value": 0.0,
                                "steps": 5, "bogus": 1}), ValueError,
     ["from_config", "bogus", "init_value"]),
    (lambda: jaxlr.describe(COS, 0), ValueError, ["describe", "total_steps=0"]),
    # ranges the docstrings promise (min <= peak, peak is the largest value, ...)
    (lambda: jaxlr.cyclic(1.0, 0.1, 5), ValueError,
     ["cyclic", "`min_value` must be <= `peak_value`", "min_value=1.0, peak_value=0.1"]),
    (lambda: jaxlr.cyclic(0.1, 1.0, 5, mode="exp_range", gamma=1.1), ValueError,
     ["cyclic", "gamma=1.1", "(0, 1]"]),
    (lambda: jaxlr.cyclic(0.1, 1.0, 5, base_momentum=0.95, max_momentum=0.85), ValueError,
     ["cyclic", "base_momentum=0.95, max_momentum=0.85"]),
    (lambda: jaxlr.cyclic(np.array([0.1, 2.0]), np.array([1.0, 1.0]), 5), ValueError,
     ["cyclic", "min_value=array([0.1, 2. ])"]),
    (lambda: jaxlr.one_cycle(1.0, 100, div_factor=0.5), ValueError,
     ["one_cycle", "div_factor=0.5", ">= 1"]),
    (lambda: jaxlr.one_cycle(1.0, 100, final_div_factor=0.5), ValueError,
     ["one_cycle", "final_div_factor=0.5", ">= 1"]),
    (lambda: jaxlr.one_cycle(1.0, 100, base_momentum=0.99, max_momentum=0.9), ValueError,
     ["one_cycle", "base_momentum=0.99, max_momentum=0.9"]),
    (lambda: jaxlr.schedules.one_cycle_momentum(100, base_momentum=0.99, max_momentum=0.9),
     ValueError, ["one_cycle_momentum", "base_momentum=0.99"]),
    (lambda: jaxlr.warmup_cosine(1.0, 10, 100, init_value=2.0), ValueError,
     ["warmup_cosine", "`init_value` must be <= `peak_value`", "init_value=2.0, peak_value=1.0"]),
    (lambda: jaxlr.warmup_cosine(1.0, 10, 100, end_value=1.5), ValueError,
     ["warmup_cosine", "end_value=1.5, peak_value=1.0"]),
    (lambda: jaxlr.warmup_stable_decay(1.0, 10, warmup_steps=2, decay_steps=4, init_value=3.0),
     ValueError, ["warmup_stable_decay", "init_value=3.0, peak_value=1.0"]),
    (lambda: jaxlr.warmup_stable_decay(1.0, 10, warmup_steps=2, decay_steps=4, end_value=3.0),
     ValueError, ["warmup_stable_decay", "end_value=3.0, peak_value=1.0"]),
    (lambda: jaxlr.cosine_restarts(0.1, 10, end_value=0.5), ValueError,
     ["cosine_restarts", "end_value=0.5, init_value=0.1", "eta_min"]),
    (lambda: jaxlr.from_config({"name": "cyclic", "min_value": 1.0, "peak_value": 0.1,
                                "step_size_up": 5}), ValueError, ["cyclic", "min_value=1.0"]),
    # config dicts: wrong kinds are named, never a raw Python error
    (lambda: jaxlr.from_config({"name": ["cosine_decay"]}), TypeError,
     ["from_config", "'name' string", "['cosine_decay']"]),
    (lambda: jaxlr.from_config({"init_value": 1.0}), ValueError,
     ["from_config", "has no 'name'"]),
    (lambda: jaxlr.from_config({"name": "cosine_decay", "init_value": 1.0}), TypeError,
     ["from_config", "bad arguments for cosine_decay", "decay_steps"]),
    (lambda: jaxlr.from_config({"name": "warmup", "schedule": {"name": "cosine_decy"},
                                "warmup_steps": 5}), ValueError,
     ["from_config", "'cosine_decy' at config.schedule", "Did you mean 'cosine_decay'?"]),
    (lambda: jaxlr.from_config({"name": "constant", 1: 2}), TypeError,
     ["from_config", "argument names must be strings"]),
    (lambda: jaxlr.parse("cyclic(0.1, 1e999999, 5)"), ValueError, ["peak_value=inf"]),
    (lambda: jaxlr.parse("constant(" + "9" * 500 + ")"), ValueError,
     ["parse", "more than 400 characters"]),
    (lambda: jaxlr.cosine_decay(1.0, [[1], [1, 2]]), TypeError,
     ["cosine_decay", "decay_steps=[[1], [1, 2]]"]),
    (lambda: jaxlr.constant(10 ** 400), ValueError, ["constant", "finite"]),
]


@pytest.mark.parametrize("call,error,parts", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_clear_errors(call, error, parts):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def test_traced_arguments_are_not_validated():
    # a traced (invalid) value is the caller's responsibility: no tracer error at build time
    out = jax.jit(lambda n: jaxlr.cosine_decay(1.0, n)(3))(jnp.int32(10))
    assert np.isfinite(float(out))


# ----------------------------------------------------------------------------------------------
# Config dicts and spec strings.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_config_and_spec_round_trip(case):
    s = case.make()
    config = jaxlr.to_config(s)
    text = json.dumps(config)  # JSON-able
    back = jaxlr.from_config(json.loads(text))
    assert type(back) is type(s)
    assert jaxlr.to_config(back) == config
    assert repr(back) == repr(s)
    np.testing.assert_array_equal(np.asarray(back(STEPS)), np.asarray(s(STEPS)))
    parsed = jaxlr.parse(repr(s))  # repr is a valid spec string
    assert jaxlr.to_config(parsed) == config


def test_config_of_arrays_and_nested_combinators():
    s = jaxlr.warmup(jaxlr.join([jaxlr.piecewise_constant(np.array([3, 6]),
                                                          jnp.array([1.0, 0.5, 0.25])),
                                 jaxlr.schedules.scale(jaxlr.cosine_decay(1.0, 10), 0.25)],
                                [8]), 2, init_value=np.float32(0.1))
    config = jaxlr.to_config(s)
    inner = config["schedule"]["schedules"][0]
    assert inner == {"name": "piecewise_constant", "boundaries": [3, 6],
                     "values": [1.0, 0.5, 0.25]}
    back = jaxlr.from_config(json.loads(json.dumps(config)))
    assert jaxlr.to_config(back) == config
    np.testing.assert_array_equal(np.asarray(back(STEPS)), np.asarray(s(STEPS)))


def test_parse_grammar():
    s = jaxlr.parse("warmup(cosine_decay(1e-3, 10000), 500)")
    assert isinstance(s, jaxlr.schedules.Warmup) and s.warmup_steps == 500
    assert s.schedule.init_value == 1e-3 and s.schedule.decay_steps == 10_000
    s = jaxlr.parse(" cyclic(1e-4, 1e-2, 2_000, mode=triangular2, gamma=1.0) ")
    assert s.mode == "triangular2" and s.step_size_up == 2000
    assert jaxlr.parse("cyclic(1e-4, 1e-2, 20, mode='exp_range')").mode == "exp_range"
    assert jaxlr.parse('cyclic(1e-4, 1e-2, 20, mode="exp_range")').mode == "exp_range"
    s = jaxlr.parse("join([linear(0, 1e-3, 100), cosine_decay(1e-3, 900,),], [100])")
    assert float(s(100)) == pytest.approx(1e-3)
    s = jaxlr.parse("exponential_decay(1.0, 0.5, end_value=None, staircase=True)")
    assert s.end_value is None and s.staircase is True
    assert float(jaxlr.parse("3e-4")(10)) == pytest.approx(3e-4)
    s = jaxlr.parse("multiply(constant(2), linear(1.0, .5, 10))")
    assert float(s(10)) == pytest.approx(1.0)


PARSE_ERRORS = [
    ("cosine(1e-3, 100)", ["unknown schedule 'cosine'", "position 0", "cosine_decay",
                           "warmup_cosine"]),
    ("cosine_decay(1e-3, 100", ["expected ',' or ')'", "position 22"]),
    ("cosine_decay(1e-3, 100.0)", ["cosine_decay", "decay_steps=100.0", "position 0"]),
    ("cosine_decay(1e-3, 100) extra", ["unexpected 'extra'", "position 24"]),
    ("cosine_decay(1e-3, decay_steps=100, 5)", ["positional argument after keyword",
                                                "position 36"]),
    ("cosine_decay(1e-3, 100, foo=1)", ["bad arguments for cosine_decay", "foo",
                                        "Signature"]),
    ("cosine_decay(1e-3)", ["decay_steps", "position 0"]),
    ("__import__('os')", ["unknown schedule '__import__'", "Valid names"]),
    ("", ["empty", "Valid names" if False else "cosine_decay"]),
    ("cosine_decay(1e-3, 100 $)", ["unexpected character '$'", "position 23"]),
    ("warmup(0.1, 10)", ["warmup", "schedule=0.1"]),
    ("piecewise_constant([1, 2], [1.0, 0.5)", ["expected ',' or ']'", "position 36"]),
    ("cosine_decay(1e-3, 100, end_value=0.1, end_value=0.2)", ["'end_value' given twice"]),
    ("linear", ["expected a schedule call", "position 0"]),
]


@pytest.mark.parametrize("spec,parts", PARSE_ERRORS, ids=[p[0] or "empty" for p in PARSE_ERRORS])
def test_parse_errors(spec, parts):
    with pytest.raises(ValueError) as info:
        jaxlr.parse(spec)
    message = str(info.value)
    assert message.startswith("parse:")
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def test_cyclic_momentum_is_its_own_builder_and_round_trips():
    # the momentum wave runs from max_momentum down to base_momentum, i.e. "inverted"; it has
    # its own builder so that the range check of cyclic(min_value <= peak_value) holds
    m = jaxlr.cyclic(0.1, 1.0, 2, mode="triangular2", cycle_momentum=True,
                     base_momentum=0.8, max_momentum=0.9).momentum_schedule()
    config = jaxlr.to_config(m)
    assert config["name"] == "cyclic_momentum"
    back = jaxlr.from_config(config)
    np.testing.assert_array_equal(np.asarray(back(STEPS)), np.asarray(m(STEPS)))
    np.testing.assert_allclose(np.asarray(m(jnp.arange(5))), [0.9, 0.85, 0.8, 0.85, 0.9],
                               rtol=1e-6)
    assert jaxlr.to_config(jaxlr.parse(repr(m))) == config


def test_rising_schedules_stay_allowed():
    # the ordering checks only apply where the docstring promises one
    assert float(jaxlr.linear(0.0, 1.0, 10)(10)) == 1.0
    assert float(jaxlr.cosine_decay(0.1, 10, end_value=1.0)(10)) == pytest.approx(1.0)
    assert float(jaxlr.polynomial_decay(0.1, 1.0, 10)(10)) == pytest.approx(1.0)
    assert float(jaxlr.exponential_decay(1.0, 1.1, end_value=2.0)(100)) == pytest.approx(2.0)
    assert float(jaxlr.cyclic(0.5, 0.5, 3)(1)) == pytest.approx(0.5)  # min == peak is fine
    assert float(jaxlr.warmup_cosine(1.0, 2, 10, init_value=1.0, end_value=1.0)(5)) == 1.0


def test_ordering_checks_skip_traced_values():
    f = jax.jit(lambda lo: jaxlr.cyclic(lo, 0.1, 4)(0))
    assert float(f(1.0)) == pytest.approx(1.0)  # the caller's responsibility, no error


# ---- hostile or huge input: limits that fail fast, messages of bounded size ----------------

MAX_MESSAGE = jaxlr._utils._validation.MAX_MESSAGE


def test_limits_are_module_constants():
    v = jaxlr._utils._validation
    assert (v.MAX_SPEC_LENGTH, v.MAX_DEPTH, v.MAX_ECHO, v.MAX_MESSAGE) == (10_000, 32, 200, 2000)


@pytest.mark.parametrize("depth", [33, 900])  # 900 levels still fit MAX_SPEC_LENGTH
def test_parse_refuses_deep_nesting(depth):
    spec = "scale(" * depth + "constant(0.1)" + ", 1)" * depth
    with pytest.raises(ValueError, match="MAX_DEPTH = 32") as info:
        jaxlr.parse(spec)
    assert len(str(info.value)) <= MAX_MESSAGE


def test_parse_refuses_deep_lists():
    with pytest.raises(ValueError, match="MAX_DEPTH = 32"):
        jaxlr.parse("piecewise_constant(" + "[" * 4000 + "]" * 4000 + ", [1.0])")


def test_parse_accepts_nesting_up_to_the_limit():
    spec = "scale(" * 31 + "constant(0.5)" + ", 1.0)" * 31
    assert float(jaxlr.parse(spec)(0)) == pytest.approx(0.5)


def test_parse_refuses_huge_specs_with_a_short_message():
    spec = "cosine_decay(1e-3, " + "1" * 5_000_000 + ")"
    with pytest.raises(ValueError, match="MAX_SPEC_LENGTH = 10000") as info:
        jaxlr.parse(spec)
    assert len(str(info.value)) <= MAX_MESSAGE
    assert "5000020 characters" in str(info.value)


def test_parse_error_shows_a_window_of_a_long_spec_once():
    spec = "join([" + ", ".join(["constant(0.1)"] * 300) + "], [1, 2 $])"
    with pytest.raises(ValueError) as info:
        jaxlr.parse(spec)
    message = str(info.value)
    assert "unexpected character '$'" in message and len(message) <= MAX_MESSAGE
    window, caret = message.splitlines()[1:3]
    assert window[caret.index("^")] == "$"


def test_parse_error_lines_stay_aligned_with_newlines_in_the_spec():
    with pytest.raises(ValueError) as info:
        jaxlr.parse("cosine_decay(1e-3,\n\t100 $)")
    lines = str(info.value).splitlines()
    assert len(lines) == 3 and lines[1][lines[2].index("^")] == "$"


@pytest.mark.parametrize("depth", [40, 100_000])
def test_from_config_refuses_deep_nesting(depth):
    config = {"name": "constant", "value": 0.1}
    for _ in range(depth):
        config = {"name": "scale", "schedule": config, "factor": 1.0}
    with pytest.raises(ValueError, match="MAX_DEPTH = 32") as info:
        jaxlr.from_config(config)
    assert len(str(info.value)) <= MAX_MESSAGE


def test_from_config_refuses_deep_lists_and_huge_configs():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    with pytest.raises(ValueError, match="MAX_DEPTH"):
        jaxlr.from_config({"name": "piecewise_constant", "boundaries": deep, "values": [1.0]})
    with pytest.raises(ValueError, match="MAX_ITEMS = 100000"):
        jaxlr.from_config({"name": "piecewise_linear", "boundaries": list(range(200_000)),
                           "values": [1.0] * 200_000})


def test_messages_echo_huge_values_shortened():
    big = "x" * 5_000_000
    for call in (lambda: jaxlr.from_config({"name": big[:9000]}),
                 lambda: jaxlr.cyclic(0.1, 1.0, 5, mode=big),
                 lambda: jaxlr.constant(big),
                 lambda: jaxlr.parse(big[:9000] + "("),
                 lambda: jaxlr.multistep_decay(1.0, list(range(100_000))[::-1])):
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        assert len(str(info.value)) <= MAX_MESSAGE, len(str(info.value))


def test_shorten():
    shorten = jaxlr._utils._validation.shorten
    assert shorten([1, 2.5, "a", None, (3,), {"k": [1]}]) == repr([1, 2.5, "a", None, (3,),
                                                                   {"k": [1]}])
    text = shorten(list(range(100_000)))
    assert len(text) < 260 and text.endswith("(list of 100000 items)")
    assert shorten("y" * 10_000).endswith("(10000 characters)")
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert len(shorten(deep)) < 260  # no RecursionError, bounded

    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr")

    assert shorten(Broken()) == "<Broken object>"


def test_fail_bounds_every_message():
    with pytest.raises(ValueError) as info:
        jaxlr._utils._validation.fail("f", "m" * 10_000, hint="Do this.")
    message = str(info.value)
    assert len(message) <= MAX_MESSAGE and message.endswith("Do this.")
    assert "message shortened from 10012 characters" in message


# ----------------------------------------------------------------------------------------------
# describe, horizon, plot_schedule.
# ----------------------------------------------------------------------------------------------


def test_describe():
    s = jaxlr.warmup_cosine(2.0, 10, 50, end_value=0.1)
    d = jaxlr.describe(s, 60)
    v = np.asarray(s(np.arange(60)), dtype=np.float64)
    assert d["peak_value"] == pytest.approx(2.0) and d["peak_step"] == 10
    assert d["min_value"] == pytest.approx(0.0) and d["min_step"] == 0
    assert d["final_value"] == pytest.approx(0.1) and d["initial_value"] == 0.0
    assert d["auc"] == pytest.approx(v.sum()) and d["mean_value"] == pytest.approx(v.mean())
    assert d["horizon"] == 50 and d["total_steps"] == 60 and d["finite"]
    json.dumps(d)
    assert jaxlr.describe(lambda t: 0.5 * jnp.ones_like(t, jnp.float32), 4)["auc"] == 2.0


def test_horizon():
    horizon = jaxlr.schedules.horizon
    assert horizon(jaxlr.constant(1.0)) == 0
    assert horizon(jaxlr.linear(1.0, 0.0, 7)) == 7
    assert horizon(jaxlr.one_cycle(1.0, 100)) == 99
    assert horizon(jaxlr.cosine_restarts(1.0, 10, period_mult=2, num_cycles=3)) == 70
    assert horizon(jaxlr.cosine_restarts(1.0, 10)) is None
    assert horizon(jaxlr.cyclic(0.1, 1.0, 5)) is None
    assert horizon(jaxlr.exponential_decay(1.0, 0.5)) is None
    assert horizon(jaxlr.piecewise_constant([5, 9], [1.0, 0.5, 0.1])) == 9
    assert horizon(jaxlr.warmup(jaxlr.cosine_decay(1.0, 10), 5)) == 15
    assert horizon(jaxlr.join([jaxlr.constant(1.0), jaxlr.linear(1.0, 0.0, 4)], [6])) == 10
    assert horizon(jaxlr.warmup(lambda t: t, 3)) is None
    assert horizon(jaxlr.stack([jaxlr.linear(1.0, 0.0, 7), jaxlr.linear(1.0, 0.0, 9)])) == 9
    # the schedule is constant from its horizon on
    for case in CASES:
        s = case.make()
        h = horizon(s)
        if h is not None:
            probe = np.full(STEPS.shape, h, np.int32)  # same shape as STEPS: no new compile
            probe[1:4] = [h + 1, h + 17, 2**31 - 1]
            tail = np.asarray(s(probe))
            np.testing.assert_allclose(tail, tail[0], rtol=1e-6, err_msg=case.id)
    e = jaxlr.exponential_decay(1.0, 0.5, 2, end_value=0.1)
    h = horizon(e)
    assert float(e(h)) == pytest.approx(0.1) and float(e(h - 2)) > 0.1


def test_plot_schedule():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxlr.plotting import plot_schedule

    a, b = jaxlr.cosine_decay(1.0, 40), jaxlr.warmup(jaxlr.constant(0.5), 10)
    ax = plot_schedule([a, b], 50, labels=["cos", "warm"])
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["cos", "warm"]
    np.testing.assert_allclose(lines[0].get_ydata(), np.asarray(a(np.arange(50))))
    np.testing.assert_allclose(lines[1].get_xdata(), np.arange(50))
    same = plot_schedule(jaxlr.linear(1.0, 0.0, 5), 20, ax=ax)
    assert same is ax and len(ax.get_lines()) == 3
    with pytest.raises(ValueError, match=re.escape("labels=['x']")):
        plot_schedule([a, b], 10, labels=["x"])
    plt.close("all")


# ----------------------------------------------------------------------------------------------
# Properties (hypothesis).
# ----------------------------------------------------------------------------------------------

values = st.floats(0.0, 10.0, allow_nan=False, width=32)
STEPS_PROP = np.arange(0, 96, dtype=np.int32)


@settings(max_examples=15)
@given(peak=values, init=values, end=values, warmup=st.integers(0, 30),
       extra=st.integers(1, 60))
def test_property_warmup_cosine_bounds_and_continuity(peak, init, end, warmup, extra):
    init, end = min(init, peak), min(end, peak)
    s = jaxlr.warmup_cosine(peak, warmup, warmup + extra, init_value=init, end_value=end)
    v = np.asarray(s(STEPS_PROP), dtype=np.float64)
    tol = 1e-5 * max(peak, 1.0)
    assert np.all(v >= min(init, end) - tol) and np.all(v <= peak + tol)
    # continuity: no step changes by more than the steepest slope of its phases
    slope = max((peak - init) / max(warmup, 1), (peak - end) * np.pi / (2 * extra))
    assert np.all(np.abs(np.diff(v)) <= slope + tol)
    assert v[-1] == pytest.approx(end, abs=tol) or warmup + extra > STEPS_PROP[-1]


@settings(max_examples=15)
@given(lo=values, hi=values, up=st.integers(1, 20), down=st.integers(1, 20),
       mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
       gamma=st.floats(0.9, 1.0))
def test_property_cyclic_bounds(lo, hi, up, down, mode, gamma):
    lo, hi = min(lo, hi), max(lo, hi)
    v = np.asarray(jaxlr.cyclic(lo, hi, up, down, mode=mode, gamma=gamma)(STEPS_PROP))
    tol = 1e-5 * max(hi, 1.0)
    assert np.all(v >= lo - tol) and np.all(v <= hi + tol)
    assert v[0] == pytest.approx(lo, abs=tol)


@settings(max_examples=15)
@given(peak=st.floats(0.125, 10.0, width=32), total=st.integers(2, 90),
       pct=st.floats(0.05, 0.95), three=st.booleans())
def test_property_one_cycle_bounds(peak, total, pct, three):
    s = jaxlr.one_cycle(peak, total, pct_start=pct, three_phase=three)
    v = np.asarray(s(STEPS_PROP), dtype=np.float64)
    tol = 1e-5 * peak
    assert np.all(v >= peak / 25 / 1e4 - tol) and np.all(v <= peak + tol)
    assert np.all(v[total - 1:] == v[total - 1])  # clamped beyond the horizon


@settings(max_examples=10)
@given(peaks=st.lists(st.floats(0.0, 5.0, width=32), min_size=3, max_size=3),
       periods=st.lists(st.integers(1, 20), min_size=3, max_size=3),
       mults=st.lists(st.integers(1, 3), min_size=3, max_size=3))
def test_property_vmap_equals_loop(peaks, periods, mults):
    lanes = [jaxlr.cosine_restarts(p, n, period_mult=m, end_value=0.0)
             for p, n, m in zip(peaks, periods, mults)]
    batched = jax.vmap(lambda s: s(STEPS_PROP))(jaxlr.stack(lanes))
    for i, s in enumerate(lanes):
        v = np.asarray(s(STEPS_PROP))
        np.testing.assert_allclose(np.asarray(batched[i]), v, rtol=1e-6, atol=1e-7)
        assert np.all(v <= peaks[i] * (1 + 1e-6)) and np.all(v >= 0.0)


@pytest.mark.parametrize("name", sorted(jaxlr.schedules.BUILDERS))
def test_every_builder_has_a_doctest_and_references(name):
    doc = jaxlr.schedules.BUILDERS[name].__doc__ or ""
    assert ">>>" in doc, f"{name} has no doctested example"
    assert "References:" in doc, f"{name} names no paper"
    assert doc.index("References:") < doc.index("Examples:")


def test_table_reads_each_step_and_holds_the_last_value():
    values = np.geomspace(1e-4, 1.0, 37).astype(np.float32)
    s = jaxlr.schedules.table(values)
    steps = np.arange(-3, 60)
    expected = values[np.clip(steps, 0, len(values) - 1)]
    np.testing.assert_array_equal(np.asarray(s(jnp.asarray(steps))), expected)
    assert float(s(2**40)) == values[-1]          # host integers beyond int32 are clamped
    assert jaxlr.schedules.horizon(s) == 36
    # a fresh table of the same length is data: one trace for both, inside a training step
    chex.clear_trace_counter()
    f = jax.jit(chex.assert_max_traces(lambda sch, t: sch(t), n=1))
    f(s, jnp.int32(5))
    other = jaxlr.schedules.table(values[::-1].copy())
    assert float(f(other, jnp.int32(0))) == values[-1]
