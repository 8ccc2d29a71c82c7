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

    python scripts/bench_sweep.py            # full
    python scripts/bench_sweep.py --quick
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 trials x 100 steps (smoke test)")
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
