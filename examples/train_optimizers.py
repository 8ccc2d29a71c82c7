"""Train the digits MLP with warm-up + cosine and each optimizer, composed as optax chains.

Every optimizer (SGD, momentum, Nesterov, RMSprop, Adagrad, Adam, AdamW) gets the same
``jaxlr.warmup_cosine`` schedule shape (its own peak rate) and global-norm clipping in an
``optax.chain``; ``jaxlr.fit`` trains each for the same number of steps (scan-fused chunks,
on-device shuffling, evaluation every epoch). The script prints a table and writes
``optimizers.png`` (validation loss and learning rate per optimizer) and ``results.json``.

Claim checked (exit code 1 otherwise): every optimizer reaches >= 90% validation accuracy, and
the learning rate each one used follows the warm-up + cosine schedule exactly.

Usage: python examples/train_optimizers.py [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import optax

import jaxlr
from jaxlr import tasks

PEAKS = {  # peak learning rate of each optimizer (a common choice for this problem)
    "sgd": 0.2,
    "momentum": 0.05,
    "nesterov": 0.05,
    "rmsprop": 2e-3,
    "adagrad": 0.1,
    "adam": 3e-3,
    "adamw": 3e-3,
}


def build(name: str, schedule) -> optax.GradientTransformation:
    opt = {
        "sgd": lambda: jaxlr.sgd(schedule),
        "momentum": lambda: jaxlr.momentum(schedule, 0.9),
        "nesterov": lambda: jaxlr.momentum(schedule, 0.9, nesterov=True),
        "rmsprop": lambda: jaxlr.rmsprop(schedule, decay=0.99, eps_in_sqrt=False),
        "adagrad": lambda: jaxlr.adagrad(schedule),
        "adam": lambda: jaxlr.adam(schedule),
        "adamw": lambda: jaxlr.adamw(schedule, weight_decay=1e-2),
    }[name]()
    return optax.chain(optax.clip_by_global_norm(5.0), opt)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: temp)")
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="jaxlr_optimizers_"))
    out.mkdir(parents=True, exist_ok=True)

    task = tasks.get_task("digits-mlp")
    per_epoch = task.num_train // task.batch_size
    total = args.epochs * per_epoch
    warm = per_epoch  # one epoch of warm-up
    params = task.init(jax.random.key(0))

    results, histories = {}, {}
    ok = True
    print(f"digits MLP, {args.epochs} epochs x {per_epoch} steps, batch {task.batch_size}, "
          f"warm-up {warm} steps + cosine to 0")
    print(f"{'optimizer':10s} {'peak lr':>8s} {'val acc':>8s} {'val loss':>9s} {'time s':>7s}")
    for name, peak in PEAKS.items():
        schedule = jaxlr.warmup_cosine(peak, warmup_steps=warm, total_steps=total)
        opt = build(name, schedule)
        t = time.perf_counter()
        state, hist = jaxlr.fit(task.loss, opt, params, task.train_batches(), steps=total,
                                batch_size=task.batch_size, key=jax.random.key(1),
                                valid_data=task.valid_batch(), eval_fn=task.metrics,
                                progress=False)
        dt = time.perf_counter() - t
        acc = float(hist.eval["val_accuracy"][-1])
        loss = float(hist.eval["val_loss"][-1])
        want_lr = np.asarray(schedule(np.arange(total)))
        lr_ok = np.allclose(hist.train["lr"], want_lr, rtol=1e-5, atol=1e-9)
        results[name] = {"peak_lr": peak, "val_accuracy": acc, "val_loss": loss,
                         "seconds": dt, "lr_follows_schedule": bool(lr_ok)}
        histories[name] = hist
        print(f"{name:10s} {peak:8.0e} {acc:8.3f} {loss:9.4f} {dt:7.2f}"
              + ("" if lr_ok else "  (lr does NOT follow the schedule)"))
        ok &= acc >= 0.90 and lr_ok

    (out / "results.json").write_text(json.dumps(results, indent=2))
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(11, 4))
    for name, h in histories.items():
        ax.plot(h.eval_steps, h.eval["val_loss"], "o-", ms=2, label=name)
        ax_lr.plot(h.steps + 1, h.train["lr"] / PEAKS[name], lw=1, label=name)
    ax.set(xlabel="step", ylabel="validation loss", yscale="log", title="digits MLP")
    ax_lr.set(xlabel="step", ylabel="lr / peak", title="warm-up + cosine (each optimizer)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out / "optimizers.png", dpi=120)
    print(f"wrote {out / 'optimizers.png'} and {out / 'results.json'}")
    if not ok:
        print("CLAIM FAILED: some optimizer is below 90% validation accuracy or its lr does not "
              "follow the schedule", file=sys.stderr)
        return 1
    print("claim holds: every optimizer >= 90% validation accuracy; lr == schedule(step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
