"""Executes every notebook in ``examples/notebooks/`` top to bottom so they never rot.

Notebooks are stored as jupytext percent-format scripts; each is converted with jupytext and
run with nbclient on an IPython kernel of *this* interpreter (a kernel spec written to a
temporary ``JUPYTER_PATH``, so no kernel needs to be installed by hand).
"""

import json
import os
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "examples" / "notebooks")
                   .glob("*.py"))
KERNEL = "jaxlr-test-python3"


def test_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} >= {"finder", "schedules", "sweep"}


@pytest.fixture
def kernel_spec(tmp_path, monkeypatch):
    """A kernel spec that launches ipykernel with the interpreter running the tests."""
    pytest.importorskip("ipykernel")
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "jaxlr tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter") + os.pathsep
                       + os.environ.get("JUPYTER_PATH", ""))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("JAX_PLATFORMS", os.environ.get("JAX_PLATFORMS", "cpu"))
    return KERNEL


@pytest.mark.slow
@pytest.mark.standard_promotion  # the kernel is another process; nothing runs in this one
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path, kernel_spec):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, kernel_name=kernel_spec, timeout=600,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError (with the cell and traceback) on failure
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and all(c.get("execution_count") for c in code_cells)
    errors = [o for c in code_cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
