"""Steady-state time of one ``jaxlr.fit`` run, for before/after comparisons of two trees.

``jaxlr.fit(task.loss, jaxlr.adam(1e-3), params, data, steps=2200, batch_size=64, key=key)`` on
the digits MLP (compiled once, then best and median of ``--repeat`` calls). Run it alternately
with each tree on ``PYTHONPATH`` (fresh processes), e.g.::

    for i in 1 2 3 4; do PYTHONPATH=/tmp/old python scripts/bench_fit_steady.py --label before
                         PYTHONPATH=. python scripts/bench_fit_steady.py --label after; done

It prints one JSON line: label, best and median seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

import jaxlr  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="jaxlr")
    ap.add_argument("--steps", type=int, default=2200)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)
    task = jaxlr.tasks.get_task("digits-mlp")
    x, y = task.train_batches()
    params = task.init(jax.random.key(0))
    opt, key = jaxlr.adam(1e-3), jax.random.key(1)

    def run():
        st, _ = jaxlr.fit(task.loss, opt, params, (x, y), steps=args.steps, batch_size=64,
                          key=key, progress=False)
        jax.block_until_ready(st.params)

    run()
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    print(json.dumps({"label": args.label, "steps": args.steps, "best_s": round(min(times), 4),
                      "median_s": round(float(np.median(times)), 4)}))


if __name__ == "__main__":
    main()
