"""Reduce-on-plateau and early stopping driven by the validation loss (digits MLP).

Trains the built-in digits MLP with SGD + momentum at a deliberately high constant rate. A
``jaxlr.controllers.reduce_on_plateau`` controller watches ``val_loss`` at every evaluation and divides the
rate by 4 when it stalls; ``jaxlr.early_stopping`` ends the run when the validation loss has not
improved for several evaluations and returns the best parameters. The same run without plateau
control is the baseline.

Writes ``plateau_early_stopping.png`` (learning rate and validation loss against steps) and
``plateau_early_stopping.json`` into ``--out`` and checks the claim: the controlled run reduced
the rate on plateaus, stopped early, and returned the parameters of its best evaluation, whose
validation loss beats the final model of the constant-rate run (which keeps training and
over-fits). On this small task the best validation loss is reached before the first reduction;
the reductions mostly slow the over-fitting down until early stopping ends the run.

Usage: python examples/plateau_early_stopping.py [--out DIR] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import jax
import numpy as np

import jaxlr


def run(task, steps: int, lr: float, *, controlled: bool):
    opt = jaxlr.sgd(lr, momentum=0.9)
    state = jaxlr.TrainState.create(task.init(jax.random.key(0)), opt, key=jax.random.key(1))
    kwargs = {}
    if controlled:
        kwargs = dict(
            plateau=jaxlr.controllers.reduce_on_plateau(factor=0.5, patience=2, threshold=1e-3),
            early_stopping=jaxlr.early_stopping(patience=8, min_delta=1e-4),
            monitor="val_loss")
    return jaxlr.fit(task.loss, opt, state, task.train_batches(), steps=steps,
                     batch_size=task.batch_size, valid_data=task.valid_batch(),
                     eval_fn=task.metrics, eval_every=25, progress=False, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output directory (default: a new temp dir)")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--lr", type=float, default=0.2)
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="jaxlr_plateau_")
    os.makedirs(out, exist_ok=True)

    task = jaxlr.tasks.get_task("digits-mlp")
    state, hist = run(task, args.steps, args.lr, controlled=True)
    _, base = run(task, args.steps, args.lr, controlled=False)

    val, base_val = hist.eval["val_loss"], base.eval["val_loss"]
    lr_curve = args.lr * hist.lr_scale
    final = task.metrics(state.params, task.valid_batch())
    summary = {
        "reductions_at_step": hist.reductions.tolist(),
        "stop_reason": hist.stop_reason,
        "best_step": hist.best_step,
        "steps_run": int(hist.eval_steps[-1]),
        "best_val_loss": float(np.nanmin(val)),
        "returned_val_loss": float(final["loss"]),
        "returned_val_accuracy": float(final["accuracy"]),
        "baseline_best_val_loss": float(np.nanmin(base_val)),
        "baseline_final_val_loss": float(base_val[-1]),
    }
    print(json.dumps(summary, indent=2))
    with open(os.path.join(out, "plateau_early_stopping.json"), "w") as f:
        json.dump({"summary": summary, "controlled": hist.to_dict(),
                   "baseline": base.to_dict()}, f)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_lr, ax_val) = plt.subplots(2, 1, sharex=True, figsize=(7, 6))
    ax_lr.step(hist.eval_steps, lr_curve, where="post", label="reduce_on_plateau")
    ax_lr.axhline(args.lr, color="gray", ls="--", label="constant (baseline)")
    ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    ax_lr.legend()
    ax_val.plot(hist.eval_steps, val, label="plateau + early stopping")
    ax_val.plot(base.eval_steps, base_val, label="constant rate", alpha=0.7)
    for r in hist.reductions:
        ax_val.axvline(r, color="C3", lw=0.8, ls=":")
    if hist.best_step is not None:
        ax_val.axvline(hist.best_step, color="k", lw=1.0, label="best (restored)")
    ax_val.set_yscale("log")
    ax_val.set_xlabel("train step")
    ax_val.set_ylabel("validation loss")
    ax_val.legend()
    fig.tight_layout()
    path = os.path.join(out, "plateau_early_stopping.png")
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")

    ok = (len(hist.reductions) >= 1
          and hist.stop_reason == "early_stopping" and summary["steps_run"] < args.steps
          and abs(summary["returned_val_loss"] - summary["best_val_loss"]) < 1e-4
          and summary["returned_val_loss"] < summary["baseline_final_val_loss"])
    print("claim holds:" if ok else "claim FAILED:",
          "the rate was reduced on plateaus, training stopped early with the best parameters "
          "restored, and they beat the constant-rate run's final model on validation loss")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
