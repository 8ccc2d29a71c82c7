"""Population-based training discovers a learning-rate schedule on the digits task.

Eight members start from log-uniform learning rates; every 25 steps the worst quarter copies the
weights, optimizer state and learning rate of a member of the best quarter and perturbs the
rate by x0.8 or x1.2 (Jaderberg et al. 2017). The whole run is one compiled program. The best
final member's lineage gives the discovered schedule, plotted against the population.

Claim (exit status): the best PBT member is better than the median member of the same initial
population trained with its fixed initial learning rate for the same number of steps.

    python examples/pbt_schedule.py --out /tmp/pbt
"""

import argparse
import os
import sys
import tempfile

import jax
import numpy as np

import jaxlr
from jaxlr.tasks import get_task


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output directory (default: a new temp dir)")
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="jaxlr_pbt_")
    os.makedirs(out, exist_ok=True)

    task = get_task("digits-mlp", hidden=32)
    space = {"learning_rate": jaxlr.loguniform(1e-4, 3e-1)}
    pbt = jaxlr.sweep_task(task, space=space, key=jax.random.key(0), optimizer="adam",
                           steps=args.steps, num_trials=8, strategy="pbt",
                           options={"interval": 25, "quantile": 0.25})
    info = pbt.extra["pbt"]
    print("discovered schedule (step: learning rate) of the best lineage:")
    for s, lr in zip(info["best_schedule_steps"], info["best_schedule"]):
        print(f"  {int(s):4d}: {lr:.4g}")

    # the same initial population with fixed rates (explicit trials: the initial values)
    fixed = jaxlr.sweep_task(
        task, space=jaxlr.Grid.from_columns(info["initial_hparams"]), key=jax.random.key(0),
        optimizer="adam", steps=args.steps, seeds="independent")
    best_pbt = float(np.nanmin(pbt.scores()))
    median_fixed = float(np.median(fixed.scores()))
    print(f"\nPBT best valid loss {best_pbt:.4f}; fixed-rate population: best "
          f"{np.nanmin(fixed.scores()):.4f}, median {median_fixed:.4f}")

    import matplotlib
    matplotlib.use("Agg")
    path = os.path.join(out, "pbt_schedule.png")
    pbt.plot("pbt").savefig(path, dpi=90)
    pbt.to_json(os.path.join(out, "pbt.json"))
    print(f"wrote {path}")
    if not best_pbt < median_fixed:
        print("CLAIM FAILED: PBT did not beat the median fixed-rate member", file=sys.stderr)
        return 1
    print("claim holds: the PBT member beats the median fixed-rate member")
    return 0


if __name__ == "__main__":
    sys.exit(main())
