"""Natural gradient vs Adam vs SGD-momentum on the digits MLP: steps and wall time to a target.

All three optimizers train the built-in ``digits-mlp`` task from the same initialisation on the
same mini-batches; each run is one compiled ``lax.scan`` that also records the validation loss
after every step. Wall time per step is measured on a second (warm) call, so compilation is
excluded. Natural gradient uses exact Fisher-vector products, 10 conjugate-gradient iterations
per step and Levenberg-Marquardt damping from 1.0 with a floor of 0.1
(``jaxlr.optim.natural_gradient``), so each of its steps costs several Adam steps.

Writes ``natural_gradient_vs_adam.png`` (validation loss against steps and against wall time)
and ``natural_gradient_vs_adam.json`` into ``--out``, prints steps and seconds to the target, and
checks the claim: natural gradient reaches the target validation loss in fewer *steps* than both
Adam and SGD-momentum (whether it is also faster in *wall time* depends on the model size and the
hardware; the numbers are printed, not asserted).

Usage: python examples/natural_gradient_vs_adam.py [--out DIR] [--steps N] [--target LOSS]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxlr


def make_runner(task, steps: int, batch_size: int):
    x_tr, y_tr = (jnp.asarray(a) for a in task.train)
    valid = task.valid_batch()
    params0 = task.init(jax.random.key(0))
    order = jax.random.permutation(jax.random.key(1),
                                   jnp.arange(steps * batch_size) % x_tr.shape[0])

    def runner(opt):
        @jax.jit
        def go(params):
            def body(carry, t):
                p, s = carry
                idx = jax.lax.dynamic_slice_in_dim(order, t * batch_size, batch_size)
                batch = (x_tr[idx], y_tr[idx])
                g = jax.grad(task.loss)(p, batch)
                u, s = opt.update(g, s, p, batch=batch)   # natural gradient needs the batch
                p = jax.tree.map(lambda a, b: a + b, p, u)
                return (p, s), task.loss(p, valid)

            return jax.lax.scan(body, (params, opt.init(params)), jnp.arange(steps))[1]

        go(params0).block_until_ready()
        t0 = time.perf_counter()
        curve = np.asarray(go(params0).block_until_ready())
        return curve, (time.perf_counter() - t0) / steps

    return runner


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output directory (default: a new temp dir)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--target", type=float, default=0.15, help="target validation loss")
    args = ap.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="jaxlr_natgrad_")
    os.makedirs(out, exist_ok=True)

    task = jaxlr.tasks.get_task("digits-mlp")
    run = make_runner(task, args.steps, task.batch_size)
    optimizers = {
        "natural gradient (adaptive damping)":
            jaxlr.optim.natural_gradient(1.0, task.apply, damping=1.0, adaptive_damping=True,
                                   min_damping=0.1, cg_iters=10),
        "Adam (lr 1e-2)": jaxlr.adam(1e-2),
        "SGD-momentum (lr 0.1, 0.9)": jaxlr.sgd(0.1, momentum=0.9),
    }
    results = {}
    for name, opt in optimizers.items():
        curve, per_step = run(opt)
        hit = np.nonzero(curve <= args.target)[0]
        n = int(hit[0]) + 1 if hit.size else None
        results[name] = {"steps_to_target": n, "seconds_per_step": per_step,
                         "seconds_to_target": None if n is None else n * per_step,
                         "final_val_loss": float(curve[-1]), "curve": curve.tolist()}
        print(f"{name:45s} steps to val_loss<={args.target}: {n!s:>5}   "
              f"time: {'-' if n is None else f'{n * per_step:.3f}s'}   "
              f"({per_step * 1e3:.2f} ms/step, final val_loss {curve[-1]:.3f})")
    with open(os.path.join(out, "natural_gradient_vs_adam.json"), "w") as f:
        json.dump({"target": args.target, "steps": args.steps, "results": results}, f)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, r in results.items():
        c = np.asarray(r["curve"])
        steps = np.arange(1, c.size + 1)
        a1.plot(steps, c, label=name)
        a2.plot(steps * r["seconds_per_step"], c, label=name)
    for a in (a1, a2):
        a.axhline(args.target, color="gray", ls="--", lw=0.8)
        a.set_yscale("log")
    a1.set_xlabel("step")
    a2.set_xlabel("wall time (s, compilation excluded)")
    a1.set_ylabel("validation loss")
    a1.legend()
    fig.suptitle("digits MLP: natural gradient vs Adam vs SGD-momentum")
    fig.tight_layout()
    path = os.path.join(out, "natural_gradient_vs_adam.png")
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")

    ng, *others = results.values()
    ok = ng["steps_to_target"] is not None and all(
        o["steps_to_target"] is None or ng["steps_to_target"] < o["steps_to_target"]
        for o in others)
    print("claim holds:" if ok else "claim FAILED:",
          "natural gradient reaches the target in fewer steps than Adam and SGD-momentum")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
