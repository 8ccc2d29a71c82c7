"""jaxlr's candidates program against the strongest hand-written JAX, at every lane count.

Baseline (i), what a strong JAX user writes without jaxlr: ``jax.jit(jax.vmap(run_one))`` over
the rates, ``run_one`` a ``lax.scan`` of ``optax.inject_hyperparams(optax.adam)`` over batches
gathered up front (shared by every lane, like jaxlr's common random numbers), returning the
per-update losses. jaxlr: ``jaxlr.parallel_lr_find(task, lrs=..., num_steps=T, key=0)`` (which
also smooths the losses, detects divergence and freezes diverged lanes).

Per shape (digits MLP 64-128-10 and a wide MLP 64-1024-1024-10, batch 64; the built-in
``transformer-tiny`` task, 2 layers, 26k parameters, batch 32; Adam, 200 updates; lanes 1, 8,
32, 128, 512, the wide MLP up to 128 and the transformer up to 32) it prints one JSON line: steady-state seconds of both (best of
``--repeat`` calls with new rate values: no recompilation) and the ratio jaxlr / (i) (< 1: jaxlr
is faster), plus, per shape, the number of XLA compilations of the first call
(``jax.monitoring``). ``--first-call`` adds the end-to-end time of a fresh process (import,
compile, run) for both at 32 lanes: without a persistent compilation cache, with a cold one
and with a warm one.

``--memory`` reports instead the peak resident memory of one call, for jaxlr and (i), each in
a fresh process with a warm persistent compilation cache (digits MLP at 32 and 512 lanes, the wide MLP at 8, the
transformer at 32).

``--range`` times only the range test: ``jaxlr.lr_find`` (200 updates) against one hand-written
jitted ``lax.scan`` with the precomputed ramp (:func:`range_baseline`).

Run on an idle machine: ``python scripts/bench_lanes.py`` (``--quick``: lanes 1 and 32 only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import jaxlr  # noqa: E402

STEPS, BATCH = 200, 64
COMPILES = [0]


def _count(event, *args, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        COMPILES[0] += 1


jax.monitoring.register_event_duration_secs_listener(_count)


def wide_task():
    base = jaxlr.tasks.get_task("digits-mlp")
    sizes = (64, 1024, 1024, 10)
    return jaxlr.Task(init=lambda k: jaxlr.tasks.mlp_init(k, sizes), loss=base.loss,
                      train=base.train, valid=base.valid, batch_size=BATCH, name="wide-mlp")


def get_shape(name):
    """The task of a benchmark shape: ``digits-mlp``, ``wide-mlp`` or ``transformer-tiny``."""
    return wide_task() if name == "wide-mlp" else jaxlr.tasks.get_task(name)


def gathered(task):
    """What the baselines prepare on the host: every update's batch and the initial parameters."""
    x, y = (np.asarray(a) for a in task.train)
    rng = np.random.default_rng(0)
    rows = np.stack([rng.choice(x.shape[0], task.batch_size, replace=False)
                     for _ in range(STEPS)])
    return jnp.asarray(x[rows]), jnp.asarray(y[rows]), task.init(jax.random.key(0))


def baseline(task):
    """Baseline (i): returns ``run(lrs) -> losses [lanes, T]`` (compiled on first use)."""
    xs, ys, params0 = gathered(task)

    def run_one(lr, xs, ys):
        opt = optax.inject_hyperparams(optax.adam)(learning_rate=lr)

        def body(carry, batch):
            p, s = carry
            loss, g = jax.value_and_grad(task.loss)(p, batch)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        _, losses = jax.lax.scan(body, (params0, opt.init(params0)), (xs, ys))
        return losses

    prog = jax.jit(jax.vmap(run_one, in_axes=(0, None, None)))
    return lambda lrs: prog(jnp.asarray(lrs, jnp.float32), xs, ys)


def ours(task):
    def run(lrs):
        return jaxlr.parallel_lr_find(task, lrs=np.asarray(lrs), num_steps=STEPS,
                                      batch_size=task.batch_size, key=0).losses
    return run


def best_of(fn, lanes, repeat):
    times = []
    for r in range(repeat):
        lrs = np.geomspace(1e-4, 1e-2, lanes) * (1 + 0.01 * (r + 1))
        t = time.perf_counter()
        jax.block_until_ready(fn(lrs))
        times.append(time.perf_counter() - t)
    return min(times)


