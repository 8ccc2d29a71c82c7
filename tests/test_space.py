import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxlr
from jaxlr.sweeps import _space as space_lib


@settings(max_examples=15)
@given(low=st.floats(1e-8, 1e3), ratio=st.floats(1.001, 1e6), seed=st.integers(0, 1000))
def test_loguniform_samples_within_bounds(low, ratio, seed):
    high = low * ratio
    s = jaxlr.sweeps.sample_space({"lr": jaxlr.loguniform(low, high)}, 64, key=jax.random.key(seed))
    v = np.asarray(s["lr"], np.float64)
    assert v.dtype == np.float64 and s["lr"].dtype == jnp.float32
    assert (v >= low * (1 - 1e-5)).all() and (v <= high * (1 + 1e-5)).all()


def test_distributions_have_the_right_shape_of_mass():
    sp = {"lr": jaxlr.loguniform(1e-4, 1.0), "m": jaxlr.uniform(0.5, 1.0),
          "w": jaxlr.int_uniform(0, 4), "wd": jaxlr.choice([0.0, 1e-4, 1e-3])}
    s = jaxlr.sweeps.sample_space(sp, 4000, key=jax.random.key(0))
    # log-uniform: half the mass below the geometric mean 1e-2
    assert abs(float(jnp.mean(s["lr"] < 1e-2)) - 0.5) < 0.03
    assert abs(float(jnp.mean(s["m"])) - 0.75) < 0.01
    assert s["w"].dtype == jnp.int32 and sorted(np.unique(s["w"]).tolist()) == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(np.unique(np.asarray(s["wd"])), [0.0, 1e-4, 1e-3], rtol=1e-6)


def test_sampling_inside_jit_equals_eager_and_is_keyed():
    sp = {"lr": jaxlr.loguniform(1e-4, 1e-1), "w": jaxlr.int_uniform(0, 100), "b1": 0.9}
    key = jax.random.key(3)
    eager = jaxlr.sweeps.sample_space(sp, 8, key=key)
    jitted = jax.jit(lambda k: jaxlr.sweeps.sample_space(sp, 8, key=k))(key)
    np.testing.assert_allclose(eager["lr"], jitted["lr"], rtol=2e-6)  # exp fused under jit
    np.testing.assert_array_equal(eager["w"], jitted["w"])
    np.testing.assert_array_equal(eager["b1"], jitted["b1"])
    assert np.all(np.asarray(eager["b1"]) == np.float32(0.9))
    other = jaxlr.sweeps.sample_space(sp, 8, key=jax.random.key(4))
    assert not np.array_equal(np.asarray(eager["lr"]), np.asarray(other["lr"]))


def test_static_choice_is_host_side_and_refused_inside_jit():
    c = jaxlr.choice(["adam", "sgd"])
    assert c.static and not jaxlr.choice([1, 2]).static and jaxlr.choice([1, 2], static=True).static
    s = jaxlr.sweeps.sample_space({"opt": c, "lr": jaxlr.loguniform(1e-3, 1e-1)}, 16,
                           key=jax.random.key(0))
    assert s["opt"].dtype == object and set(s["opt"]) == {"adam", "sgd"}
    with pytest.raises(ValueError, match="static"):
        jax.jit(lambda k: jaxlr.sweeps.sample_space({"opt": c}, 4, key=k))(jax.random.key(0))


def test_grid_is_the_cartesian_product_in_order():
    g = jaxlr.grid({"lr": [1e-3, 1e-2], "warmup_steps": [0, 10, 20], "opt": "adam",
                    "wd": jaxlr.loguniform(1e-5, 1e-3)}, num=3)
    assert len(g) == 2 * 3 * 3
    assert g.columns["warmup_steps"].dtype == np.int32
    np.testing.assert_allclose(g.columns["lr"][:9], 1e-3)
    np.testing.assert_allclose(np.unique(g.columns["wd"]), [1e-5, 1e-4, 1e-3], rtol=1e-5)
    assert g.space["wd"]["log"] and set(g.columns["opt"]) == {"adam"}
    combos = {(float(a), int(b), float(c)) for a, b, c in
              zip(g.columns["lr"], g.columns["warmup_steps"], g.columns["wd"])}
    assert len(combos) == len(g)


