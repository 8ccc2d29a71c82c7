"""Benchmark of the learning-rate finders against what a user would otherwise run.

Digits MLP (64-128-10, Adam, batch 64), 32 candidate rates x 200 updates:

(a) ``jaxlr.parallel_lr_find``: one compiled program for all candidates;
(b) the same 32 short runs as a sequential PyTorch CPU loop (same threads);
(c) raw JAX baselines: a Python loop over a jitted step, and one jitted ``lax.scan`` run per rate;
(d) torch-lr-finder's range test vs ``jaxlr.lr_find`` (200 updates);
(e) ``torch.func`` (``vmap`` of ``grad`` of ``functional_call`` over stacked parameters, Adam
    on the stacked tensors with per-lane rates) vs ``jaxlr.parallel_lr_find`` at 32 and 128
    lanes (``--torch-func-lanes``), PyTorch at 1 and 2 threads.

Also the FLOP/s of the parallel finder on a wide MLP (64-1024-1024-10) at 128 candidates, from
the per-update slope (fixed costs cancel), against the matmul peak and a memory roofline.

Also: achieved FLOP/s of the parallel finder at 64 and 256 candidates against a measured
large-matmul peak (with bare vmapped optax loops and a roofline from the measured memory
bandwidth as references), the persistent compilation cache's effect on a fresh process, and (with
``--sizes``) wall time against the number of candidates (for a GPU: 1, 64, 256, 1024).

Prints one JSON line per figure: ``{"name", "jaxlr_s", "baseline_s", "ratio", ...}``;
steady-state times exclude compilation (second call), end-to-end ones include it.

Run: ``python scripts/bench_finder.py`` (``--quick`` for a fast smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import jaxlr  # noqa: E402
from jaxlr.engine._data import batch_indices, take  # noqa: E402
from jaxlr.tasks import get_task  # noqa: E402

NUM_LRS, STEPS, BATCH = 32, 200, 64


def emit(name, jaxlr_s, baseline_s=None, **extra):
    row = {"name": name, "jaxlr_s": round(jaxlr_s, 4)}
    if baseline_s is not None:
        row["baseline_s"] = round(baseline_s, 4)
        row["ratio"] = round(baseline_s / jaxlr_s, 2)
    row.update(extra)
    print(json.dumps(row))
    sys.stdout.flush()


def timed(fn, repeat=1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def lr_grid(n):
    return np.exp(np.linspace(np.log(1e-5), np.log(1.0), n))


def mlp_flops_per_step(batch=BATCH, sizes=(64, 128, 10)):
    """Matmul FLOPs of one training step of the MLP, counting only what is executed.

    Forward: one matmul per layer; backward: the weight gradient of every layer and the input
    gradient of every layer but the first (the data needs none, and JAX does not compute it).
    2 FLOPs per multiply-add. (Counting the first layer's input gradient, as ``3 x forward``
    does, overstated the digits MLP's FLOP/s 1.4x.) XLA's cost analysis of the compiled gradient
    agrees: 2.64 MFLOP at batch 64 against 2.59 here (the rest is elementwise work).
    """
    layer_macs = [a * b * batch for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * (2 * sum(layer_macs) + sum(layer_macs[1:]))


def matmul_peak(n=2048, repeat=5):
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    f(a, a).block_until_ready()
    t, _ = timed(lambda: f(a, a).block_until_ready(), repeat)
    return 2 * n ** 3 / t


# ---------------------------------------------------------------------------------- (a) (c)


def run_parallel(task, n, steps, key=0, chunk_size="auto"):
    return jaxlr.parallel_lr_find(task, lrs=lr_grid(n), num_steps=steps, smoothing=0.9,
                                  key=key, chunk_size=chunk_size)


def bare_vmapped(task, n, steps, optimizer=optax.adam):
    """A bare ``vmap`` over rates of a ``lax.scan`` of ``optimizer`` on pre-gathered batches.

    The most direct vmapped training a user could write: no divergence masking, no smoothing,
    no metrics. Its FLOP/s is the reference for what XLA's CPU backend achieves on this
    workload, independently of jaxlr (``optax.sgd``: the matmuls without Adam's state).
    """
    data = task.train_batches()
    key = jax.random.key(0)
    idx = jax.vmap(lambda s: batch_indices(key, s, task.num_train, BATCH))(jnp.arange(steps))
    batches = jax.tree.map(lambda x: x.reshape((steps, BATCH) + x.shape[1:]),
                           take(data, idx.reshape(-1)))
    p0 = task.init(jax.random.key(1))

    @jax.jit
    def run(lrs, batches):
        def one(lr):
            opt = optimizer(lr)

            def body(c, b):
                p, st = c
                loss, g = jax.value_and_grad(task.loss)(p, b)
                u, st = opt.update(g, st, p)
                return (optax.apply_updates(p, u), st), loss

            return jax.lax.scan(body, (p0, opt.init(p0)), batches)[1]

        return jax.vmap(one)(lrs)

    lrs = jnp.asarray(lr_grid(n), jnp.float32)
    return lambda: jax.block_until_ready(run(lrs, batches))


def memory_bandwidth(n=2 ** 26, repeat=5):
    """Bytes/s of a jitted ``x * 1.5 + y`` over 256 MiB arrays (two reads, one write)."""
    x = jnp.ones(n, jnp.float32)
    y = jnp.ones(n, jnp.float32)
    f = jax.jit(lambda x, y: x * 1.5 + y)
    f(x, y).block_until_ready()
    t, _ = timed(lambda: f(x, y).block_until_ready(), repeat)
    return 3 * 4 * n / t


def mlp_params(sizes=(64, 128, 10)):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


# Adam + apply_updates touch every parameter at least 8 times per update, 4 bytes each: the
# gradient written by the backward pass, then g, m, v, p read and m, v, p written.
ADAM_BYTES_PER_PARAM = 8 * 4


def raw_jax_baselines(task, lrs, steps):
    """(c1) Python loop over a jitted step; (c2) one jitted scan per rate (compiled once)."""
    train = task.train_batches()
    n = task.num_train
    params0 = task.init(jax.random.key(0))
    key = jax.random.key(1)

    def make_step(lr):
        tx = optax.adam(lr)

        def step(p, s, k):
            batch = take(train, batch_indices(key, k, n, BATCH))
            loss, g = jax.value_and_grad(task.loss)(p, batch)
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s, loss

        return tx, step

    @jax.jit
    def jstep(p, s, k, lr):
        return make_step(lr)[1](p, s, k)

    def c1():
        out = []
        for lr in lrs:
            tx, _ = make_step(jnp.float32(lr))
            p, s = params0, tx.init(params0)
            for k in range(steps):
                p, s, loss = jstep(p, s, k, jnp.float32(lr))
            out.append(loss)
        return jax.block_until_ready(out)

    @jax.jit
    def scanned(lr):
        tx, step = make_step(lr)

        def body(c, k):
            p, s, loss = step(*c, k)
            return (p, s), loss

        return jax.lax.scan(body, (params0, tx.init(params0)), jnp.arange(steps))[1]

    def c2():
        return jax.block_until_ready([scanned(jnp.float32(lr)) for lr in lrs])

    return c1, c2


# ---------------------------------------------------------------------------------- (b) (d)


def torch_setup(task):
    import torch
    from torch import nn

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    x = torch.from_numpy(task.train[0])
    y = torch.from_numpy(task.train[1].astype(np.int64))

    def model():
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    return torch, nn, x, y, model


def torch_runs(task, lrs, steps):
    torch, nn, x, y, make = torch_setup(task)
    crit = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    n = x.shape[0]

    def run():
        finals = []
        for lr in lrs:
            torch.manual_seed(0)
            m = make()
            opt = torch.optim.Adam(m.parameters(), lr=float(lr))
            perm = torch.randperm(n, generator=g)
            pos = 0
            for _ in range(steps):
                if pos + BATCH > n:
                    perm, pos = torch.randperm(n, generator=g), 0
                idx = perm[pos:pos + BATCH]
                pos += BATCH
                opt.zero_grad()
                loss = crit(m(x[idx]), y[idx])
                loss.backward()
                opt.step()
            finals.append(float(loss.detach()))
        return finals

    return run


def torch_range_test(task, steps):
    import contextlib
    import io

    torch, nn, x, y, make = torch_setup(task)
    from torch.utils.data import DataLoader, TensorDataset
    from torch_lr_finder import LRFinder

    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, drop_last=True)

    def run():
        m = make()
        opt = torch.optim.Adam(m.parameters(), lr=1e-7)
        finder = LRFinder(m, opt, nn.CrossEntropyLoss(), device="cpu")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
                io.StringIO()):
            finder.range_test(loader, end_lr=10.0, num_iter=steps)
        finder.reset()
        return finder.history["loss"]

    return run


def torch_func_runs(task, lrs, steps, threads):
    """The strongest PyTorch way to train many rates at once: ``torch.func.vmap`` of
    ``grad_and_value`` of a ``functional_call`` over the stacked parameters of one module per
    rate (``stack_module_state``), and Adam written as in-place ops on the stacked tensors with a
    per-lane rate (no Python loop over lanes; 4 leaves). Every lane starts from the same
    initialisation and reads the same batches (common random numbers, like jaxlr's)."""
    import copy

    import torch
    import torch.nn.functional as F
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    torch, nn, x, y, make = torch_setup(task)
    torch.set_num_threads(threads)
    lanes = len(lrs)
    models = []
    for _ in range(lanes):
        torch.manual_seed(0)
        models.append(make())
    rng = np.random.default_rng(0)
    rows = torch.from_numpy(np.stack([rng.choice(x.shape[0], BATCH, replace=False)
                                      for _ in range(steps)]))
    xs, ys = x[rows], y[rows]
    base = copy.deepcopy(models[0]).to("meta")

    def loss_fn(params, xb, yb):
        return F.cross_entropy(functional_call(base, params, (xb,)), yb)

    step_fn = vmap(grad_and_value(loss_fn), in_dims=(0, None, None))
    b1, b2, eps = 0.9, 0.999, 1e-8

    def run():
        params, _ = stack_module_state(models)
        params = {k: v.detach().clone() for k, v in params.items()}
        m = {k: torch.zeros_like(v) for k, v in params.items()}
        v2 = {k: torch.zeros_like(v) for k, v in params.items()}
        lr = {k: torch.tensor(lrs, dtype=torch.float32).view(-1, *([1] * (p.dim() - 1)))
              for k, p in params.items()}
        losses = torch.empty(steps, lanes)
        with torch.no_grad():
            for t in range(steps):
                grads, loss = step_fn(params, xs[t], ys[t])
                losses[t] = loss
                c1, c2 = 1 - b1 ** (t + 1), 1 - b2 ** (t + 1)
                for k in params:
                    g = grads[k]
                    m[k].mul_(b1).add_(g, alpha=1 - b1)
                    v2[k].mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (v2[k] / c2).sqrt_().add_(eps)
                    params[k].addcdiv_(m[k] * lr[k], denom, value=-1 / c1)
        return losses

    return run


# ---------------------------------------------------------------------------------- wide


WIDE = (64, 1024, 1024, 10)


def wide_task():
    base = get_task("digits-mlp")
    return jaxlr.Task(init=lambda k: jaxlr.tasks.mlp_init(k, WIDE), loss=base.loss,
                      train=base.train, valid=base.valid, batch_size=BATCH, name="wide-mlp")


def wide_slope(lanes, short, long):
    """Seconds per update of the parallel finder and of :func:`bare_vmapped` on the wide MLP
    (64-1024-1024-10, 1.1 M parameters per lane) at ``lanes`` candidates: the difference of the
    best of 2 calls at ``long`` and at ``short`` updates, divided by ``long - short``, so the
    fixed costs (initialising every lane, evaluating, the result) cancel."""
    task = wide_task()
    out = {}
    for name, make in (("jaxlr", lambda n: lambda: run_parallel(task, lanes, n)),
                       ("bare", lambda n: bare_vmapped(task, lanes, n))):
        t = {}
        for n in (short, long):
            fn = make(n)
            fn()
            t[n], _ = timed(fn, repeat=2)
        out[name] = (t[long] - t[short]) / (long - short)
    return out


# ---------------------------------------------------------------------------------- cache


CACHE_SNIPPET = textwrap.dedent("""
    import os, sys, time, json
    t0 = time.perf_counter()
    import jax
    cache = sys.argv[1]
    if cache != "none":
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    import jaxlr
    from jaxlr.tasks import get_task
    task = get_task("digits-mlp")
    t1 = time.perf_counter()
    r = jaxlr.parallel_lr_find(task, num_lrs=32, num_steps=int(sys.argv[2]), smoothing=0.9,
                               key=0)
    r.suggestion
    t2 = time.perf_counter()
    print(json.dumps({"first_call_s": t2 - t1, "process_s": t2 - t0}))
""")


def cache_effect(steps):
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    with tempfile.TemporaryDirectory() as d:
        out = []
        for cache in ("none", d, d):
            p = subprocess.run([sys.executable, "-c", CACHE_SNIPPET, cache, str(steps)],
                               capture_output=True, text=True, env=env, timeout=600)
            if p.returncode != 0:
                raise RuntimeError(p.stderr[-2000:])
            out.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return out


# ---------------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer candidates/steps for a smoke run")
    ap.add_argument("--sizes", nargs="*", type=int, default=None,
                    help="also time these candidate counts (e.g. 1 64 256 1024 on a GPU)")
    ap.add_argument("--skip", nargs="*", default=[],
                    help="parts to skip: b c d e flops wide cache")
    ap.add_argument("--torch-func-lanes", nargs="*", type=int, default=[32, 128],
                    help="lane counts of the torch.func comparison (e)")
    ap.add_argument("--torch-runs", type=int, default=None,
                    help="time only this many of the sequential PyTorch runs and scale the time "
                         "to all candidates (every run is the same work); default: all")
    args = ap.parse_args(argv)
    n_lrs, steps = (8, 100) if args.quick else (NUM_LRS, STEPS)
    dev = jax.devices()[0]
    print(json.dumps({"device": str(dev), "platform": dev.platform,
                      "device_kind": getattr(dev, "device_kind", ""),
                      "cpu": platform.processor() or platform.machine(),
                      "cpu_count": os.cpu_count(), "jax": jax.__version__,
                      "candidates": n_lrs, "steps": steps}))
    task = get_task("digits-mlp")
    lrs = lr_grid(n_lrs)
    warnings.simplefilter("ignore", RuntimeWarning)

    # (a) jaxlr parallel finder
    e2e, _ = timed(lambda: run_parallel(task, n_lrs, steps))
    steady, _ = timed(lambda: run_parallel(task, n_lrs, steps, key=1), repeat=3)
    emit(f"(a) jaxlr.parallel_lr_find {n_lrs}x{steps} end-to-end (compile included)", e2e)
    emit(f"(a) jaxlr.parallel_lr_find {n_lrs}x{steps} steady-state", steady)

    if "b" not in args.skip:
        try:
            k = min(args.torch_runs or n_lrs, n_lrs)
            run = torch_runs(task, lrs[:k], steps)
            tb, _ = timed(run)
            emit(f"(b) vs sequential PyTorch CPU loop, {n_lrs} runs x {steps}", steady,
                 tb * n_lrs / k, goal=">= 20x", torch_runs_timed=k)
        except ImportError as e:
            print(json.dumps({"name": "(b) skipped", "why": str(e)}))

    if "e" not in args.skip:
        for lanes in args.torch_func_lanes:
            lane_lrs = lr_grid(lanes)
            ours = lambda: jaxlr.parallel_lr_find(task, lrs=lane_lrs, num_steps=steps,
                                                  batch_size=BATCH, key=0).losses
            timed(ours)
            t_ours, _ = timed(ours, repeat=3)
            try:
                for threads in (1, 2):
                    run = torch_func_runs(task, lane_lrs, steps, threads)
                    run()
                    t_tf, _ = timed(run, repeat=2)
                    emit(f"(e) vs torch.func vmap + functional_call (per-lane Adam), {lanes} "
                         f"lanes x {steps}, {threads} torch thread(s), steady-state", t_ours,
                         t_tf, goal=">= 4x at >= 32 lanes")
            except ImportError as e:
                print(json.dumps({"name": "(e) skipped", "why": str(e)}))
                break

    if "c" not in args.skip:
        c1, c2 = raw_jax_baselines(task, lrs, steps)
        c1_e2e, _ = timed(c1)
        c1_ss, _ = timed(c1)
        c2_e2e, _ = timed(c2)
        c2_ss, _ = timed(c2)
        emit("(c1) vs raw JAX: Python loop over a jitted step, steady-state", steady, c1_ss)
        emit("(c1) vs raw JAX: Python loop over a jitted step, end-to-end", e2e, c1_e2e)
        emit("(c2) vs raw JAX: one jitted scan per rate, steady-state", steady, c2_ss)
        emit("(c2) vs raw JAX: one jitted scan per rate, end-to-end", e2e, c2_e2e)

    if "d" not in args.skip:
        rsteps = steps
        f = lambda: jaxlr.lr_find(task, num_steps=rsteps, min_lr=1e-7, max_lr=10.0, key=0)
        r_e2e, _ = timed(f)
        r_ss, _ = timed(f, repeat=3)
        try:
            tr = torch_range_test(task, rsteps)
            t_ss, _ = timed(tr, repeat=2)
            emit(f"(d) jaxlr.lr_find vs torch-lr-finder range_test, {rsteps} steps, "
                 "steady-state", r_ss, t_ss, goal=">= 10x")
            emit(f"(d) jaxlr.lr_find vs torch-lr-finder range_test, {rsteps} steps, "
                 "end-to-end", r_e2e, t_ss)
        except ImportError as e:
            print(json.dumps({"name": "(d) skipped", "why": str(e)}))

    if "flops" not in args.skip:
        peak = matmul_peak(1024 if args.quick else 2048)
        bw = memory_bandwidth(2 ** 24 if args.quick else 2 ** 26)
        per_step = mlp_flops_per_step()
        for n in ((16, 64) if args.quick else (64, 256)):
            run_parallel(task, n, steps)
            t, _ = timed(lambda: run_parallel(task, n, steps, key=1), repeat=2)
            flops = per_step * n * steps / t
            emit(f"FLOP/s at {n} candidates x {steps} steps", t, None,
                 achieved_gflops=round(flops / 1e9, 2), matmul_peak_gflops=round(peak / 1e9, 2),
                 fraction_of_peak=round(flops / peak, 3))
            # the same without cache blocking (every candidate in one vmapped block)
            run_parallel(task, n, steps, chunk_size=None)
            tn, _ = timed(lambda: run_parallel(task, n, steps, key=1, chunk_size=None), repeat=2)
            emit(f"FLOP/s at {n} candidates x {steps} steps, chunk_size=None (one block)", t,
                 tn, achieved_gflops=round(per_step * n * steps / tn / 1e9, 2),
                 fraction_of_peak=round(per_step * n * steps / tn / peak, 3),
                 note="ratio: speed-up of chunk_size='auto' (cache blocking)")
            for name, opt in (("optax.adam", optax.adam), ("optax.sgd", optax.sgd)):
                bare = bare_vmapped(task, n, steps, opt)
                bare()
                tb, _ = timed(bare, repeat=2)
                emit(f"FLOP/s reference: bare vmapped {name} scan, {n} candidates x {steps} "
                     "steps", t, tb, achieved_gflops=round(per_step * n * steps / tb / 1e9, 2),
                     fraction_of_peak=round(per_step * n * steps / tb / peak, 3),
                     note="ratio > 1: jaxlr's finder is faster than the bare vmapped loop")
            # Roofline: the matmuls at peak, then Adam's memory traffic at the measured
            # bandwidth (dependent ops within an update: no overlap).
            t_flops = per_step * n / peak
            t_bytes = ADAM_BYTES_PER_PARAM * mlp_params() * n / bw
            emit(f"roofline at {n} candidates: matmuls at peak + Adam at memory bandwidth",
                 t / steps, None, compute_ms=round(t_flops * 1e3, 3),
                 adam_memory_ms=round(t_bytes * 1e3, 3),
                 bound_fraction_of_peak=round(t_flops / (t_flops + t_bytes), 3),
                 memory_bandwidth_gbs=round(bw / 1e9, 2),
                 note="jaxlr_s is jaxlr's time per update")

    if "wide" not in args.skip:
        peak = matmul_peak(1024 if args.quick else 2048)
        bw = memory_bandwidth(2 ** 24 if args.quick else 2 ** 26)
        lanes = 8 if args.quick else 128
        per = wide_slope(lanes, 10, 20) if args.quick else wide_slope(lanes, 10, 30)
        work = mlp_flops_per_step(BATCH, WIDE) * lanes
        t_flops = work / peak
        t_bytes = ADAM_BYTES_PER_PARAM * mlp_params(WIDE) * lanes / bw
        emit(f"FLOP/s, wide MLP 64-1024-1024-10, {lanes} candidates (seconds per update)",
             per["jaxlr"], per["bare"], achieved_gflops=round(work / per["jaxlr"] / 1e9, 2),
             bare_gflops=round(work / per["bare"] / 1e9, 2),
             matmul_peak_gflops=round(peak / 1e9, 2),
             fraction_of_peak=round(work / per["jaxlr"] / peak, 3),
             bare_fraction_of_peak=round(work / per["bare"] / peak, 3),
             roofline_fraction_of_peak=round(t_flops / (t_flops + t_bytes), 3),
             memory_bandwidth_gbs=round(bw / 1e9, 2), goal=">= 50% of the matmul peak",
             note="baseline: bare vmapped optax.adam scan; roofline: matmuls at peak then "
                  "Adam's 32 bytes/parameter at the measured bandwidth")

    if "cache" not in args.skip:
        none, cold, warm = cache_effect(steps)
        emit("persistent compilation cache: first call in a fresh process, warm cache vs none",
             warm["first_call_s"], none["first_call_s"], cold_cache_s=round(
                 cold["first_call_s"], 3), process_s_warm=round(warm["process_s"], 3),
             process_s_none=round(none["process_s"], 3))

    for n in args.sizes or []:
        run_parallel(task, n, steps)
        t, _ = timed(lambda: run_parallel(task, n, steps, key=1), repeat=2)
        emit(f"scaling: {n} candidates x {steps} steps, steady-state", t, None,
             candidates=n)


if __name__ == "__main__":
    main()
