"""Benchmark: a vectorised jaxlr sweep vs sequential Optuna+JAX trials vs a sequential PyTorch loop.

64 trials (4 learning rates x 4 warm-up lengths x 4 weight decays) of the digits MLP
(64-128-10, AdamW, linear warm-up then cosine decay, batch 64), 300 steps each:

* jaxlr:     ``jaxlr.sweep_task`` on the grid: all 64 trials in one compiled program.
* optuna+jax: the same 64 configurations as sequential Optuna trials (``GridSampler``), each
  calling a jitted JAX training function (a ``lax.scan`` over 300 steps) built the usual way:
  ``optax.adamw(optax.warmup_cosine_decay_schedule(...))`` from the trial's Python numbers, so
  every trial compiles its own program (optax schedules cannot take a traced warm-up length).
* optuna+jax (traced): the strongest sequential JAX baseline: one jitted function whose
  hyperparameters are traced arguments (a hand-written traceable schedule), compiled once.
* pytorch:   the same trials as a sequential PyTorch CPU loop (``nn.Sequential`` MLP, AdamW,
  ``LambdaLR`` warm-up + cosine), same batch order.
* k-fold:    the jaxlr sweep with 5-fold cross-validation (vectorised over folds) vs one split.

Prints one JSON line per figure plus one naming the device. ``--quick`` runs 8 trials x 100
steps (a smoke test). Times include compilation (the first and only call).

``--vectorised`` instead measures the sweep against the vectorised alternatives on the same
64 trials, each timed on its first call (host preparation and compilation included) and in the
steady state (best of ``--repeat`` calls with new rate values, nothing recompiled):

* baseline (i): ``jax.jit(jax.vmap(train_one))`` over the trials' traced hyperparameters,
  ``train_one`` a ``lax.scan`` of ``optax.adamw`` with the traceable warm-up + cosine over
  batches gathered up front, returning the validation loss;
* hyperoptax ``GridSearch`` and ``RandomSearch`` (``n_parallel=64``, one iteration) with that
  ``train_one`` jitted as the objective (the strongest way to use it);
* successive halving (27 trials, eta 3) and PBT (32 members) against the same number of
  training steps spent in baseline (i) on a plain grid: time and best validation loss.

    python scripts/bench_sweep.py --vectorised --repeat 5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxlr
from jaxlr.engine._data import batch_indices, take
from jaxlr.tasks import get_task


def grid_values(quick: bool):
    if quick:
        return [1e-3, 3e-3], [0, 20], [0.0, 1e-4], 100, [1.0]
    return [3e-4, 1e-3, 3e-3, 1e-2], [0, 25, 50, 100], [0.0, 1e-5, 1e-4, 1e-3], 300, [1.0]


def warmup_cosine(lr, warmup, total):
    def sched(step):
        t = jnp.asarray(step, jnp.float32)
        w = jnp.asarray(warmup, jnp.float32)
        warm = lr * jnp.minimum(t / jnp.maximum(w, 1.0), 1.0)
        frac = jnp.clip((t - w) / jnp.maximum(jnp.float32(total) - w, 1.0), 0.0, 1.0)
        return jnp.where(t < w, warm, lr * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)))
    return sched


def train_and_score(task, opt, train, valid, key, n, steps):
    """One trial of the sequential JAX baselines: a ``lax.scan`` of ``opt`` over ``steps``
    on-device mini-batches, then the validation loss (traced; call inside ``jax.jit``)."""
    k_init, k_data = jax.random.split(key)
    params = task.init(k_init)

    def body(c, step):
        p, s = c
        batch = take(train, batch_indices(k_data, step, n, task.batch_size))
        g = jax.grad(task.loss)(p, batch)
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), None

    (params, _), _ = jax.lax.scan(body, (params, opt.init(params)), jnp.arange(steps))
    return task.loss(params, valid)


def bench_jaxlr(task, lrs, warms, wds, steps, folds=None):
    g = jaxlr.grid({"learning_rate": lrs, "warmup_steps": warms, "weight_decay": wds})
    sched = lambda hp: jaxlr.warmup_cosine(hp["learning_rate"], hp["warmup_steps"], steps)
    t0 = time.perf_counter()
    r = jaxlr.sweep_task(task, space=g, key=jax.random.key(0), optimizer="adamw",
                         schedule=sched, steps=steps, folds=folds)
    np.asarray(r.metrics["valid_loss"])
    return time.perf_counter() - t0, r


def bench_optuna_jax_recompile(task, lrs, warms, wds, steps):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train = task.train_batches()
    valid = task.valid_batch()
    n = task.num_train

    def objective(trial):
        lr = trial.suggest_categorical("lr", lrs)
        w = trial.suggest_categorical("warmup", warms)
        wd = trial.suggest_categorical("wd", wds)
        opt = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, lr, w, steps), weight_decay=wd)

        @jax.jit
        def train_one(train, valid, key):
            return train_and_score(task, opt, train, valid, key, n, steps)

        return float(train_one(train, valid, jax.random.key(0)))

    study = optuna.create_study(sampler=optuna.samplers.GridSampler(
        {"lr": lrs, "warmup": warms, "wd": wds}, seed=0))
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=len(lrs) * len(warms) * len(wds))
    return time.perf_counter() - t0, study


def bench_optuna_jax(task, lrs, warms, wds, steps):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train = task.train_batches()
    valid = task.valid_batch()
    n = task.num_train

    @jax.jit
    def train_one(lr, warmup, wd, key, train, valid):
        opt = optax.adamw(warmup_cosine(lr, warmup, steps), weight_decay=wd)
        return train_and_score(task, opt, train, valid, key, n, steps)

    def objective(trial):
        lr = trial.suggest_categorical("lr", lrs)
        w = trial.suggest_categorical("warmup", warms)
        wd = trial.suggest_categorical("wd", wds)
        return float(train_one(jnp.float32(lr), jnp.int32(w), jnp.float32(wd),
                               jax.random.key(0), train, valid))

    study = optuna.create_study(sampler=optuna.samplers.GridSampler(
        {"lr": lrs, "warmup": warms, "wd": wds}, seed=0))
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=len(lrs) * len(warms) * len(wds))
    return time.perf_counter() - t0, study


def bench_torch(task, lrs, warms, wds, steps):
    import torch
    xt = torch.tensor(np.asarray(task.train[0]))
    yt = torch.tensor(np.asarray(task.train[1]), dtype=torch.long)
    xv = torch.tensor(np.asarray(task.valid[0]))
    yv = torch.tensor(np.asarray(task.valid[1]), dtype=torch.long)
    key = jax.random.split(jax.random.key(0))[1]
    idx = np.asarray(jax.vmap(lambda s: batch_indices(key, s, task.num_train,
                                                      task.batch_size))(jnp.arange(steps)))
    idx = torch.tensor(idx, dtype=torch.long)
    loss_fn = torch.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    results = []
    for lr in lrs:
        for w in warms:
            for wd in wds:
                torch.manual_seed(0)
                model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                            torch.nn.Linear(128, 10))
                opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)

                def factor(t, w=w):
                    if t < w:
                        return t / max(w, 1)
                    return 0.5 * (1 + math.cos(math.pi * min(1.0, (t - w) / max(steps - w, 1))))

                sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
                for t in range(steps):
                    b = idx[t]
                    opt.zero_grad()
                    loss = loss_fn(model(xt[b]), yt[b])
                    loss.backward()
                    opt.step()
                    sched.step()
                with torch.no_grad():
                    results.append(float(loss_fn(model(xv), yv)))
    return time.perf_counter() - t0, results


def gathered(task, steps):
    """What the vectorised baselines prepare on the host: every update's batch (shared by all
    trials, like jaxlr's common random numbers) and the initial parameters."""
    x, y = (np.asarray(a) for a in task.train)
    rng = np.random.default_rng(0)
    rows = np.stack([rng.choice(x.shape[0], task.batch_size, replace=False)
                     for _ in range(steps)])
    return (jnp.asarray(x[rows]), jnp.asarray(y[rows])), task.init(jax.random.key(0))


