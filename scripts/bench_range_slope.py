"""Per-update cost and fixed per-call cost of ``jaxlr.lr_find``, for comparing two trees.

Times ``jaxlr.lr_find(task, num_steps=n, key=0)`` on the digits MLP at n = 100 and 800 updates
(compiled once, best of ``--repeat`` calls each); the slope between them is the program's cost
per update, the intercept the fixed cost of a call (checks, data placement, the result). Run it
alternately with each tree on ``PYTHONPATH`` (fresh processes), as for
``scripts/bench_fit_steady.py``. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jaxlr  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="jaxlr")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)
    task = jaxlr.tasks.get_task("digits-mlp")
    best = {}
    for n in (100, 800):
        def call():
            np.asarray(jaxlr.lr_find(task, num_steps=n, key=0).losses)

        call()
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        best[n] = min(times)
    slope = (best[800] - best[100]) / 700
    print(json.dumps({"label": args.label, "t100_s": round(best[100], 4),
                      "t800_s": round(best[800], 4), "per_update_us": round(slope * 1e6, 1),
                      "per_call_ms": round((best[100] - 100 * slope) * 1e3, 1)}))


if __name__ == "__main__":
    main()
