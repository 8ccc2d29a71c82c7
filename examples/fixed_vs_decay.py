"""Fixed high vs fixed low vs decaying learning rate: the classic figure, checked.

Trains the built-in ``teacher-student`` regression (a student MLP fitting a random teacher
network, here with label noise 0.5) with plain SGD under three learning-rate strategies, on
several seeds:

* a high fixed rate: fast at first, then it keeps bouncing around the noise floor;
* a low fixed rate: smooth but slow early on;
* a decaying rate (the high rate, divided by 10 after 60% and again after 80% of the updates):
  fast early *and* settles, so it reaches the lowest final loss.

The loss plotted and measured is the full training-set loss after every update (not the noisy
mini-batch loss), so "oscillation" means the parameters themselves bounce. Measured per strategy
(means over seeds):

* early loss: mean over the first 20% of the updates;
* late oscillation: standard deviation, over the last 25% of the updates, of the loss around its
  21-step moving average;
* final loss: mean over the last 10% of the updates.

The script asserts the three claims on every seed and exits 1 if one fails.

Run: ``python examples/fixed_vs_decay.py --out DIR`` (writes ``fixed_vs_decay.png``/``.json``).
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
from jaxlr.tasks import get_task

# Label noise 0.5 (a loss floor of about 0.25): enough gradient noise that a high fixed rate
# keeps bouncing above the floor, the regime the classic figure describes.
NOISE, HIGH, LOW, STEPS, SEEDS = 0.5, 0.2, 0.01, 400, 4


def train_curves(task, schedule, keys, steps):
    """Full-training-set loss after every SGD update, for each seed (vmapped; one program)."""
    x, y = task.train_batches()
    n, bs = x.shape[0], task.batch_size

    def one(key):
        k_init, k_data = jax.random.split(key)
        opt = jaxlr.sgd(schedule)
        state = jaxlr.TrainState.create(task.init(k_init), opt)
        step = jaxlr.engine.train_step_fn(task.loss, opt)

        def body(state, t):
            idx = jax.random.randint(jax.random.fold_in(k_data, t), (bs,), 0, n)
            state, _ = step(state, (x[idx], y[idx]))
            return state, task.loss(state.params, (x, y))

        _, losses = jax.lax.scan(body, state, jnp.arange(steps))
        return losses

    return np.asarray(jax.jit(jax.vmap(one))(keys), np.float64)


def moving_average(v: np.ndarray, width: int = 21) -> np.ndarray:
    pad = np.pad(v, [(0, 0), (width // 2, width // 2)], mode="edge")
    kernel = np.ones(width) / width
    return np.stack([np.convolve(r, kernel, mode="valid") for r in pad])


def stats(losses: np.ndarray) -> dict[str, np.ndarray]:
    t = losses.shape[1]
    resid = losses - moving_average(losses)
    return {"early_loss": losses[:, : t // 5].mean(1),
            "late_oscillation": resid[:, -t // 4:].std(1),
            "final_loss": losses[:, -t // 10:].mean(1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--seed", type=int, default=0, help="base random seed")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="fixed_vs_decay-"))
    out.mkdir(parents=True, exist_ok=True)

    task = get_task("teacher-student", noise=NOISE)
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    strategies = {
        f"fixed high ({HIGH})": jaxlr.constant(HIGH),
        f"fixed low ({LOW})": jaxlr.constant(LOW),
        f"step decay ({HIGH}, x0.1 at 60%, 80%)": jaxlr.multistep_decay(
            HIGH, [int(0.6 * args.steps), int(0.8 * args.steps)], 0.1),
    }
    curves = {name: train_curves(task, s, keys, args.steps) for name, s in strategies.items()}
    st = {name: stats(c) for name, c in curves.items()}
    high, low, decay = list(st)

    print(f"teacher-student, SGD, {args.steps} updates x {args.seeds} seeds "
          "(full training-set loss; means over seeds)")
    print(f"{'strategy':36s} {'early loss':>11s} {'late oscillation':>17s} {'final loss':>11s}")
    for name, s in st.items():
        print(f"{name:36s} {s['early_loss'].mean():11.4f} {s['late_oscillation'].mean():17.5f} "
              f"{s['final_loss'].mean():11.4f}")

    claims = {
        "high fixed rate oscillates more late in training than the low and the decaying rate":
            bool(np.all(st[high]["late_oscillation"] > st[low]["late_oscillation"])
                 and np.all(st[high]["late_oscillation"] > st[decay]["late_oscillation"])),
        "low fixed rate is slower early than the high and the decaying rate":
            bool(np.all(st[low]["early_loss"] > st[high]["early_loss"])
                 and np.all(st[low]["early_loss"] > st[decay]["early_loss"])),
        "decaying rate reaches the lowest final loss":
            bool(np.all(st[decay]["final_loss"] < st[high]["final_loss"])
                 and np.all(st[decay]["final_loss"] < st[low]["final_loss"])),
    }

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                    gridspec_kw={"height_ratios": [2.2, 1]})
    steps = np.arange(args.steps)
    for name, c in curves.items():
        (line,) = ax.plot(steps, c.mean(0), label=name, lw=1.2)
        ax_lr.plot(steps, np.asarray(strategies[name](jnp.arange(args.steps))),
                   color=line.get_color())
    ax.set_yscale("log")
    ax.set_ylabel("training loss (full set)")
    ax.set_title("fixed high vs fixed low vs decaying learning rate (SGD)")
    ax.legend()
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("update")
    fig.tight_layout()
    fig.savefig(out / "fixed_vs_decay.png", dpi=110)
    (out / "fixed_vs_decay.json").write_text(json.dumps({
        "stats": {n: {k: v.tolist() for k, v in s.items()} for n, s in st.items()},
        "claims": claims}, indent=2))

    for claim, ok in claims.items():
        print(f"[{'ok' if ok else 'FAILED'}] {claim}")
    print(f"wrote {out / 'fixed_vs_decay.png'}")
    return 0 if all(claims.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
