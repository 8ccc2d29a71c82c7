"""The parallel finder picks one-cycle bounds, then a full training run uses them.

1. ``jaxlr.parallel_lr_find`` trains 24 candidate rates x 2 seeds for 100 updates each on the
   built-in digits MLP task, in one compiled program.
2. ``jaxlr.suggest_range`` turns the result into Smith's ``(min, max)`` bounds.
3. ``jaxlr.fit`` trains for 1000 updates with ``jaxlr.one_cycle(max, div_factor=max/min)`` and,
   for comparison, with a constant rate of 1e-4 (a cautious hand-picked default) and with the
   same one-cycle shape at a 10x larger peak (an over-eager guess).

Claim (exit status 1 if it fails): the finder's one-cycle run reaches at least 95% validation
accuracy and a lower validation loss than both comparison runs.

Run: ``python examples/finder_one_cycle.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

import jaxlr  # noqa: E402
from jaxlr.tasks import get_task  # noqa: E402

STEPS = 1000


def train(task, schedule, key):
    params = task.init(key)
    _, hist = jaxlr.fit(task.loss, jaxlr.adam(schedule), params, task.train_batches(),
                        steps=STEPS, batch_size=task.batch_size, key=key,
                        valid_data=task.valid_batch(), eval_fn=task.metrics,
                        eval_every=STEPS, progress=False)
    return {k: float(v[-1]) for k, v in hist.eval.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output directory (default: a new temp dir)")
    args = ap.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="jaxlr_finder_one_cycle_")
    os.makedirs(out, exist_ok=True)
    task = get_task("digits-mlp")

    t0 = time.perf_counter()
    result = jaxlr.parallel_lr_find(task, min_lr=1e-5, max_lr=10.0, num_lrs=24, num_steps=100,
                                    num_seeds=2, per_seed_init=True, key=0)
    t_find = time.perf_counter() - t0
    lo, hi = jaxlr.suggest_range(result)
    print(f"parallel finder: 24 rates x 2 seeds x 100 updates in {t_find:.1f} s; "
          f"{result.message}")
    print(f"one-cycle bounds from suggest_range: min {lo:.3g}, max {hi:.3g}")
    ax = result.plot()
    ax.figure.savefig(os.path.join(out, "finder.png"), dpi=100)

    key = jax.random.key(1)
    runs = {
        "finder one_cycle": jaxlr.one_cycle(hi, STEPS, div_factor=hi / lo),
        "constant 1e-4": jaxlr.constant(1e-4),
        "one_cycle, peak x 10": jaxlr.one_cycle(hi * 10, STEPS, div_factor=hi / lo),
    }
    metrics = {}
    for name, sched in runs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics[name] = train(task, sched, key)
        m = metrics[name]
        print(f"{name:22s} val loss {m['val_loss']:.4f}  val accuracy {m['val_accuracy']:.3f}")
    with open(os.path.join(out, "finder_one_cycle.json"), "w") as f:
        json.dump({"bounds": [lo, hi], "finder": result.to_dict()["suggestions"],
                   "runs": metrics}, f, indent=1)
    best = metrics["finder one_cycle"]
    ok = best["val_accuracy"] >= 0.95 and all(
        best["val_loss"] < m["val_loss"] for n, m in metrics.items() if n != "finder one_cycle")
    print(f"claim {'holds' if ok else 'FAILS'}: the finder's one-cycle run reaches >= 95% "
          f"accuracy and the lowest validation loss. Outputs in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
