"""Warmup-stable-decay (WSD) vs warm-up + cosine at an equal budget.

Hägele et al. (2024), "Scaling Laws and Compute-Optimal Training Beyond Fixed Training
Durations", report that a constant learning rate followed by a short cooldown (~20% of the run)
matches cosine annealing at the same number of updates, while letting you stop (cool down) at
any point. This example trains the built-in digits MLP with Adam under both schedules, with the
same peak rate, warm-up and budget, on several seeds (all seeds in one vectorised program per
schedule via :func:`jaxlr.sweep_task`), and checks that WSD's final validation loss is within a
small tolerance of cosine's.

Run: ``python examples/wsd_vs_cosine.py --out DIR`` (writes ``wsd_vs_cosine.png``/``.json``).
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

PEAK, WARMUP, STEPS, SEEDS = 3e-3, 20, 400, 2
COOLDOWN = 0.2          # fraction of the budget spent decaying (WSD)
TOLERANCE = 0.10        # WSD's final validation loss within 10% of cosine's


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="wsd_vs_cosine-"))
    out.mkdir(parents=True, exist_ok=True)
    steps = args.steps

    schedules = {
        "cosine": jaxlr.warmup_cosine(PEAK, WARMUP, steps),
        f"WSD ({COOLDOWN:.0%} cooldown)": jaxlr.warmup_stable_decay(
            PEAK, steps, warmup_steps=WARMUP, decay_steps=int(COOLDOWN * steps)),
    }
    seeds = jaxlr.grid({"seed": list(range(args.seeds))})
    results = {}
    for name, sched in schedules.items():
        r = jaxlr.sweep_task("digits-mlp", space=seeds, schedule=lambda hp, s=sched: s,
                             optimizer="adam", steps=steps, key=jax.random.key(0))
        results[name] = {
            "curves": np.asarray(r.curves["train_loss"]),
            "valid_loss": np.asarray(r.metrics["valid_loss"], np.float64),
            "valid_accuracy": np.asarray(r.metrics["valid_accuracy"], np.float64),
        }
    cos, wsd = results.values()

    print(f"digits MLP, Adam, peak {PEAK}, warm-up {WARMUP}, {steps} updates, "
          f"{args.seeds} seeds")
    print(f"{'schedule':20s} {'final train loss':>17s} {'valid loss':>11s} {'valid acc':>10s}")
    for name, r in results.items():
        final_train = r["curves"][:, -steps // 10:].mean()
        r["final_train_loss"] = float(final_train)
        print(f"{name:20s} {final_train:17.4f} {r['valid_loss'].mean():11.4f} "
              f"{r['valid_accuracy'].mean():10.4f}")
    ratio = float(wsd["valid_loss"].mean() / cos["valid_loss"].mean())
    ok = ratio <= 1.0 + TOLERANCE  # "matches": not worse than cosine by more than TOLERANCE
    print(f"WSD / cosine final validation loss: {ratio:.3f} (claim: <= {1 + TOLERANCE:.2f})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                    gridspec_kw={"height_ratios": [2.2, 1]})
    t = np.arange(steps)
    kernel = np.ones(15) / 15
    for name, r in results.items():
        mean = r["curves"].mean(0)
        (line,) = ax.plot(t[7:-7], np.convolve(mean, kernel, mode="valid"), label=name)
        ax_lr.plot(t, np.asarray(schedules[name](jnp.arange(steps))), color=line.get_color())
    ax.set_yscale("log")
    ax.set_ylabel("training loss (15-step mean)")
    ax.set_title("WSD vs cosine at equal budget")
    ax.legend()
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("update")
    fig.tight_layout()
    fig.savefig(out / "wsd_vs_cosine.png", dpi=110)
    (out / "wsd_vs_cosine.json").write_text(json.dumps({
        name: {"final_train_loss": r["final_train_loss"],
               "valid_loss": r["valid_loss"].tolist(),
               "valid_accuracy": r["valid_accuracy"].tolist()} for name, r in results.items()}
        | {"ratio": ratio, "tolerance": TOLERANCE, "claim_holds": ok}, indent=2))
    print(f"[{'ok' if ok else 'FAILED'}] WSD with a {COOLDOWN:.0%} cooldown is within "
          f"{TOLERANCE:.0%} of cosine's final validation loss (or better)")
    print(f"wrote {out / 'wsd_vs_cosine.png'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
