"""The ``jaxlr`` command: every command, its outputs, and bad input (one line, exit code 2).

Commands run in-process through :func:`jaxlr.cli.run` (fast: no interpreter start-up, programs
compiled once per test session); two subprocess tests check the real entry points. Sizes are
tiny (a few candidates, tens of steps) to keep the file fast.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

import jaxlr
from jaxlr import cli
from jaxlr.cli import _app as cli_app


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    # In-process runs must not turn on the persistent cache for the rest of the test session.
    monkeypatch.setenv("JAXLR_COMPILATION_CACHE", "0")
    monkeypatch.delenv("JAXLR_DEBUG", raising=False)


def run(capsys, *args):
    code = cli.run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *needles):
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


# ---- help ---------------------------------------------------------------------------------------

def test_help_lists_commands_and_examples(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("schedule", "find", "compare", "sweep", "tasks", "Examples", "--no-cache"):
        assert name in out


@pytest.mark.parametrize("command", ["schedule", "find", "compare", "sweep", "tasks"])
def test_every_command_has_help_with_examples(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "Examples:" in out or "Example:" in out
    assert f"jaxlr {command}" in out


def test_no_arguments_shows_help(capsys):
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert "Usage: jaxlr" in out and "Commands:" in out


# ---- schedule -----------------------------------------------------------------------------------

def test_schedule_table_plot_and_compare(capsys, tmp_path):
    png = tmp_path / "lr.png"
    code, out, _ = run(capsys, "schedule", "warmup(cosine_decay(1.0, 80), 20)", "--steps", 100,
                       "--compare", "linear(1.0, 0.0, 100)", "--at", "0,10,20,60,99",
                       "--out", png)
    assert code == 0
    assert png.exists() and png.stat().st_size > 1000
    assert "[0] warmup(cosine_decay(1.0, 80), 20)" in out and "[1] linear" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.strip() and line.split()[0].isdigit()}
    assert float(rows["10"][0]) == pytest.approx(0.5)      # half-way through the warm-up
    assert float(rows["20"][0]) == pytest.approx(1.0)      # peak right after it
    assert float(rows["60"][1]) == pytest.approx(0.4)      # linear 1 -> 0 over 100 steps


def test_schedule_json(capsys):
    code, out, _ = run(capsys, "schedule", "step_decay(1.0, 10, 0.5)", "--steps", 30, "--json")
    assert code == 0
    data = json.loads(out)
    s = data["schedules"][0]
    assert s["config"]["name"] == "step_decay"
    assert s["summary"]["final_value"] == pytest.approx(0.25)
    assert s["values"]["0"] == pytest.approx(1.0)


def test_schedule_quiet_prints_nothing(capsys, tmp_path):
    code, out, _ = run(capsys, "schedule", "0.1", "--quiet", "--out", tmp_path / "a.png")
    assert code == 0 and out == ""
    assert (tmp_path / "a.png").exists()


@pytest.mark.parametrize("args, needle", [
    (["schedule", "cosine_decay(1e-3,"], "bad schedule SPEC"),
    (["schedule", "foo(1)"], "unknown schedule 'foo'"),
    (["schedule", "cosine_decay(1e-3, -5)"], "decay_steps"),
    (["schedule", "0.1", "--compare", "bar(2)"], "--compare"),
    (["schedule", "0.1", "--at", "a,b"], "--at"),
    (["schedule", "0.1", "--steps", "0"], "--steps must be >= 1"),
    (["schedule", "0.1", "--steps", "ten"], "Invalid value for '--steps'"),
    (["schedule"], "Missing argument"),
    (["schedule", "0.1", "--bogus"], "No such option"),
    (["nosuchcommand"], "No such command"),
    # a negative SPEC reaches the spec parser instead of being read as an option "-0"
    (["schedule", "-0.1"], "value=-0.1"),
    (["schedule", "-0.1", "--steps", "10"], "value=-0.1"),
    (["schedule", "--steps", "10", "--", "-1e-3"], "value=-0.001"),
    (["schedule", "-.5", "--json"], "value=-0.5"),
    (["schedule", "0.1", "--compare", "-0.5"], "--compare"),
    (["schedule", "0.1", "--steps", "-5"], "--steps must be >= 1"),
    (["schedule", "cyclic(1.0, 0.1, 5)"], "min_value=1.0, peak_value=0.1"),
    (["schedule", "scale(" * 40 + "0.1" + ", 1)" * 40], "MAX_DEPTH = 32"),
    (["schedule", "x" * 1_000_000], "MAX_SPEC_LENGTH"),
])
def test_schedule_and_usage_errors_are_one_line(capsys, args, needle):
    assert_one_line_error(*run(capsys, *args), needle)


# ---- find ---------------------------------------------------------------------------------------

def test_find_parallel_writes_plot_and_json(capsys, tmp_path):
    code, out, _ = run(capsys, "find", "--task", "diabetes", "--candidates", 6, "--seeds", 2,
                       "--mode", "parallel", "--steps", 20, "--min-lr", "1e-4", "--max-lr",
                       "10", "--out", tmp_path)
    assert code == 0
    assert "suggested learning rate:" in out and "range for cyclic / one_cycle:" in out
    assert (tmp_path / "finder.png").stat().st_size > 1000
    data = json.loads((tmp_path / "finder.json").read_text())
    assert data["method"] == "parallel" and len(data["lrs"]) == 6
    assert data["task"] == "diabetes" and 1e-4 <= data["suggestion"] <= 10
    lo, hi = data["suggest_range"]
    assert lo < hi == pytest.approx(data["suggestions"]["best_final"])


def test_find_target_steps_uses_the_horizon_rule(capsys, tmp_path):
    code, out, _ = run(capsys, "find", "--task", "diabetes", "--candidates", 6, "--seeds", 2,
                       "--mode", "parallel", "--steps", 20, "--min-lr", "1e-4", "--max-lr",
                       "10", "--target-steps", 400, "--out", tmp_path, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["default_rule"] == "horizon"
    assert data["suggestion"] == pytest.approx(data["suggestions"]["horizon"])


def test_find_multi_is_jaxlr_find_with_the_same_suggestion(capsys, tmp_path):
    code, out, err = run(capsys, "find", "--task", "diabetes", "--target-steps", 200,
                         "--budget", 2, "--schedule", "warmup_cosine(1.0, 20, 200)", "--seed",
                         3, "--out", tmp_path, "--json")
    assert code == 0, err
    data = json.loads(out)
    task = jaxlr.tasks.get_task("diabetes")
    ours = jaxlr.find(task, target_steps=200, budget=2.0, key=3,
                      schedule=jaxlr.warmup_cosine(1.0, 20, 200))
    assert data["mode"] == "multi" and data["suggestion"] == ours.suggestion
    assert data["compute"] <= 2.0 and 0 < data["horizon_fraction"] <= 1
    saved = json.loads((tmp_path / "finder.json").read_text())
    assert saved["suggestion"] == ours.suggestion and len(saved["rungs"]) == len(ours.rungs)
    assert (tmp_path / "finder.png").stat().st_size > 1000
    code, out, _ = run(capsys, "find", "--task", "diabetes", "--target-steps", 200,
                       "--budget", 2, "--schedule", "warmup_cosine(1.0, 20, 200)", "--seed",
                       3, "--out", tmp_path)
    assert code == 0 and "suggestion:" in out and "stability margin" in out


def test_find_range_mode_json(capsys, tmp_path):
    code, out, _ = run(capsys, "find", "--task", "diabetes", "--mode", "range", "--steps", 100,
                       "--optimizer", "sgd", "--out", tmp_path, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["mode"] == "range" and data["default_rule"] in data["suggestions"]
    assert data["suggestion"] > 0 and os.path.exists(data["plot"])
    assert json.loads((tmp_path / "finder.json").read_text())["method"] == "range_test"


def test_find_user_task_module_function(capsys, tmp_path, monkeypatch):
    (tmp_path / "my_lin_task.py").write_text(textwrap.dedent("""
        import jax, jax.numpy as jnp

        def make():
            x = jax.random.normal(jax.random.key(0), (128, 3))
            y = x @ jnp.array([1.0, -2.0, 0.5])
            init = lambda key: {"w": jnp.zeros(3)}
            loss = lambda p, b: jnp.mean((b[0] @ p["w"] - b[1]) ** 2)
            return init, loss, (x, y)

        not_callable = 3
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "find", "--task", "my_lin_task:make", "--candidates", 4,
                         "--seeds", 1, "--target-steps", 60, "--budget", 2, "--batch-size", 16,
                         "--optimizer", "sgd",
                         "--min-lr", "1e-3", "--max-lr", "1", "--out", out_dir, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["task"] == "my_lin_task:make" and 1e-3 <= data["suggestion"] <= 1
    assert (out_dir / "finder.png").exists()
    assert_one_line_error(*run(capsys, "find", "--task", "my_lin_task:nothing"), "no function")
    assert_one_line_error(*run(capsys, "find", "--task", "my_lin_task:not_callable"),
                          "no function")


