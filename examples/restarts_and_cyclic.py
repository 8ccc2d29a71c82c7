"""SGDR warm restarts and cyclical learning rates on the digits MLP.

Two periodic strategies, both from the literature, against a fixed rate at their peak:

* SGDR (Loshchilov & Hutter, 2017): cosine annealing restarted at the peak, each period twice
  as long as the previous one (``jaxlr.cosine_restarts(peak, 50, period_mult=2)``: restarts at
  updates 50, 150, 350);
* CLR (Smith, 2017): a triangular wave between a low and the peak rate whose amplitude halves
  every cycle (``jaxlr.cyclic(low, peak, 25, mode="triangular2")``: 50-update cycles).

Claims checked (means over seeds of the training loss; SGD with momentum 0.9):

1. after each SGDR restart the loss goes *up* (the mean loss of the 10 updates after the
   restart exceeds that of the 10 updates before it): the restart kicks the parameters out of
   the basin they were settling in;
2. both SGDR and CLR end (at the bottom of their last cycle) with a lower training loss than the
   fixed rate at their peak.

Run: ``python examples/restarts_and_cyclic.py --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxlr

PEAK, LOW, STEPS, SEEDS = 1.0, 0.01, 350, 2  # a peak too high to hold, fine to visit
RESTARTS = (50, 150)   # SGDR restarts inside the run (periods 50, 100, 200)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="restarts_and_cyclic-"))
    out.mkdir(parents=True, exist_ok=True)

    schedules = {
        f"fixed {PEAK}": jaxlr.constant(PEAK),
        "SGDR (50, x2)": jaxlr.cosine_restarts(PEAK, 50, period_mult=2),
        "CLR triangular2": jaxlr.cyclic(LOW, PEAK, 25, mode="triangular2"),
    }
    seeds = jaxlr.grid({"seed": list(range(SEEDS))})
    curves = {}
    for name, sched in schedules.items():
        r = jaxlr.sweep_task("digits-mlp", space=seeds, schedule=lambda hp, s=sched: s,
                             optimizer="momentum", steps=STEPS, key=jax.random.key(0))
        curves[name] = np.asarray(r.curves["train_loss"], np.float64).mean(0)
    fixed_name = f"fixed {PEAK}"
    sgdr = curves["SGDR (50, x2)"]
    final = {name: float(c[-10:].mean()) for name, c in curves.items()}

    print(f"digits MLP, SGD + momentum 0.9, {STEPS} updates, mean of {SEEDS} seeds")
    for name, f in final.items():
        print(f"  {name:18s} final training loss {f:.4f}")
    jumps = {b: (float(sgdr[b - 10:b].mean()), float(sgdr[b:b + 10].mean())) for b in RESTARTS}
    for b, (before, after) in jumps.items():
        print(f"  SGDR restart at {b}: loss {before:.4f} before -> {after:.4f} after")

    claims = {
        "the loss rises after each SGDR restart":
            all(after > before for before, after in jumps.values()),
        "SGDR ends lower than the fixed peak rate": final["SGDR (50, x2)"] < final[fixed_name],
        "CLR ends lower than the fixed peak rate": final["CLR triangular2"] < final[fixed_name],
    }

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                    gridspec_kw={"height_ratios": [2.2, 1]})
    t = np.arange(STEPS)
    for name, c in curves.items():
        (line,) = ax.plot(t, c, label=name, lw=1)
        ax_lr.plot(t, np.asarray(schedules[name](jnp.arange(STEPS))), color=line.get_color())
    for b in RESTARTS:
        ax.axvline(b, color="gray", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("training loss (mean of seeds)")
    ax.set_title("SGDR warm restarts and cyclical learning rates")
    ax.legend()
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("update")
    fig.tight_layout()
    fig.savefig(out / "restarts_and_cyclic.png", dpi=110)
    (out / "restarts_and_cyclic.json").write_text(json.dumps(
        {"final_train_loss": final, "restarts": {str(k): v for k, v in jumps.items()},
         "claims": claims}, indent=2))
    for claim, ok in claims.items():
        print(f"[{'ok' if ok else 'FAILED'}] {claim}")
    print(f"wrote {out / 'restarts_and_cyclic.png'}")
    return 0 if all(claims.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
