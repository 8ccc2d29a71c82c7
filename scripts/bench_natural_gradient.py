"""Benchmark: natural gradient vs Adam on the digits MLP (steps and wall time to a target loss).

Every optimizer trains the built-in ``digits-mlp`` task from the same initialisation on the same
batches (one compiled ``lax.scan`` per run; the validation loss is computed inside the scan after
every step, identically for all runs). Reported per run: steps to reach the target validation
loss, seconds per step (a second, warm call of the compiled run, compilation excluded) and
time to target = steps x seconds per step. Adam's rate is the best of a small grid (by steps to
target), so the baseline is tuned.

Prints one JSON line per figure ``{"name", "jaxlr_s", "baseline_s", "ratio", ...}`` (``ratio`` =
jaxlr / baseline: below 1 means natural gradient is faster) plus a line naming the device.

Usage: python scripts/bench_natural_gradient.py [--quick] [--target 0.15] [--steps 600]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxlr


def make_runner(task, steps: int, batch_size: int):
    x_tr, y_tr = (jnp.asarray(a) for a in task.train)
    valid = task.valid_batch()
    n = x_tr.shape[0]
    params0 = task.init(jax.random.key(0))
    perm = jax.random.permutation(jax.random.key(1), jnp.arange(steps * batch_size) % n)

    def runner(opt):
        @jax.jit
        def go(params):
            def body(carry, t):
                p, s = carry
                idx = jax.lax.dynamic_slice_in_dim(perm, t * batch_size, batch_size)
                batch = (x_tr[idx], y_tr[idx])
                g = jax.grad(task.loss)(p, batch)
                u, s = opt.update(g, s, p, batch=batch)
                p = jax.tree.map(lambda a, b: a + b, p, u)
                return (p, s), task.loss(p, valid)

            return jax.lax.scan(body, (params, opt.init(params)), jnp.arange(steps))[1]

        go(params0).block_until_ready()          # compile (and warm up)
        t0 = time.perf_counter()
        curve = np.asarray(go(params0).block_until_ready())
        return curve, (time.perf_counter() - t0) / steps

    return runner


def steps_to(curve: np.ndarray, target: float) -> int | None:
    hit = np.nonzero(curve <= target)[0]
    return int(hit[0]) + 1 if hit.size else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and a looser target")
    ap.add_argument("--target", type=float, default=None, help="target validation loss")
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args()
    steps = args.steps or (200 if args.quick else 600)
    target = args.target or (0.2 if args.quick else 0.15)

    task = jaxlr.tasks.get_task("digits-mlp")
    run = make_runner(task, steps, task.batch_size)
    print(json.dumps({"device": str(jax.devices()[0]), "platform": platform.platform(),
                      "processor": platform.processor() or platform.machine(),
                      "cpu_count": __import__("os").cpu_count(), "task": task.name,
                      "batch_size": task.batch_size, "steps": steps,
                      "target_val_loss": target}))

    adam = {}
    for lr in (1e-3, 3e-3, 1e-2):
        curve, per_step = run(jaxlr.adam(lr))
        adam[lr] = (steps_to(curve, target), per_step, float(curve[-1]))
    reached = {lr: v for lr, v in adam.items() if v[0] is not None}
    best_lr = (min(reached, key=lambda lr: reached[lr][0]) if reached
               else min(adam, key=lambda lr: adam[lr][2]))
    a_steps, a_per_step, a_final = adam[best_lr]

    candidates = {
        "natural_gradient(adaptive_damping from 1, min 0.1, cg_iters=10)":
            jaxlr.optim.natural_gradient(1.0, task.apply, damping=1.0, adaptive_damping=True,
                                   min_damping=0.1, cg_iters=10),
        "natural_gradient(adaptive_damping from 1, min 0.1, cg_iters=5)":
            jaxlr.optim.natural_gradient(1.0, task.apply, damping=1.0, adaptive_damping=True,
                                   min_damping=0.1, cg_iters=5),
        "natural_gradient(damping=0.3 fixed, cg_iters=10)":
            jaxlr.optim.natural_gradient(1.0, task.apply, damping=0.3, cg_iters=10),
        "natural_gradient(damping=0.1 fixed, cg_iters=10)":
            jaxlr.optim.natural_gradient(1.0, task.apply, damping=0.1, cg_iters=10),
        "diagonal_natural_gradient(lr=0.01, damping=1e-3)":
            jaxlr.optim.diagonal_natural_gradient(0.01, task.apply, damping=1e-3),
    }
    for name, opt in candidates.items():
        curve, per_step = run(opt)
        n_steps = steps_to(curve, target)
        t_j = None if n_steps is None else n_steps * per_step
        t_b = None if a_steps is None else a_steps * a_per_step
        ratio = None if (t_j is None or t_b is None) else t_j / t_b
        print(json.dumps({
            "name": f"time_to_val_loss<={target}: {name} vs adam(lr={best_lr:g})",
            "jaxlr_s": t_j, "baseline_s": t_b, "ratio": ratio,
            "jaxlr_steps": n_steps, "baseline_steps": a_steps,
            "steps_ratio": None if (n_steps is None or a_steps is None) else n_steps / a_steps,
            "jaxlr_s_per_step": per_step, "baseline_s_per_step": a_per_step,
            "jaxlr_final_val_loss": float(curve[-1]), "baseline_final_val_loss": a_final}))


if __name__ == "__main__":
    main()