@pytest.mark.parametrize("args, needle", [
    (["--min-lr", "1", "--max-lr", "0.1"], "--min-lr must be smaller than --max-lr"),
    (["--min-lr", "-1"], "--min-lr must be a finite number > 0"),
    (["--max-lr", "big"], "--max-lr must be a number"),
    (["--optimizer", "adamx"], "unknown optimizer 'adamx'"),
    (["--task", "nope"], "unknown task 'nope'"),
    (["--task", "no_such_module_xyz:f"], "cannot import module"),
    (["--task", ":f"], "MODULE:FUNCTION"),
    (["--mode", "fast"], "--mode must be 'multi', 'parallel' or 'range'"),
    (["--candidates", "0"], "--candidates must be >= 3"),
    (["--mode", "parallel", "--candidates", "0"], "--candidates must be >= 1"),
    (["--mode", "parallel", "--steps", "5"], "--steps must be >= 10"),
    (["--steps", "50"], "--steps is for --mode parallel / range"),
    (["--batch-size", "100000"], "batch_size"),
    (["--target-steps", "0"], "--target-steps must be >= 16"),
    (["--mode", "range", "--target-steps", "1000"], "--target-steps needs --mode multi"),
    (["--budget", "0"], "--budget must be a finite number > 0"),
    (["--budget", "0.001"], "Raise `budget`"),
    (["--mode", "parallel", "--budget", "2"], "--budget needs --mode multi"),
    (["--schedule", "cosine_decay(1.0,"], "bad schedule --schedule"),
])
def test_find_bad_input(capsys, tmp_path, args, needle):
    assert_one_line_error(*run(capsys, "find", *args, "--out", tmp_path), needle)