def steady(task, lanes, repeat):
    row = {"shape": task.name, "lanes": lanes}
    for name, make in (("jaxlr", ours), ("baseline_i", baseline)):
        COMPILES[0] = 0
        t = time.perf_counter()
        fn = make(task)      # the first call includes the baseline's host gather and init
        jax.block_until_ready(fn(np.geomspace(1e-4, 1e-2, lanes)))
        row[f"{name}_first_s"] = round(time.perf_counter() - t, 3)
        row[f"{name}_compiles"] = COMPILES[0]
        row[f"{name}_s"] = round(best_of(fn, lanes, repeat), 4)
    row["ratio"] = round(row["jaxlr_s"] / row["baseline_i_s"], 3)
    row["first_call_ratio"] = round(row["jaxlr_first_s"] / row["baseline_i_first_s"], 3)
    return row


FRESH = textwrap.dedent("""
    import sys, time
    t = time.perf_counter()
    sys.path.insert(0, {scripts!r})
    import numpy as np, jax
    if {cache!r}:
        jax.config.update("jax_compilation_cache_dir", {cache!r})
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    import bench_lanes as b, jaxlr
    task = jaxlr.tasks.get_task("digits-mlp")
    fn = b.ours(task) if {which!r} == "jaxlr" else b.baseline(task)
    jax.block_until_ready(fn(np.geomspace(1e-4, 1e-2, 32)))
    print(time.perf_counter() - t)
""")


def first_call():
    """A fresh process (import, build, compile, run) at 32 lanes, for jaxlr and (i): without a
    persistent compilation cache (best of 2), with a cold one (empty: compile and write) and a
    warm one (filled by the cold run: read instead of compile)."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = {}
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAXLR_COMPILATION_CACHE="0")

    def fresh(which, cache=""):
        return float(subprocess.run([sys.executable, "-c", FRESH.format(
            scripts=here, which=which, cache=cache)], capture_output=True, text=True, env=env,
            check=True).stdout.split()[-1])

    for which in ("jaxlr", "baseline_i"):
        out[f"{which}_fresh_process_s"] = round(min(fresh(which) for _ in range(2)), 3)
        with tempfile.TemporaryDirectory() as cache:
            out[f"{which}_cold_cache_s"] = round(fresh(which, cache), 3)
            out[f"{which}_warm_cache_s"] = round(fresh(which, cache), 3)
    for k in ("fresh_process", "cold_cache", "warm_cache"):
        out[f"ratio_{k}"] = round(out[f"jaxlr_{k}_s"] / out[f"baseline_i_{k}_s"], 3)
    return {"shape": "digits-mlp", "lanes": 32, **out}


MEMORY = textwrap.dedent("""
    import json, os, resource, sys, threading, time
    sys.path.insert(0, {scripts!r})
    import numpy as np, jax
    jax.config.update("jax_compilation_cache_dir", {cache!r})
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    import bench_lanes as b

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    task = b.get_shape({shape!r})
    lrs = np.geomspace(1e-4, 1e-2, {lanes})
    before, peak, done = rss(), [0], [False]

    def sample():
        while not done[0]:
            peak[0] = max(peak[0], rss())
            time.sleep(0.0005)

    t = threading.Thread(target=sample)
    t.start()
    fn = b.ours(task) if {which!r} == "jaxlr" else b.baseline(task)
    jax.block_until_ready(fn(lrs))
    done[0] = True
    t.join()
    print(json.dumps({{"peak_mb": (max(peak[0], rss()) - before) / 2 ** 20}}))
