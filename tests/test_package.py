import importlib
import subprocess
import sys

import pytest

import jaxlr


def test_version_from_metadata():
    assert jaxlr.__version__ != "0.0.0+unknown"


def test_import_does_not_pull_host_only_libraries():
    code = ("import sys, jaxlr; bad = [m for m in ('matplotlib', 'tqdm', 'typer', 'optuna', "
            "'sklearn', 'orbax') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_public_modules_import():
    for name in ("schedules", "optim", "controllers", "engine", "population", "finder",
                 "sweeps", "tasks", "plotting", "cli"):
        assert importlib.import_module(f"jaxlr.{name}") is not None


def test_old_module_names_warn_and_name_the_replacement():
    for old, new in (("train", "engine"), ("optimizers", "optim")):
        sys.modules.pop(f"jaxlr.{old}", None)
        with pytest.warns(DeprecationWarning, match=f"jaxlr.{new}"):
            mod = importlib.import_module(f"jaxlr.{old}")
        assert mod.__all__ == importlib.import_module(f"jaxlr.{new}").__all__


def test_top_level_is_curated_and_moved_names_warn():
    names = {n for n in dir(jaxlr) if not n.startswith("_")}
    assert {"fit", "TrainState", "lr_find", "parallel_lr_find", "sweep", "sweep_task", "adam",
            "warmup_cosine", "tasks", "Task"} <= names
    # no top-level name means something else than the optax name it shadows
    import optax
    for name in ("scale", "clip", "inject_hyperparams", "reduce_on_plateau"):
        assert name not in names
        with pytest.warns(DeprecationWarning, match=f"jaxlr.[a-z]+.{name}"):
            getattr(jaxlr, name)
    # the optax names jaxlr shares mean the same thing: optimizers (positional order checked
    # below), the schedule type and an exponential-decay schedule builder
    assert names & set(dir(optax)) == {"sgd", "adam", "adamw", "rmsprop", "adagrad",
                                       "schedules", "Schedule", "exponential_decay"}
    with pytest.raises(AttributeError):
        jaxlr.no_such_name


def test_optax_named_optimizers_follow_optax_positional_order():
    import inspect

    import optax
    for name in ("sgd", "adam", "adamw", "rmsprop", "adagrad"):
        ours = [p for p, v in inspect.signature(getattr(jaxlr, name)).parameters.items()
                if v.kind is v.POSITIONAL_OR_KEYWORD]
        theirs = [p for p, v in inspect.signature(getattr(optax, name)).parameters.items()
                  if v.kind is v.POSITIONAL_OR_KEYWORD]
        assert ours == theirs[:len(ours)], (name, ours, theirs)