# ---- compare ------------------------------------------------------------------------------------

def test_compare_trains_each_schedule(capsys, tmp_path):
    code, out, err = run(capsys, "compare", "--task", "diabetes", "--schedule", "1e-4",
                       "--schedule", "warmup(cosine_decay(0.01, 25), 5)", "--steps", 30,
                       "--seeds", 2, "--out", tmp_path, "--json")
    assert code == 0, err
    data = json.loads(out)
    names = [s["spec"] for s in data["schedules"]]
    assert names == ["1e-4", "warmup(cosine_decay(0.01, 25), 5)"]
    tiny, decayed = data["schedules"]
    assert decayed["final_loss"] < tiny["final_loss"]   # 1e-4 barely moves in 30 steps
    assert data["best"] == names[1]
    assert (tmp_path / "compare.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert len(saved["lrs"]) == 2 and len(saved["lrs"][0]) == 30


def test_compare_table(capsys, tmp_path):
    code, out, _ = run(capsys, "compare", "--task", "diabetes", "--schedule", "0.003",
                       "--steps", 20, "--out", tmp_path)
    assert code == 0
    assert "final loss" in out and "late oscillation" in out and "lowest final loss: 0.003" in out


@pytest.mark.parametrize("args, needle", [
    (["--schedule", "cosine("], "bad schedule --schedule"),
    (["--optimizer", "lion"], "unknown optimizer 'lion'"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--task", "digits"], "unknown task 'digits'"),
])
def test_compare_bad_input(capsys, tmp_path, args, needle):
    assert_one_line_error(*run(capsys, "compare", *args, "--out", tmp_path), needle)


# ---- sweep --------------------------------------------------------------------------------------

TOML = """
task = "diabetes"
strategy = "random"
num_trials = 3
steps = 20
seed = 1

[space]
learning_rate = "loguniform(1e-3, 1e-1)"
"""

YAML = """
task: diabetes
strategy: grid
steps: 20
space:
  learning_rate: [0.001, 0.01]
"""


def test_sweep_toml(capsys, tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(TOML)
    code, out, _ = run(capsys, "sweep", cfg, "--out", tmp_path / "o")
    assert code == 0
    assert "learning_rate" in out and "best (valid_loss, min)" in out
    data = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert len(data["metrics"]["valid_loss"]) == 3
    assert (tmp_path / "o" / "sweep.csv").read_text().count("\n") >= 4
    assert (tmp_path / "o" / "sweep_metric.png").exists()


def test_sweep_yaml_json(capsys, tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(YAML)
    code, out, _ = run(capsys, "sweep", cfg, "--out", tmp_path / "o", "--json", "--top", 1)
    assert code == 0
    data = json.loads(out)
    assert data["num_trials"] == 2 and data["strategy"] == "grid"
    assert data["best_config"]["learning_rate"] in (pytest.approx(0.001), pytest.approx(0.01))
    assert len(data["top"]) == 1


SPACE = '[space]\nlearning_rate = "loguniform(1e-3, 1e-1)"\n'


@pytest.mark.parametrize("name, text, needle", [
    ("missing.toml", None, "does not exist"),
    ("missing.cfg", None, "does not exist"),
    ("s.ini", "{}", "must be a .toml, .yaml, .yml or .json file"),
    ("s.toml", "task = [", "cannot parse TOML"),
    ("s.yaml", "a: [1, 2", "cannot parse YAML"),
    ("s.yaml", "- 1\n- 2\n", "must be a mapping"),
    ("s.json", "[1, 2]", "must be a mapping"),
    ("s.json", '{"task": ', "cannot parse JSON"),
    ("s.json", "[" * 100_000 + "]" * 100_000, "cannot parse JSON"),
    ("s.yaml", "a: " + "[" * 100_000, "cannot parse YAML"),
    ("s.toml", "a = " + "[" * 100_000 + "]" * 100_000, "cannot parse TOML"),
    ("s.toml", "metric = " + "[" * 100 + "]" * 100 + "\n" + SPACE, "MAX_DEPTH"),
    ("s.toml", "a = 1\n" * 200_000, "more than 1000000"),
    ("s.yaml", "task: diabetes\n1: 2\n", "config keys must be strings"),
    ("s.toml", 'task = "diabetes"\ncolour = 1\n[space]\nlearning_rate = 0.1\n',
     "unknown keys ['colour']"),
    ("s.toml", 'task = "diabetes"\n', "space"),
    # every key is validated (kind and range) before any work starts, naming the key
    ("s.toml", 'seed = "abc"\n' + SPACE, "`seed` must be an integer; got seed='abc'"),
    ("s.toml", "num_trials = 0\n" + SPACE, "`num_trials` must be an integer in [1,"),
    ("s.toml", "num_trials = 2.5\n" + SPACE, "num_trials=2.5"),
    ("s.toml", "steps = true\n" + SPACE, "`steps` must be an integer"),
    ("s.toml", 'strategy = "rand"\nnum_trials = 2\n' + SPACE, "strategy='rand'"),
    ("s.toml", "options = 3\nnum_trials = 2\nstrategy = \"pbt\"\n" + SPACE,
     "`options` must be a table"),
    ("s.toml", "num_trials = 2\n[options]\neta = 3\n" + SPACE, "takes no options"),
    ("s.toml", 'strategy = "successive_halving"\nnum_trials = 4\n[options]\netta = 3\n'
     + SPACE, "unknown option(s) ['etta']"),
    ("s.toml", 'strategy = "successive_halving"\nnum_trials = 4\n[options]\neta = 1\n'
     + SPACE, "options.eta"),
    ("s.toml", 'optimizer = "adamx"\nnum_trials = 2\n' + SPACE, "optimizer='adamx'"),
    ("s.toml", 'schedule = "cosine"\nnum_trials = 2\n' + SPACE, "schedule='cosine'"),
    ("s.toml", 'mode = "minimum"\nnum_trials = 2\n' + SPACE, "mode='minimum'"),
    ("s.toml", 'strategy = "random"\n' + SPACE, "needs `num_trials`"),
    ("s.toml", 'num_trials = 2\nfolds = 1\n' + SPACE, "`folds` must be an integer in [2,"),
    ("s.toml", 'num_trials = 2\nspace = 3\n', "`space` must be a table"),
    ("s.toml", 'num_trials = 2\n[space]\nlearning_rate = "loguniform(1e-4,"\n',
     "entry 'learning_rate': cannot parse 'loguniform(1e-4,'"),
    ("s.toml", 'num_trials = 2\n[space]\nlearning_rate = {loguniform = 3}\n',
     "entry 'learning_rate'"),
])
def test_sweep_bad_config(capsys, tmp_path, monkeypatch, name, text, needle):
    import jaxlr.sweeps._task as sweep_mod

    def no_work(*args, **kwargs):
        raise AssertionError("training started before the config was validated")

    monkeypatch.setattr(sweep_mod, "sweep_task", no_work)
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    code, out, err = run(capsys, "sweep", path, "--out", tmp_path / "o")
    assert_one_line_error(code, out, err, needle)
    assert len(err) < 2100


def test_sweep_config_that_is_a_directory_or_binary(capsys, tmp_path):
    (tmp_path / "d.toml").mkdir()
    assert_one_line_error(*run(capsys, "sweep", tmp_path / "d.toml"), "cannot read")
    (tmp_path / "b.yaml").write_bytes(b"\xff\xfe\x00task")
    assert_one_line_error(*run(capsys, "sweep", tmp_path / "b.yaml"), "not UTF-8")


def test_sweep_json_config(capsys, tmp_path):
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"task": "diabetes", "strategy": "grid", "steps": 20,
                               "space": {"learning_rate": [0.001, 0.01]}}))
    code, out, err = run(capsys, "sweep", cfg, "--out", tmp_path / "o", "--json")
    assert code == 0, err
    assert json.loads(out)["num_trials"] == 2


# ---- errors that are not bad input: one line, exit code 1, a traceback on request -------------

@pytest.mark.parametrize("exc, shown", [
    (RuntimeError("boom"), "RuntimeError: boom"),
    (KeyError("missing"), "KeyError: 'missing'"),
    (ZeroDivisionError("x" * 100_000), "ZeroDivisionError: xxx"),
])
def test_unexpected_errors_are_one_line_with_exit_code_1(capsys, monkeypatch, exc, shown):
    def broken(*args):
        raise exc

    monkeypatch.setattr(cli_app, "_tasks_impl", broken)
    code, out, err = run(capsys, "tasks")
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"jaxlr tasks: error: {shown}")
    assert "--traceback" in lines[0] and "JAXLR_DEBUG=1" in lines[0]
    assert len(lines[0]) < 1200