""")


def memory_row(shape, lanes):
    """Peak resident memory of one call (sampled every 0.5 ms from ``/proc/self/statm``, above
    the process's memory once the task is built), for jaxlr and baseline (i), each in a fresh
    process whose persistent compilation cache was filled by an identical process before, so
    the compiler's own memory does not count; the baseline's host batch gather is included
    (jaxlr gathers inside its program)."""
    here = os.path.dirname(os.path.abspath(__file__))
    row = {"shape": shape, "lanes": lanes}
    for which in ("jaxlr", "baseline_i"):
        with tempfile.TemporaryDirectory() as cache:
            for _ in range(2):          # the first fills the cache, the second is measured
                env = dict(os.environ, JAX_PLATFORMS="cpu")
                out = subprocess.run([sys.executable, "-c", MEMORY.format(
                    scripts=here, shape=shape, which=which, lanes=lanes, cache=cache)],
                    capture_output=True, text=True, env=env, check=True).stdout.split("\n")
            res = json.loads([x for x in out if x][-1])
        row[f"{which}_peak_mb"] = round(res["peak_mb"], 1)
    return row


def range_baseline(task):
    """The hand-written range test: one jitted ``lax.scan`` of ``optax.inject_hyperparams(adam)``
    whose rate is read from the precomputed exponential ramp, batches gathered up front;
    returns the per-update losses (smoothing them afterwards on the host is negligible)."""
    xs, ys, params0 = gathered(task)

    @jax.jit
    def run(ramp, xs, ys):
        opt = optax.inject_hyperparams(optax.adam)(learning_rate=ramp[0])

        def body(carry, inp):
            p, s = carry
            lr, batch = inp[0], inp[1:]
            s.hyperparams["learning_rate"] = lr
            loss, g = jax.value_and_grad(task.loss)(p, batch)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        return jax.lax.scan(body, (params0, opt.init(params0)), (ramp, xs, ys))[1]

    return lambda lo, hi: run(jnp.asarray(np.geomspace(lo, hi, STEPS), jnp.float32), xs, ys)


def range_ours(task):
    return lambda lo, hi: jaxlr.lr_find(task, min_lr=lo, max_lr=hi, num_steps=STEPS,
                                        batch_size=BATCH, key=0).losses


def range_row(repeat):
    """``jaxlr.lr_find`` (200 updates) against :func:`range_baseline`, best of ``repeat`` calls
    (at least 10) with new ramp ends (no recompilation), and the first call's time and
    compilations (the baseline's batch gather and parameter initialisation included: jaxlr
    does both inside its program)."""
    task = jaxlr.tasks.get_task("digits-mlp")
    row = {"shape": "range test, digits-mlp", "lanes": 1}
    for name, make in (("jaxlr", range_ours), ("hand_scan", range_baseline)):
        COMPILES[0] = 0
        t = time.perf_counter()
        fn = make(task)      # the first call includes the baseline's host gather and init
        jax.block_until_ready(fn(1e-7, 10.0))
        row[f"{name}_first_s"] = round(time.perf_counter() - t, 3)
        row[f"{name}_compiles"] = COMPILES[0]
        times = []
        for r in range(max(repeat, 10)):
            t = time.perf_counter()
            np.asarray(fn(1e-7 * (1 + 0.01 * r), 10.0))
            times.append(time.perf_counter() - t)
        row[f"{name}_s"] = round(min(times), 5)
    row["ratio"] = round(row["jaxlr_s"] / row["hand_scan_s"], 3)
    row["first_call_ratio"] = round(row["jaxlr_first_s"] / row["hand_scan_first_s"], 3)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lanes", nargs="*", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--first-call", action="store_true")
    ap.add_argument("--shapes", nargs="*",
                    default=["digits-mlp", "wide-mlp", "transformer-tiny"])
    ap.add_argument("--range", action="store_true",
                    help="only the range test against the hand-written ramp scan")
    ap.add_argument("--memory", action="store_true",
                    help="only the peak memory of a steady-state call, per shape")
    args = ap.parse_args(argv)
    lanes = args.lanes or ([1, 32] if args.quick else [1, 8, 32, 128, 512])
    print(json.dumps({"device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
                      "jax": jax.__version__, "steps": STEPS, "batch": BATCH}))
    if args.range:
        print(json.dumps(range_row(args.repeat)), flush=True)
        return
    if args.memory:
        for shape, n in (("digits-mlp", 32), ("digits-mlp", 512), ("wide-mlp", 8),
                         ("transformer-tiny", 32)):
            if shape in args.shapes:
                print(json.dumps(memory_row(shape, n)), flush=True)
        return
    for shape in args.shapes:
        task = get_shape(shape)
        for n in lanes:
            if (shape == "wide-mlp" and n > 128) or (shape == "transformer-tiny" and n > 32):
                continue                      # minutes per call on a CPU
            print(json.dumps(steady(task, n, args.repeat)), flush=True)
    if args.first_call:
        print(json.dumps(first_call()), flush=True)


if __name__ == "__main__":
    main()