def vmapped_baseline(task, steps, schedule=True, freeze=False):
    """Baseline (i) for sweeps: ``run(lr, warmup, wd) -> validation losses [trials]``, one
    ``jax.jit(jax.vmap(train_one))`` with every hyperparameter traced (compiled on first use);
    ``schedule=False`` trains at a constant rate (the successive-halving / PBT comparison).
    ``freeze=True`` adds what jaxlr's kernel does to keep lanes independent: an update whose
    loss or gradient norm is not finite is skipped (``lax.cond``, a select per lane under
    ``vmap``); it attributes the gap between jaxlr and (i)."""
    batches, params0 = gathered(task, steps)
    valid = tuple(jnp.asarray(a) for a in task.valid)

    def train_one(lr, warmup, wd, batches, params0, valid):
        rate = warmup_cosine(lr, warmup, steps) if schedule else lr
        opt = optax.adamw(rate, weight_decay=wd)

        def body(carry, batch):
            loss, g = jax.value_and_grad(task.loss)(carry[0], batch)

            def apply(c):
                p, s = c
                u, s = opt.update(g, s, p)
                return optax.apply_updates(p, u), s

            if not freeze:
                return apply(carry), None
            ok = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(g))
            return jax.lax.cond(ok, apply, lambda c: c, carry), None

        (p, _), _ = jax.lax.scan(body, (params0, opt.init(params0)), batches)
        return task.loss(p, valid)

    prog = jax.jit(jax.vmap(train_one, in_axes=(0, 0, 0, None, None, None)))

    def run(lr, warmup, wd):
        return prog(jnp.asarray(lr, jnp.float32), jnp.asarray(warmup, jnp.float32),
                    jnp.asarray(wd, jnp.float32), batches, params0, valid)

    run.one = lambda key, hp: train_one(hp["lr"], hp["warmup"], hp["wd"], batches, params0,
                                        valid)
    return run