def test_traceback_option_and_debug_env_show_the_real_error(capsys, monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_app, "_tasks_impl", broken)
    with pytest.raises(RuntimeError, match="boom"):
        run(capsys, "--traceback", "tasks")
    code, _, err = run(capsys, "tasks")  # the option does not stick to the next run
    assert code == 1 and "RuntimeError: boom" in err
    monkeypatch.setenv("JAXLR_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        run(capsys, "tasks")
    monkeypatch.setenv("JAXLR_DEBUG", "0")
    assert run(capsys, "tasks")[0] == 1


def test_bad_input_with_traceback_option_raises_the_library_error(capsys):
    with pytest.raises(Exception, match="bad schedule SPEC"):
        run(capsys, "--traceback", "schedule", "foo(1)")


def test_error_outside_a_command_is_one_line(capsys, monkeypatch):
    def broken(cache_dir=None):
        raise OSError("disk on fire")

    monkeypatch.setenv("JAXLR_COMPILATION_CACHE", "1")
    monkeypatch.setattr(cli_app, "enable_compilation_cache", broken)
    code, out, err = run(capsys, "schedule", "0.1")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("jaxlr: error: OSError: disk on fire")


def test_exit_and_abort_from_a_command_pass_through(capsys, monkeypatch):
    import typer

    def leave(*args):
        raise typer.Exit(3)

    monkeypatch.setattr(cli_app, "_tasks_impl", leave)
    assert run(capsys, "tasks")[0] == 3

    def abort(*args):
        raise typer.Abort()

    monkeypatch.setattr(cli_app, "_tasks_impl", abort)
    code, _, err = run(capsys, "tasks")
    assert code == 130 and "aborted" in err


def test_cli_uses_only_public_typer_and_jax_api():
    import inspect

    source = inspect.getsource(cli_app) + inspect.getsource(
        __import__("jaxlr.cli._common", fromlist=["x"]))
    assert "typer._click" not in source and "jax._src" not in source
    assert "import click" not in source.replace("        import click\n\n        base", "")


# ---- tasks --------------------------------------------------------------------------------------

def test_tasks_lists_builtin_tasks(capsys):
    code, out, _ = run(capsys, "tasks", "--json")
    assert code == 0
    names = [t["name"] for t in json.loads(out)]
    assert names == ["diabetes", "digits-cnn", "digits-mlp", "teacher-student", "transformer",
                     "transformer-tiny"]


# ---- compilation cache and entry points ------------------------------------------------------

def test_cache_is_enabled_by_default_and_can_be_turned_off(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("JAXLR_COMPILATION_CACHE")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("JAXLR_CACHE_DIR", str(tmp_path / "cache"))
    before = (jax.config.jax_compilation_cache_dir,
              jax.config.jax_persistent_cache_min_compile_time_secs,
              jax.config.jax_persistent_cache_min_entry_size_bytes)
    try:
        assert run(capsys, "--no-cache", "schedule", "0.1")[0] == 0
        assert jax.config.jax_compilation_cache_dir == before[0]
        assert run(capsys, "schedule", "0.1")[0] == 0
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
        assert (tmp_path / "cache").is_dir()
    finally:
        jax.config.update("jax_compilation_cache_dir", before[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", before[2])


@pytest.mark.slow
def test_python_dash_m_entry_point_and_exit_codes(tmp_path):
    env = dict(os.environ, JAXLR_CACHE_DIR=str(tmp_path / "cache"))
    ok = subprocess.run([sys.executable, "-m", "jaxlr", "schedule", "cosine_decay(1.0, 10)",
                         "--steps", "10", "--json"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["schedules"][0]["summary"]["peak_value"] == 1.0
    bad = subprocess.run([sys.executable, "-m", "jaxlr", "schedule", "cosine_decay("],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["sweep.toml", "sweep.yaml"])
def test_shipped_sweep_configs_are_valid(name):
    import jaxlr
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "configs" / name
    cfg = cli_app._load_config(path)
    space = jaxlr.sweeps.space_from_config(cfg["space"])
    assert "learning_rate" in space
    allowed = {"task", "space", "strategy", "num_trials", "optimizer", "schedule", "steps",
               "batch_size", "metric", "mode", "folds", "seeds", "chunk_size", "grid_points",
               "seed", "options"}
    assert set(cfg) <= allowed
