"""Benchmark: steps/s of jaxlr.fit (scan-fused) vs a Python loop of the jitted step vs PyTorch.

Task: the built-in digits MLP (64-128-10, ReLU, cross-entropy), batch 64, Adam(1e-3), the same
number of steps for every contender, all measured in this process. Baselines are given their
best case: the Python loop and PyTorch iterate over mini-batches that are already gathered (no
indexing per step), PyTorch uses as many threads as XLA's CPU client. A fourth figure, a bare
``lax.scan`` of ``optax.adam`` over pre-gathered batches, is the compute floor: how fast a
fused loop can possibly be on this machine (fit adds shuffling/gathering on device and the
metrics); the same scan recording fit's per-step metrics is the fair floor. The last two
figures are fit with ``valid_data`` (an evaluation every epoch), and with a plateau controller
reading it, against fit without.

Prints one JSON line per figure ``{"name", "jaxlr_s", "baseline_s", "ratio"}`` (seconds for the
whole run; ratio = baseline_s / jaxlr_s, i.e. the speed-up of jaxlr), plus a line describing the
device.

Usage: python scripts/bench_train.py [--quick] [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxlr
from jaxlr import tasks


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    steps = args.steps or (660 if args.quick else 2200)
    repeats = args.repeats or (2 if args.quick else 5)

    task = tasks.get_task("digits-mlp")
    bs = 64
    x, y = task.train_batches()
    n = x.shape[0]
    params = task.init(jax.random.key(0))
    opt = jaxlr.adam(1e-3)
    key = jax.random.key(1)
    threads = os.cpu_count() or 1

    # ---------------------------------------------------------------- jaxlr.fit
    def run_fit():
        st, h = jaxlr.fit(task.loss, opt, params, (x, y), steps=steps, batch_size=bs, key=key,
                          progress=False)
        jax.block_until_ready(st.params)
        return h

    run_fit()  # compile (cached for the timed runs)
    fit_s = _best(run_fit, repeats)

    def run_fit_valid():            # the same run, evaluated on the validation split each epoch
        st, h = jaxlr.fit(task.loss, opt, params, (x, y), steps=steps, batch_size=bs, key=key,
                          valid_data=task.valid, progress=False)
        jax.block_until_ready(st.params)
        return h

    run_fit_valid()
    fit_valid_s = _best(run_fit_valid, repeats)

    def run_fit_plateau():          # ... and a reduce-on-plateau controller reading val_loss
        st, h = jaxlr.fit(task.loss, opt, params, (x, y), steps=steps, batch_size=bs, key=key,
                          valid_data=task.valid, progress=False,
                          plateau=jaxlr.controllers.reduce_on_plateau(patience=5))
        jax.block_until_ready(st.params)
        return h

    run_fit_plateau()
    fit_plateau_s = _best(run_fit_plateau, repeats)

    # ---------------------------------------------------------------- Python loop, jitted step
    per_epoch = n // bs
    perm = np.random.default_rng(0).permutation(n)
    batches = [(x[perm[i * bs:(i + 1) * bs]], y[perm[i * bs:(i + 1) * bs]])
               for i in range(per_epoch)]
    step = jaxlr.make_train_step(task.loss, opt)

    def run_loop():
        st = jaxlr.TrainState.create(jax.tree.map(jnp.copy, params), opt)
        for t in range(steps):
            st, _ = step(st, batches[t % per_epoch])
        jax.block_until_ready(st.params)

    run_loop()
    loop_s = _best(run_loop, repeats)

    # ---------------------------------------------------------------- compute floor
    base = optax.adam(1e-3)
    xb = jnp.stack([b[0] for b in batches])
    yb = jnp.stack([b[1] for b in batches])

    @jax.jit
    def floor(p):
        s = base.init(p)

        def body(c, t):
            p, s = c
            i = t % per_epoch
            g = jax.grad(task.loss)(p, (xb[i], yb[i]))
            u, s = base.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(body, (p, s), jnp.arange(steps))[0][0]

    @jax.jit
    def floor_metrics(p):
        """The bare scan recording what fit records each step: the loss, the gradient norm, the
        update norm and whether the update was finite."""
        s = base.init(p)

        def body(c, t):
            p, s = c
            i = t % per_epoch
            loss, g = jax.value_and_grad(task.loss)(p, (xb[i], yb[i]))
            u, s = base.update(g, s, p)
            gn = optax.tree.norm(g)
            m = {"loss": loss, "grad_norm": gn, "update_norm": optax.tree.norm(u),
                 "finite": jnp.isfinite(loss) & jnp.isfinite(gn)}
            return (optax.apply_updates(p, u), s), m

        return jax.lax.scan(body, (p, s), jnp.arange(steps))

    with jax.numpy_dtype_promotion("standard"):
        jax.block_until_ready(floor(params))
        floor_s = _best(lambda: jax.block_until_ready(floor(params)), repeats)
        jax.block_until_ready(floor_metrics(params))
        floor_metrics_s = _best(lambda: jax.block_until_ready(floor_metrics(params)), repeats)

    # ---------------------------------------------------------------- PyTorch
    torch_s = None
    try:
        import torch  # noqa: PLC0415

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                    torch.nn.Linear(128, 10))
        tb = [(torch.from_numpy(np.array(a)), torch.from_numpy(np.array(b)).long())
              for a, b in batches]
        lossf = torch.nn.CrossEntropyLoss()

        def run_torch():
            topt = torch.optim.Adam(model.parameters(), lr=1e-3)
            for t in range(steps):
                xt, yt = tb[t % per_epoch]
                topt.zero_grad(set_to_none=True)
                loss = lossf(model(xt), yt)
                loss.backward()
                topt.step()

        run_torch()
        torch_s = _best(run_torch, repeats)
        torch_desc = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_desc = "torch not installed"

    print(json.dumps({
        "device": str(jax.devices()[0]), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(), "cpu_count": threads,
        "jax": jax.__version__, "torch": torch_desc, "steps": steps, "batch_size": bs,
        "repeats": repeats, "timing": "best of repeats, compile excluded",
        "load_avg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}))

    def line(name, jaxlr_s, baseline_s, **extra):
        print(json.dumps({"name": name, "jaxlr_s": round(jaxlr_s, 5),
                          "baseline_s": round(baseline_s, 5),
                          "ratio": round(baseline_s / jaxlr_s, 3),
                          "jaxlr_steps_per_s": round(steps / jaxlr_s, 1),
                          "baseline_steps_per_s": round(steps / baseline_s, 1), **extra}))

    line("fit_vs_python_loop_jitted_step", fit_s, loop_s)
    if torch_s is not None:
        line("fit_vs_pytorch_cpu_loop", fit_s, torch_s)
    line("fit_vs_bare_scan_floor", fit_s, floor_s,
         note="ratio < 1: fraction of the bare fused loop's speed that fit reaches")
    line("fit_vs_bare_scan_recording_the_same_metrics", fit_s, floor_metrics_s,
         note="ratio < 1: fraction of the speed of a bare scan that records fit's per-step "
              "metrics")
    line("fit_evaluating_every_epoch_vs_fit_without", fit_valid_s, fit_s,
         note=f"ratio < 1: speed of fit with valid_data (an evaluation every {n // bs} steps) "
              "relative to fit without")
    line("fit_with_plateau_on_val_loss_vs_fit_without", fit_plateau_s, fit_s,
         note="the same with reduce_on_plateau(patience=5) reading val_loss")


if __name__ == "__main__":
    main()
