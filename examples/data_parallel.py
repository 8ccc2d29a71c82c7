"""Train on several devices: data-parallel ``fit`` and a finder on a ("trials", "data") mesh.

Runs on any machine: without accelerators it creates 4 virtual CPU devices
(``--xla_force_host_platform_device_count``), which is how the tests check sharding too.

1. ``jaxlr.fit(..., mesh=make_mesh(trials=1, data=4))``: every batch split over 4 devices, the
   state replicated (``shard_params=True``: split FSDP-style);
2. ``jaxlr.parallel_lr_find(..., mesh=make_mesh(trials=2, data=2))``: candidates over 2 devices,
   each candidate's batch over 2.

Claim checked (exit code 1 otherwise): both give the one-device numbers to float32 rounding
(relative 1e-4).

Usage: python examples/data_parallel.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=4").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxlr  # noqa: E402
from jaxlr.population import make_mesh  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: temp)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="jaxlr_devices_"))
    out.mkdir(parents=True, exist_ok=True)
    devices = jax.devices()[:4]
    if len(devices) < 4:
        print(f"needs 4 devices; got {len(devices)}")
        return 1
    task = jaxlr.tasks.get_task("digits-mlp")
    opt = jaxlr.adam(jaxlr.warmup_cosine(3e-3, 20, 200))
    kw = dict(steps=200, batch_size=64, key=0, valid_data=task.valid, progress=False)
    one, h1 = jaxlr.fit(task.loss, opt, task.init, task.train, **kw)
    mesh = make_mesh(trials=1, data=4, devices=devices)
    four, h4 = jaxlr.fit(task.loss, opt, task.init, task.train, mesh=mesh, **kw)
    fsdp, hf = jaxlr.fit(task.loss, opt, task.init, task.train, mesh=mesh, shard_params=True,
                         **kw)
    ok = np.allclose(h4.train["loss"], h1.train["loss"], rtol=1e-4, atol=1e-6)
    ok &= np.allclose(hf.train["loss"], h1.train["loss"], rtol=1e-4, atol=1e-6)
    print(f"fit, 200 updates: final loss 1 device {h1.train['loss'][-1]:.5f}, 4-way data "
          f"parallel {h4.train['loss'][-1]:.5f}, FSDP {hf.train['loss'][-1]:.5f}")
    split = [x.sharding.is_fully_replicated for x in jax.tree_util.tree_leaves(fsdp.params)]
    print(f"FSDP: {split.count(False)} of {len(split)} parameter arrays split over 4 devices")

    fkw = dict(num_lrs=8, num_steps=60, key=0, min_lr=1e-4, max_lr=1.0)
    a = jaxlr.parallel_lr_find(task, mesh="none", **fkw)
    b = jaxlr.parallel_lr_find(task, mesh=make_mesh(trials=2, data=2, devices=devices), **fkw)
    same = ~a.diverged
    ok &= bool((a.diverged == b.diverged).all()) and np.allclose(
        a.final_losses[same], b.final_losses[same], rtol=1e-4)
    print(f"finder, 8 rates x 60 updates on a 2x2 mesh: suggestion {b.suggestion:.3g} "
          f"(one device {a.suggestion:.3g})")
    b.plot(path=out / "finder_2x2.png")
    print(("claim holds" if ok else "CLAIM FAILS") + f": sharded runs equal one device; "
          f"outputs in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
