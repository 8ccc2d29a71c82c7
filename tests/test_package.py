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