def _first_and_steady(make, call, repeat):
    """(first-call seconds incl. ``make()``, best steady seconds, last output); ``call(fn, r)``
    runs repeat ``r`` (``r = 0``: the first call) and returns something to block on."""
    t = time.perf_counter()
    fn = make()
    out = jax.block_until_ready(call(fn, 0))
    first = time.perf_counter() - t
    times = []
    for r in range(1, repeat + 1):
        t = time.perf_counter()
        out = jax.block_until_ready(call(fn, r))
        times.append(time.perf_counter() - t)
    return first, min(times), out


def _hyperoptax_objective(run):
    """The baseline's ``train_one`` as hyperoptax wants it, ``fn(key, params) -> scalar``,
    jitted (hyperoptax vmaps it eagerly; a jitted objective is its fastest use)."""
    one = jax.jit(run.one)

    def objective(key, params):
        return one(key, params)

    return objective


def bench_vectorised(repeat):
    import hyperoptax as hx

    task = get_task("digits-mlp")
    lrs, warms, wds, steps, _ = grid_values(False)
    mesh = np.array(np.meshgrid(lrs, warms, wds, indexing="ij")).reshape(3, -1)
    n = mesh.shape[1]
    scale = lambda r: 1 + 0.01 * r           # new rate values per repeat (no cache can help)
    rows = []

    def jaxlr_call(strategy):
        def call(_, r):
            if strategy == "grid":
                space = jaxlr.grid({"learning_rate": [v * scale(r) for v in lrs],
                                    "warmup_steps": warms, "weight_decay": wds})
            else:
                space = {"learning_rate": jaxlr.loguniform(3e-4 * scale(r), 1e-2),
                         "warmup_steps": jaxlr.uniform(0.0, 100.0),
                         "weight_decay": jaxlr.loguniform(1e-5, 1e-3)}
            res = jaxlr.sweep_task(
                task, space=space, key=jax.random.key(r), optimizer="adamw", steps=steps,
                schedule=lambda hp: jaxlr.warmup_cosine(hp["learning_rate"],
                                                        hp["warmup_steps"], steps),
                strategy=strategy, num_trials=None if strategy == "grid" else n)
            return res.metrics["valid_loss"]
        return call

    def row(name, ours, theirs, **extra):
        r = {"name": name, "trials": n, "steps": steps,
             "jaxlr_first_s": round(ours[0], 3), "baseline_first_s": round(theirs[0], 3),
             "jaxlr_s": round(ours[1], 4), "baseline_s": round(theirs[1], 4),
             "ratio": round(ours[1] / theirs[1], 3),
             "first_call_ratio": round(ours[0] / theirs[0], 3), **extra}
        print(json.dumps(r), flush=True)
        rows.append(r)

    grid_ours = _first_and_steady(lambda: None, jaxlr_call("grid"), repeat)
    base = _first_and_steady(lambda: vmapped_baseline(task, steps),
                             lambda fn, r: fn(mesh[0] * scale(r), mesh[1], mesh[2]), repeat)
    row("grid sweep vs baseline (i) jit(vmap(scan of optax.adamw))", grid_ours, base,
        note="ratio = jaxlr / baseline (< 1: jaxlr is faster)",
        best_valid_loss_jaxlr=round(float(np.nanmin(grid_ours[2])), 4),
        best_valid_loss_baseline=round(float(np.nanmin(base[2])), 4))

    frozen = _first_and_steady(lambda: vmapped_baseline(task, steps, freeze=True),
                               lambda fn, r: fn(mesh[0] * scale(r), mesh[1], mesh[2]), repeat)
    row("grid sweep vs baseline (i) + jaxlr's per-lane freeze of non-finite updates",
        grid_ours, frozen, note="the freeze's own cost: baseline (i) + freeze / baseline (i) = "
        f"{frozen[1] / base[1]:.3f}")

    def hx_grid():
        objective = _hyperoptax_objective(vmapped_baseline(task, steps))
        return objective

    def hx_grid_call(objective, r):
        space = {"lr": hx.spaces.DiscreteSpace([v * scale(r) for v in lrs]),
                 "warmup": hx.spaces.DiscreteSpace([float(w) for w in warms]),
                 "wd": hx.spaces.DiscreteSpace(wds)}
        state, opt = hx.GridSearch.init(space, n_parallel=n)
        _, (_, results) = opt.optimize(state, jax.random.PRNGKey(r), objective, n_iterations=1)
        return results[0]

    theirs = _first_and_steady(hx_grid, hx_grid_call, repeat)
    row("grid sweep vs hyperoptax GridSearch (n_parallel=64, jitted objective)", grid_ours,
        theirs, best_valid_loss_baseline=round(float(np.nanmin(theirs[2])), 4))

    def hx_random_call(objective, r):
        space = {"lr": hx.spaces.LogSpace(3e-4 * scale(r), 1e-2),
                 "warmup": hx.spaces.LinearSpace(0.0, 100.0),
                 "wd": hx.spaces.LogSpace(1e-5, 1e-3)}
        state, opt = hx.RandomSearch.init(space, n_parallel=n)
        _, (_, results) = opt.optimize(state, jax.random.PRNGKey(r), objective, n_iterations=1)
        return results[0]

    rand_ours = _first_and_steady(lambda: None, jaxlr_call("random"), repeat)
    theirs = _first_and_steady(hx_grid, hx_random_call, repeat)
    row("random sweep vs hyperoptax RandomSearch (n_parallel=64, jitted objective)", rand_ours,
        theirs, best_valid_loss_jaxlr=round(float(np.nanmin(rand_ours[2])), 4),
        best_valid_loss_baseline=round(float(np.nanmin(theirs[2])), 4))
    strategies_vs_grid(task, repeat, rows)
    return rows


