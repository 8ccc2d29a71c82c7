"""Seeds and confidence bands in the parallel finder; the range test on the validation loss.

1. ``jaxlr.parallel_lr_find`` with 4 seeds (own initialisation and data order each) measures
   every candidate's validation loss at the horizon and every 25 updates; the plot shows the
   seed mean with a +-1 standard-error band, and ``best_final`` applies the one-standard-error
   rule across seeds.
2. ``jaxlr.lr_find`` (Smith's range test) measures the *validation* loss every 5 updates of the
   ramp, as Smith and the fast.ai course recommend, and suggests a rate from that curve.

Claims (exit status 1 if one fails):
  * the seed bands are informative: at the suggested rate the standard error across seeds is
    below 10% of the spread of the mean loss over the non-diverged candidates;
  * the one-standard-error variants bracket the plain argmin (``prefer="smaller"``, the
    default, never picks a larger rate; ``prefer="larger"`` never a smaller one);
  * the rate at the lowest validation loss of the range test lies within 10x of the parallel
    finder's suggestion (two different experiments point at the same region).

Run: ``python examples/parallel_finder_seeds.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import warnings

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

import jaxlr  # noqa: E402
from jaxlr.tasks import get_task  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output directory (default: a new temp dir)")
    args = ap.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="jaxlr_finder_seeds_")
    os.makedirs(out, exist_ok=True)
    task = get_task("digits-mlp")
    warnings.simplefilter("ignore", RuntimeWarning)

    par = jaxlr.parallel_lr_find(task, min_lr=1e-4, max_lr=1.0, num_lrs=12, num_steps=100,
                                 num_seeds=4, per_seed_init=True, eval_every=25, key=0)
    v = par.valid_losses
    ok = ~par.diverged.any(axis=1)
    mean = np.nanmean(v, axis=1)
    se = np.nanstd(v, axis=1, ddof=1) / math.sqrt(v.shape[1])
    print("rate        valid loss (mean +- s.e. over 4 seeds)")
    for lr, m, s, good in zip(par.lrs, mean, se, ok):
        print(f"{lr:10.3g}  " + (f"{m:.4f} +- {s:.4f}" if good else "diverged"))
    one_se = par.suggest("best_final")                   # the default: 1-s.e., prefer smaller
    larger = par.suggest("best_final", prefer="larger")  # 1-s.e., largest stable rate
    argmin = par.suggest("best_final", one_standard_error=False)
    i = int(np.flatnonzero(par.lrs == one_se)[0])
    spread = float(np.nanmax(mean[ok]) - np.nanmin(mean[ok]))
    print(f"best_final with the one-standard-error rule: {one_se:.3g} (default, smallest "
          f"near-equal rate), {larger:.3g} (largest stable near-equal rate); plain argmin "
          f"{argmin:.3g}")

    rng = jaxlr.lr_find(task, valid_data=task.valid, eval_every=5, min_lr=1e-6, max_lr=10.0,
                        num_steps=100, key=0)
    at_min = rng.suggest_point("minimum_div_10", on="valid").lr_point
    print("range test on the validation loss (every 5 updates): lowest at "
          f"{at_min:.3g}; " + ", ".join(f"{r} {rng.suggest(r, on='valid'):.3g}"
                                        for r in ("valley", "steepest", "minimum_div_10")))
    print("range test on the smoothed training loss: " + ", ".join(
        f"{r} {rng.suggest(r):.3g}" for r in ("valley", "steepest", "minimum_div_10"))
        + f" (smoothing lag {rng.lag_steps} updates)")

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    par.plot(ax=axes[0], band="se")
    rng.plot(ax=axes[1])
    fig.tight_layout()
    fig.savefig(os.path.join(out, "finder_seeds.png"), dpi=100)
    with open(os.path.join(out, "finder_seeds.json"), "w") as f:
        json.dump({"parallel": par.to_dict(), "range_test": rng.to_dict()}, f)

    claims = {
        "seed s.e. < 10% of the loss spread at the suggestion": bool(se[i] < 0.1 * spread),
        "one-standard-error rule: smaller <= argmin <= larger": bool(
            one_se <= argmin <= larger),
        "validation range test's lowest point within 10x of the parallel finder": bool(
            math.isfinite(at_min) and abs(math.log10(at_min / one_se)) <= 1.0),
    }
    for claim, holds in claims.items():
        print(f"  {'ok  ' if holds else 'FAIL'} {claim}")
    print(f"outputs in {out}")
    return 0 if all(claims.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