def test_grid_needs_points_for_continuous_dimensions():
    with pytest.raises(ValueError, match=re.escape("num=5")):
        jaxlr.grid({"lr": jaxlr.loguniform(1e-4, 1e-1)})


def test_explicit_trials_from_columns():
    g = jaxlr.Grid.from_columns({"lr": [1e-3, 1e-2], "opt": ["adam", "sgd"]})
    assert len(g) == 2 and g.columns["opt"].dtype == object
    with pytest.raises(ValueError, match="same length"):
        jaxlr.Grid.from_columns({"lr": [1e-3, 1e-2], "wd": [0.0]})


def test_quasi_random_designs_cover_the_space():
    np.testing.assert_allclose(space_lib.halton_points(3, 2),
                               [[0.5, 1 / 3], [0.25, 2 / 3], [0.75, 1 / 9]])
    sp = {"a": jaxlr.uniform(0.0, 1.0), "b": jaxlr.uniform(0.0, 1.0)}
    for method in ("halton", "sobol"):
        s = jaxlr.sweeps.sample_space(sp, 64, key=jax.random.key(0), method=method)
        a, b = np.asarray(s["a"]), np.asarray(s["b"])
        # every cell of a 4x4 partition is hit (random sampling misses some far more often)
        cells = {(int(x * 4), int(y * 4)) for x, y in zip(a, b)}
        assert len(cells) == 16, method


@pytest.mark.parametrize("build, match", [
    (lambda: jaxlr.loguniform(0.0, 1.0), "positive bounds"),
    (lambda: jaxlr.loguniform(-1e-3, 1.0), "low=-0.001"),
    (lambda: jaxlr.uniform(1.0, 1.0), "empty or inverted"),
    (lambda: jaxlr.uniform(2.0, 1.0), "low=2.0, high=1.0"),
    (lambda: jaxlr.int_uniform(5, 1), "empty or inverted"),
    (lambda: jaxlr.int_uniform(0.5, 3), "integer"),
    (lambda: jaxlr.choice([]), "empty"),
    (lambda: jaxlr.choice("adam"), "list"),
    (lambda: jaxlr.uniform(0.0, float("inf")), "finite"),
    (lambda: jaxlr.sweeps.sample_space({"lr": jaxlr.loguniform(1e-3, 1e-1)}, 0,
                                key=jax.random.key(0)), "num_trials=0"),
    (lambda: jaxlr.sweeps.sample_space({}, 4, key=jax.random.key(0)), "empty"),
    (lambda: jaxlr.sweeps.sample_space({"a": jaxlr.uniform(0, 1)}, 4, key=jax.random.key(0),
                                method="lhs"), "method='lhs'"),
])
def test_bad_input_is_a_clear_error(build, match):
    with pytest.raises((ValueError, TypeError), match=re.escape(match)):
        build()


def test_space_from_config_accepts_every_form():
    sp = jaxlr.sweeps.space_from_config({
        "learning_rate": "loguniform(1e-4, 1e-1)",
        "momentum": {"type": "uniform", "low": 0.8, "high": 0.99},
        "warmup_steps": {"int_uniform": [0, 50]},
        "weight_decay": [0.0, 1e-4],
        "factor": {"choice": [0.1, 0.5]},
        "optimizer": "adamw", "b1": 0.9, "nested": "choice([1, 2])"})
    assert sp["learning_rate"] == jaxlr.loguniform(1e-4, 1e-1)
    assert sp["momentum"] == jaxlr.uniform(0.8, 0.99)
    assert sp["warmup_steps"] == jaxlr.int_uniform(0, 50)
    assert sp["weight_decay"].values == (0.0, 1e-4) and sp["factor"].values == (0.1, 0.5)
    assert sp["optimizer"] == "adamw" and sp["b1"] == 0.9 and sp["nested"].values == (1, 2)
    with pytest.raises(ValueError, match="unknown dimension type 'normal'"):
        jaxlr.sweeps.space_from_config({"x": {"normal": [0, 1]}})
    with pytest.raises(ValueError, match="positive bounds"):
        jaxlr.sweeps.space_from_config({"x": "loguniform(0, 1)"})