def strategies_vs_grid(task, repeat, rows):
    """Successive halving and PBT against the same training steps spent in baseline (i) on a
    plain grid of constant rates x weight decays (first call and steady state, best validation
    loss of each)."""
    steps = 300
    space = {"learning_rate": jaxlr.loguniform(1e-4, 3e-2),
             "weight_decay": jaxlr.loguniform(1e-6, 1e-2)}
    for strategy, trials, options in (("successive_halving", 27, {"eta": 3}),
                                      ("pbt", 32, {"interval": 30})):
        holder = {}

        def call(_, r, strategy=strategy, trials=trials, options=options):
            res = jaxlr.sweep_task(task, space=space, key=jax.random.key(r), optimizer="adamw",
                                   steps=steps, strategy=strategy, num_trials=trials,
                                   options=options)
            holder["res"] = res
            return res.metrics["valid_loss"]

        ours = _first_and_steady(lambda: None, call, repeat)
        res = holder["res"]
        if strategy == "successive_halving":
            budget = int(np.sum(np.asarray(res.metrics["steps_trained"])))
            eligible = np.asarray(res.metrics["steps_trained"]) == steps
            best_ours = float(np.nanmin(np.where(eligible, ours[2], np.nan)))
        else:
            budget = trials * steps
            best_ours = float(np.nanmin(ours[2]))
        grid_n = max(1, round(budget / steps))
        side = int(math.ceil(math.sqrt(grid_n)))
        g_lr = np.geomspace(1e-4, 3e-2, side)
        g_wd = np.geomspace(1e-6, 1e-2, int(math.ceil(grid_n / side)))
        lr_wd = np.array(np.meshgrid(g_lr, g_wd, indexing="ij")).reshape(2, -1)[:, :grid_n]
        zeros = np.zeros(lr_wd.shape[1])
        base = _first_and_steady(lambda: vmapped_baseline(task, steps, schedule=False),
                                 lambda fn, r: fn(lr_wd[0] * (1 + 0.01 * r), zeros, lr_wd[1]),
                                 repeat)
        r = {"name": f"{strategy} vs the same steps in baseline (i) on a plain grid",
             "trials": trials, "grid_trials": lr_wd.shape[1], "training_steps": budget,
             "jaxlr_first_s": round(ours[0], 3), "baseline_first_s": round(base[0], 3),
             "jaxlr_s": round(ours[1], 4), "baseline_s": round(base[1], 4),
             "ratio": round(ours[1] / base[1], 3), "first_call_ratio": round(ours[0] / base[0], 3),
             "best_valid_loss_jaxlr": round(best_ours, 4),
             "best_valid_loss_baseline": round(float(np.nanmin(base[2])), 4)}
        print(json.dumps(r), flush=True)
        rows.append(r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 trials x 100 steps (smoke test)")
    ap.add_argument("--vectorised", action="store_true",
                    help="only the vectorised comparison (baseline (i), hyperoptax, SH/PBT)")
    ap.add_argument("--repeat", type=int, default=3, help="steady-state calls (--vectorised)")
    ap.add_argument("--skip-torch", action="store_true", help="skip the PyTorch baseline")
    ap.add_argument("--skip-recompile", action="store_true",
                    help="skip the Optuna+JAX baseline that compiles once per trial")
    args = ap.parse_args()
    lrs, warms, wds, steps, _ = grid_values(args.quick)
    folds = 3 if args.quick else 5
    task = get_task("digits-mlp")
    n_trials = len(lrs) * len(warms) * len(wds)
    print(json.dumps({"device": str(jax.devices()[0]), "num_devices": len(jax.devices()),
                      "platform": jax.default_backend(), "cpu": platform.processor() or
                      platform.machine(), "cpu_count": os.cpu_count(), "trials": n_trials,
                      "steps": steps, "jax": jax.__version__}))
    if args.vectorised:
        bench_vectorised(args.repeat)
        return
    t_jaxlr, r = bench_jaxlr(task, lrs, warms, wds, steps)
    if not args.skip_recompile:
        t_rec, study_rec = bench_optuna_jax_recompile(task, lrs, warms, wds, steps)
        print(json.dumps({"name": f"sweep_{n_trials}x{steps}_vs_sequential_optuna_jax",
                          "jaxlr_s": round(t_jaxlr, 3), "baseline_s": round(t_rec, 3),
                          "ratio": round(t_rec / t_jaxlr, 2),
                          "note": "baseline builds optax.adamw(warmup_cosine_decay_schedule) "
                                  "from each trial's numbers: one compilation per trial",
                          "best_valid_loss_jaxlr": round(float(r.best_metrics["valid_loss"]), 4),
                          "best_valid_loss_baseline": round(float(study_rec.best_value), 4)}))
    t_opt, study = bench_optuna_jax(task, lrs, warms, wds, steps)
    # sanity: both found a configuration of similar quality
    best_opt = study.best_value
    print(json.dumps({"name": f"sweep_{n_trials}x{steps}_vs_sequential_optuna_jax_traced",
                      "jaxlr_s": round(t_jaxlr, 3), "baseline_s": round(t_opt, 3),
                      "ratio": round(t_opt / t_jaxlr, 2),
                      "note": "baseline: one compiled function with traced hyperparameters",
                      "best_valid_loss_jaxlr": round(float(r.best_metrics["valid_loss"]), 4),
                      "best_valid_loss_baseline": round(float(best_opt), 4)}))
    if not args.skip_torch:
        t_torch, res = bench_torch(task, lrs, warms, wds, steps)
        print(json.dumps({"name": f"sweep_{n_trials}x{steps}_vs_sequential_pytorch_cpu",
                          "jaxlr_s": round(t_jaxlr, 3), "baseline_s": round(t_torch, 3),
                          "ratio": round(t_torch / t_jaxlr, 2),
                          "best_valid_loss_baseline": round(float(np.min(res)), 4)}))
    t_cv, rcv = bench_jaxlr(task, lrs, warms, wds, steps, folds=folds)
    print(json.dumps({"name": f"kfold{folds}_cv_vs_single_split_{n_trials}x{steps}",
                      "jaxlr_s": round(t_cv, 3), "baseline_s": round(t_jaxlr, 3),
                      "ratio": round(t_cv / t_jaxlr, 2),
                      "note": f"ratio = CV time / single-split time ({folds}x the training)"}))


if __name__ == "__main__":
    main()
