"""Hostile and random input: only ValueError / TypeError escape, with messages of bounded size.

Fuzzes every entry point that reads text or plain data: ``jaxlr.parse`` (spec strings),
``jaxlr.from_config`` (schedule dicts), space strings and ``jaxlr.sweeps.space_from_config``,
``jaxlr.sweep_from_config`` (validation only: ``sweep_task`` is replaced by a sentinel, so a
config that passes validation stops right there, before any task is loaded or compiled) and the
config-file loader of ``jaxlr sweep CONFIG`` (TOML / YAML / JSON; every problem is one CLI line,
exit code 2).

There is no timing assertion: the work per example is bounded by the limits of
:mod:`jaxlr._utils._validation` (length, nesting depth, number of values), which make deep or
huge input fail fast; the deep cases below would raise ``RecursionError`` or take seconds
without them.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import string
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import jaxlr
from jaxlr._utils import _validation as validation
from jaxlr.cli import _app as cli_app
from jaxlr.cli._common import CliError
from jaxlr.sweeps import _config as sweep_config
from jaxlr.sweeps import _task as sweep_mod

MAX_MESSAGE = validation.MAX_MESSAGE
NAMES = sorted(jaxlr.schedules.BUILDERS)
ARG_NAMES = sorted({p for b in jaxlr.schedules.BUILDERS.values()
                    for p in inspect.signature(b).parameters})
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def expect_clean(call):
    """Runs ``call``: it returns, or raises ValueError / TypeError with a bounded message."""
    try:
        return call()
    except (ValueError, TypeError) as e:
        message = str(e)
        assert len(message) <= MAX_MESSAGE, (len(message), message[:300])
        assert message.split(":")[0].strip(), message
        return e


# ----------------------------------------------------------------------------------------------
# Spec strings: jaxlr.parse
# ----------------------------------------------------------------------------------------------

numbers_text = st.one_of(
    st.integers(-10**6, 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e999", "-1e999", "1_000", ".5", "1e-3", "0", "-0.1", "9" * 500, "1."]),
)
atoms = st.one_of(numbers_text, st.sampled_from(["None", "True", "False", "'linear'",
                                                 "\"cos\"", "triangular2", "x"]))


def _call(children):
    args = st.lists(st.one_of(children, st.tuples(st.sampled_from(ARG_NAMES), children).map(
        lambda kv: f"{kv[0]}={kv[1]}")), max_size=5)
    return st.one_of(
        st.tuples(st.sampled_from(NAMES), args).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.lists(children, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"))


spec_like = st.recursive(atoms, _call, max_leaves=12)
noise = st.text(alphabet=string.printable + "é∞\x00\u2028", max_size=120)


def _mutate(text: str, cut: int, junk: str) -> str:
    cut = cut % (len(text) + 1)
    return text[:cut] + junk + text[cut:]


@FUZZ
@given(spec=st.one_of(spec_like, noise,
                      st.builds(_mutate, spec_like, st.integers(0, 200),
                                st.sampled_from(["(", ")", ",", "[", "]", "=", "'", "$", ""]))))
@example(spec="cosine_decay(1e-3, " * 2000)
@example(spec="[" * 9000)
@example(spec="warmup(" * 1500 + "0.1" + ", 1)" * 1500)
@example(spec="cyclic(1e-3, 1e-1, " + "9" * 9000 + ")")
@example(spec="x" * 5_000_000)
@example(spec="'" + "a" * 9990)
@example(spec="linear(1, 0, 10)\n" * 500)
def test_parse_raises_only_clean_errors(spec):
    out = expect_clean(lambda: jaxlr.parse(spec))
    assert isinstance(out, (jaxlr.schedules.Schedule, ValueError, TypeError)), type(out)


@FUZZ
@given(depth=st.integers(33, 4000), kind=st.sampled_from(["call", "list"]))
def test_deep_specs_fail_on_the_depth_limit(depth, kind):
    if kind == "call":
        spec = "scale(" * depth + "0.1" + ", 1)" * depth
    else:
        spec = "piecewise_constant(" + "[" * depth + "]" * depth + ", [1.0])"
    with pytest.raises(ValueError) as info:
        jaxlr.parse(spec)
    assert ("MAX_DEPTH = 32" in str(info.value) or "MAX_SPEC_LENGTH" in str(info.value))
    assert len(str(info.value)) <= MAX_MESSAGE


# ----------------------------------------------------------------------------------------------
# Config dicts: jaxlr.from_config
# ----------------------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20), st.sampled_from(NAMES))


def _schedule_dicts(values):
    return st.builds(lambda name, kw: {"name": name, **kw},
                     st.one_of(st.sampled_from(NAMES), scalars),
                     st.dictionaries(st.sampled_from(ARG_NAMES), values, max_size=4))


def _containers(children):
    schedule_dict = _schedule_dicts(children)
    return st.one_of(st.lists(children, max_size=4), schedule_dict,
                     st.dictionaries(st.one_of(st.sampled_from(ARG_NAMES), st.integers(),
                                               st.text(max_size=5)), children, max_size=4))


plain = st.recursive(scalars, _containers, max_leaves=15)


def _nest(depth: int, kind: str):
    value: object = {"name": "constant", "value": 0.1}
    for _ in range(depth):
        value = ({"name": "scale", "schedule": value, "factor": 1.0} if kind == "dict"
                 else [value])
    return value


@FUZZ
@given(config=st.one_of(plain, _schedule_dicts(plain)))
@example(config={"name": "x" * 9_000})
@example(config={"name": "cyclic", "min_value": 1.0, "peak_value": 0.1, "step_size_up": 2})
def test_from_config_raises_only_clean_errors(config):
    out = expect_clean(lambda: jaxlr.from_config(config))
    assert isinstance(out, (jaxlr.schedules.Schedule, ValueError, TypeError)), type(out)


# Deep and huge cases are plain parametrized tests: hypothesis's own printer would recurse on
# them when reporting a failure.
@pytest.mark.parametrize("make", [
    lambda: _nest(5_000, "dict"),
    lambda: {"name": "piecewise_constant", "boundaries": _nest(5_000, "list"), "values": [1.0]},
    lambda: {"name": "multiply", "schedules": [_nest(40, "dict")]},
    lambda: {"name": "join", "schedules": [{"name": "constant", "value": 0.1}] * 200_000,
             "boundaries": []},
], ids=["deep-dicts", "deep-lists", "deep-in-multiply", "huge-list"])
def test_from_config_deep_or_huge_input_fails_on_a_limit(make):
    with pytest.raises(ValueError, match="MAX_DEPTH|MAX_ITEMS") as info:
        jaxlr.from_config(make())
    assert len(str(info.value)) <= MAX_MESSAGE


# ----------------------------------------------------------------------------------------------
# Search spaces: space strings and jaxlr.sweeps.space_from_config
# ----------------------------------------------------------------------------------------------

KINDS = ["loguniform", "uniform", "int_uniform", "log_int_uniform", "choice"]
space_strings = st.one_of(
    st.builds(lambda k, a, close: f"{k}({a}{')' if close else ''}",
              st.sampled_from(KINDS), st.text(alphabet="0123456789.,-e []()'\"x", max_size=40),
              st.booleans()),
    st.builds(lambda k, xs: f"{k}({', '.join(xs)})", st.sampled_from(KINDS),
              st.lists(numbers_text, max_size=4)),
    noise)
entries = st.one_of(space_strings, plain,
                    st.dictionaries(st.sampled_from(KINDS + ["type", "low", "high", "values"]),
                                    plain, max_size=3))


@FUZZ
@given(config=st.one_of(st.dictionaries(st.text(max_size=8), entries, max_size=4), plain))
@example(config={"lr": "loguniform(1e-4,"})
@example(config={"lr": "choice(" + "[" * 5000 + "]" * 5000 + ")"})
@example(config={"lr": "uniform(0, " + "9" * 9000 + ")"})
@example(config={"lr": {"loguniform": 3}})
def test_space_from_config_raises_only_clean_errors(config):
    out = expect_clean(lambda: jaxlr.sweeps.space_from_config(config))
    if isinstance(out, dict):
        for name, v in out.items():
            if isinstance(v, str):  # a constant string never looks like a dimension call
                assert not any(v.lstrip().startswith(k) and v.lstrip()[len(k):].lstrip()
                               .startswith("(") for k in KINDS), (name, v)


# ----------------------------------------------------------------------------------------------
# Sweep configs: jaxlr.sweep_from_config (validation only)
# ----------------------------------------------------------------------------------------------


class WorkStarted(Exception):
    """Raised instead of running sweep_task: the config passed validation."""


def _no_work(*args, **kwargs):
    raise WorkStarted


config_values = st.one_of(plain, space_strings, st.sampled_from(
    ["random", "grid", "pbt", "successive_halving", "tpe", "diabetes", "adam", "min", "max",
     "common", "warmup_cosine"]))
sweep_configs = st.dictionaries(
    st.one_of(st.sampled_from(sweep_config.KEYS), st.text(max_size=6)), config_values,
    max_size=6).map(lambda d: d if "space" in d or len(d) % 2 else
                    {**d, "space": {"learning_rate": "loguniform(1e-3, 1e-1)"}})


@FUZZ
@given(config=st.one_of(sweep_configs, plain))
@example(config={"space": {"learning_rate": 0.1}, "seed": "abc"})
@example(config={"space": {"learning_rate": 0.1}, "options": 3, "strategy": "pbt"})
@example(config={"space": {"learning_rate": 0.1}, "seed": 2**80})
@example(config={"space": {"learning_rate": 0.1}, "num_trials": 4, "strategy": "grid",
                 "task": "diabetes"})
def test_sweep_from_config_validates_before_any_work(config):
    with mock.patch.object(sweep_mod, "sweep_task", _no_work):
        try:
            expect_clean(lambda: jaxlr.sweep_from_config(config))
        except WorkStarted:
            pass


@pytest.mark.parametrize("make", [
    lambda: {"space": _nest(5_000, "list")},
    lambda: {"space": {"lr": 0.1}, "options": _nest(5_000, "list")},
    lambda: {"space": dict.fromkeys(map(str, range(150_000)), 0.1)},
    lambda: {"space": {"lr": 0.1}, "metric": "m" * 20_000},
], ids=["deep-space", "deep-options", "huge-space", "long-string"])
def test_sweep_from_config_deep_or_huge_input_fails_on_a_limit(make):
    with mock.patch.object(sweep_mod, "sweep_task", _no_work), \
            pytest.raises(ValueError, match="MAX_DEPTH|MAX_ITEMS|MAX_SPEC_LENGTH") as info:
        jaxlr.sweep_from_config(make())
    assert len(str(info.value)) <= MAX_MESSAGE


def test_strategy_options_match_the_strategy_signatures():
    from jaxlr.sweeps import _optuna, _strategies

    set_by_sweep_task = {"trainer", "train_fn", "space", "num_trials", "key", "metric", "mode",
                         "chunk_size", "mesh", "devices", "sampler", "static", "data"}
    for strategy, fn in [("successive_halving", _strategies.successive_halving),
                         ("pbt", _strategies.pbt), ("tpe", _optuna.optuna_search)]:
        accepted = set(inspect.signature(fn).parameters) - set_by_sweep_task
        assert accepted == set(sweep_config.STRATEGY_OPTIONS[strategy]), strategy


# ----------------------------------------------------------------------------------------------
# The config-file loader of `jaxlr sweep CONFIG` and the CLI line
# ----------------------------------------------------------------------------------------------

toml_like = st.one_of(
    st.text(alphabet=string.printable, max_size=200),
    st.lists(st.tuples(st.sampled_from(list(sweep_config.KEYS) + ["x"]),
                       st.sampled_from(["1", "0", "-3", "2.5", "true", '"abc"', '"random"',
                                        "[1, 2", "{a = 1}", "[[1]]", '"loguniform(1e-3,"',
                                        "1979-05-27", "inf", "nan", "3"])), max_size=6).map(
        lambda kvs: "".join(f"{k} = {v}\n" for k, v in kvs) + "[space]\nlearning_rate = 0.1\n"))
json_like = st.one_of(st.text(alphabet=string.printable, max_size=200),
                      plain.map(lambda v: json.dumps(v, allow_nan=True)))


def _write(suffix: str, text: str, directory: str) -> Path:
    path = Path(directory) / f"config{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@FUZZ
@given(suffix=st.sampled_from([".toml", ".yaml", ".yml", ".json", ".txt"]),
       text=st.one_of(toml_like, json_like))
@example(suffix=".json", text="[" * 100_000)
@example(suffix=".yaml", text="a: " + "[" * 100_000)
@example(suffix=".yaml", text="a: &a [*a]")
@example(suffix=".yaml", text="a: !!python/object:os.system {}")
@example(suffix=".toml", text="a = " + "[" * 100_000 + "]" * 100_000)
@example(suffix=".yaml", text="\x00\x01")
def test_config_loader_gives_a_table_or_one_line_errors(suffix, text):
    with tempfile.TemporaryDirectory() as d:
        path = _write(suffix, text, d)
        try:
            data = cli_app._load_config(path)
        except CliError as e:
            assert "\n" not in str(e) and len(str(e)) <= MAX_MESSAGE, str(e)[:300]
            return
        assert isinstance(data, dict)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(suffix=st.sampled_from([".toml", ".yaml", ".json"]), text=st.one_of(toml_like,
                                                                           json_like))
@example(suffix=".toml", text='seed = "abc"\n[space]\nlearning_rate = 0.1\n')
@example(suffix=".toml", text="options = 3\n[space]\nlearning_rate = 0.1\n")
def test_jaxlr_sweep_bad_files_are_one_cli_line_with_exit_code_2(suffix, text):
    with tempfile.TemporaryDirectory() as d, mock.patch.object(sweep_mod, "sweep_task",
                                                               _no_work):
        path = _write(suffix, text, d)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
                mock.patch.dict("os.environ", {"JAXLR_COMPILATION_CACHE": "0"}):
            code = cli_app.run(["sweep", str(path), "--out", str(Path(d) / "out")])
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        assert len(lines) == 1, err.getvalue()[:500]
        if code == 1:  # a valid config: the sentinel stopped it where training would start
            assert "WorkStarted" in lines[0], lines[0]
        else:
            assert code == 2 and lines[0].startswith("jaxlr sweep: error: "), lines[0]
        assert "Traceback" not in lines[0] and len(lines[0]) <= MAX_MESSAGE + 200