# ---- bad config entries fail early, naming the entry and the expected form ------------------

@pytest.mark.parametrize("entry, error, parts", [
    ("loguniform(1e-4,", ValueError, ["entry 'x'", "cannot parse 'loguniform(1e-4,'",
                                      "'loguniform(1e-4, 1e-1)'"]),
    ("uniform (0.1, 0.2", ValueError, ["entry 'x'", "cannot parse"]),
    ("choice([1, 2)", ValueError, ["entry 'x'", "cannot parse"]),
    ("int_uniform(0, 10, 20)", ValueError, ["entry 'x'", "int_uniform needs two bounds"]),
    ("loguniform(a, b)", ValueError, ["entry 'x'", "cannot parse"]),
    ("loguniform(0, 1)", ValueError, ["entry 'x'", "loguniform", "positive bounds"]),
    ("loguniform('a', 'b')", TypeError, ["entry 'x'", "`low` must be a real number"]),
    ("uniform(0, " + "9" * 5000 + ")", ValueError, ["entry 'x'", "cannot parse"]),
    ("loguniform(1, 1e39)", ValueError, ["entry 'x'", "float32"]),
    ("int_uniform(0, 3000000000)", ValueError, ["entry 'x'", "int32"]),
    ("choice([[1], [2]])", TypeError, ["entry 'x'", "numbers, strings or booleans"]),
    ("choice()", ValueError, ["entry 'x'", "empty"]),
    ({"loguniform": 3}, TypeError, ["entry 'x'", "needs [low, high] or a table", "got 3"]),
    ({"uniform": [1]}, ValueError, ["entry 'x'", "needs [low, high]"]),
    ({"type": ["uniform"], "low": 0, "high": 1}, TypeError, ["unknown dimension type"]),
    ({"type": "uniform", "lo": 0, "high": 1}, TypeError, ["entry 'x'", "bad arguments"]),
    ({"type": "uniform", 1: 0}, TypeError, ["entry 'x'", "argument names must be strings"]),
    ({"choice": 5}, TypeError, ["entry 'x'", "`values` must be a list"]),
    ([[0.1], [0.2]], TypeError, ["entry 'x'", "numbers, strings or booleans"]),
    (object(), TypeError, ["entry 'x'", "must be a number, a string, a list or a table"]),
    ("loguniform(" + "1" * 20_000 + ")", ValueError, ["MAX_SPEC_LENGTH = 10000"]),
])
def test_space_from_config_bad_entries_name_the_entry(entry, error, parts):
    with pytest.raises(error) as info:
        jaxlr.sweeps.space_from_config({"x": entry})
    message = str(info.value)
    assert message.startswith("space_from_config:") and len(message) <= 2000
    for part in parts:
        assert part in message, (part, message)


def test_space_from_config_plain_strings_stay_constants():
    sp = jaxlr.sweeps.space_from_config({"optimizer": "adamw", "note": "uniformly (hand-picked)",
                                  "call_like": "loguniformish(1, 2)"})
    assert sp == {"optimizer": "adamw", "note": "uniformly (hand-picked)",
                  "call_like": "loguniformish(1, 2)"}


def test_space_from_config_refuses_deep_or_huge_input():
    deep: list = [0.1]
    for _ in range(10_000):
        deep = [deep]
    for config in ({"x": deep}, {"x": {"choice": deep}},
                   {"x": "choice(" + "[" * 60 + "1" + "]" * 60 + ")"}):
        with pytest.raises(ValueError, match="MAX_DEPTH = 32"):
            jaxlr.sweeps.space_from_config(config)
    with pytest.raises(ValueError, match="MAX_ITEMS"):
        jaxlr.sweeps.space_from_config({f"k{i}": 0.1 for i in range(100_001)})
    with pytest.raises(TypeError, match="names must be strings"):
        jaxlr.sweeps.space_from_config({1: 0.1})


def test_range_errors_do_not_leak_overflow():
    with pytest.raises(ValueError, match="finite"):
        jaxlr.loguniform(1, 10 ** 400)
    with pytest.raises(ValueError, match="float32"):
        jaxlr.uniform(-3e38, 3e38)
