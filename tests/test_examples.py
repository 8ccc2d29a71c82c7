"""Runs every ``examples/*.py`` as a user would: a subprocess with ``--out DIR``.

Each example checks its own claim and exits non-zero when it fails; here we check the exit
code and that it wrote at least one PNG into ``--out``. Examples are discovered, so a new
example is covered as soon as it lands.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {"fixed_vs_decay.py", "restarts_and_cyclic.py", "wsd_vs_cosine.py"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_its_claim_holds(path, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"),
               PYTHONWARNINGS="ignore::DeprecationWarning")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(path), "--out", str(out)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=600)
    log = f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, log
    assert proc.stdout.strip(), "an example prints its findings\n" + log
    assert list(out.rglob("*.png")), "no PNG written under --out\n" + log
