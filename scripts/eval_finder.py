"""Evidence for the finders' suggestion rules: how close is each suggestion to the best rate?

For every (task, optimizer) case the script

1. computes the *grid-optimal* learning rate for a full training horizon: ``--horizon``
   updates (15x the finders' ``--steps``), ``--grid`` log-spaced rates, scored by the
   validation loss at the horizon, averaged over ``--grid-keys`` independent grid searches of 3
   seeds each (9 seeds by default; a rate with a diverged seed is excluded). Each grid search
   is one long parallel run (``jaxlr.parallel_lr_find`` with ``lrs=grid``). The full run uses
   a constant rate (``--schedule constant``) or warm-up + cosine decay (``--schedule cosine``:
   5% linear warm-up, then cosine to 0; the rate searched is the peak);
2. measures how reproducible that target is: each grid search of 3 seeds against the pooled
   other ones ("replicate grid search" row: a 33-rate search 15x longer than the finders, the
   most a rule could hope to agree with);
3. for each seed, runs jaxlr's parallel finder (``--steps`` updates, 3 internal seeds, the
   same schedule shape compressed to ``--steps``, ``target_steps=horizon``) and jaxlr's range
   test, and applies every suggestion rule;
4. runs torch-lr-finder's range test (``LRFinder.range_test`` + ``plot(suggest_lr=True)``: its
   steepest-gradient point) on the same model (same initial weights for the MLPs), data, batch
   size, optimizer and number of steps, on torch CPU;
5. prints the ratio suggestion / optimum for every rule and case and the fraction of cases
   within 2x, as one JSON line per case and a Markdown table.

Besides "within 2x" the tables report the fraction of cases whose suggestion's full-horizon loss
is within 1% of the optimum's and how flat each optimum is (grid rates within 1% of the best).
``--held-out`` evaluates cases that were not used to choose the rules (other optimizer/task
pairs).

Run: ``python scripts/eval_finder.py --seeds 6`` (README table; add ``--schedule cosine`` for
the scheduled runs, ``--steps 200 --horizon 1500`` for the longer-finder setting,
``--held-out`` for the held-out cases); ``--quick`` while exploring.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

import jaxlr  # noqa: E402
from jaxlr.finder._suggest import horizon_extrapolation  # noqa: E402
from jaxlr.tasks import get_task  # noqa: E402

CASES = {
    # name: (task, optimizer name, grid bounds)
    "digits-mlp/adam": ("digits-mlp", "adam", (1e-4, 1.0)),
    "digits-mlp/momentum": ("digits-mlp", "momentum", (1e-4, 3.0)),
    "diabetes/adam": ("diabetes", "adam", (1e-4, 1.0)),
    "teacher-student/adam": ("teacher-student", "adam", (1e-4, 1.0)),
    "digits-cnn/adam": ("digits-cnn", "adam", (1e-4, 1.0)),
    "teacher-student/momentum": ("teacher-student", "momentum", (1e-4, 3.0)),
    "diabetes/momentum": ("diabetes", "momentum", (1e-5, 1.0)),
}
# the cases the rules were designed on, and cases kept out of that design (--held-out)
DEFAULT_CASES = ["digits-mlp/adam", "digits-mlp/momentum", "diabetes/adam",
                 "teacher-student/adam"]
HELD_OUT_CASES = ["teacher-student/momentum", "diabetes/momentum"]


def shape(kind, steps):
    """The schedule shape (peak 1) of a run of ``steps`` updates, or None for a constant rate."""
    if kind == "constant":
        return None
    return jaxlr.warmup_cosine(1.0, max(steps // 20, 1), steps)


def jax_optimizer(name):
    return jaxlr.adam if name == "adam" else functools.partial(jaxlr.momentum, momentum=0.9)


# ----------------------------------------------------------------------------- torch side


def torch_model(task, params):
    """The task's model in torch, with the same initial weights for the MLPs."""
    import torch
    from torch import nn

    if task.name == "digits-cnn":
        model = nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(32 * 4 * 4, 10))
        return model
    layers = []
    for i, layer in enumerate(params):
        w = np.asarray(layer["w"])
        lin = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(np.asarray(layer["b"]).copy()))
        layers.append(lin)
        if i < len(params) - 1:
            layers.append(nn.ReLU())
    if task.kind == "regression":
        layers.append(nn.Flatten(0))
    return nn.Sequential(*layers)


def torch_suggestion(task, params, opt_name, steps, seed, min_lr=1e-7, max_lr=10.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from torch_lr_finder import LRFinder

    torch.manual_seed(seed)
    x, y = task.train
    x = x.reshape(x.shape[0], -1)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    yt = torch.from_numpy(y.astype(np.int64) if task.kind == "classification" else y)
    loader = DataLoader(TensorDataset(xt, yt), batch_size=task.batch_size, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(seed))
    model = torch_model(task, params)
    if opt_name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=min_lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=min_lr, momentum=0.9)
    crit = torch.nn.CrossEntropyLoss() if task.kind == "classification" else torch.nn.MSELoss()
    finder = LRFinder(model, opt, crit, device="cpu")
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        finder.range_test(loader, end_lr=max_lr, num_iter=steps)
        fig, ax = plt.subplots()
        try:
            _, lr = finder.plot(ax=ax, suggest_lr=True)
        except Exception:  # too few points before divergence
            lr = math.nan
        plt.close(fig)
    return float(lr)


# ----------------------------------------------------------------------------- jax side


def _scores(runs):
    """Seed-mean validation loss at the horizon ("final") and lowest along the run ("best")
    over the seeds of all ``runs``; a rate with any diverged seed scores inf."""
    div = np.concatenate([r.diverged for r in runs], axis=1).any(axis=1)
    vl = np.concatenate([r.valid_losses for r in runs], axis=1)
    vc = np.concatenate([r.valid_curve for r in runs], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        final = np.where(div, np.inf, np.nanmean(vl, axis=1))
        best = np.where(div, np.inf, np.nanmean(np.nanmin(vc, axis=2), axis=1))
    return {"final": final, "best": best}


def optimum(task, opt, bounds, horizon, grid, keys, schedule):
    """Grid-optimal rates for ``horizon`` updates, pooled over ``keys`` grid searches of 3
    seeds each, and each search's own optimum (its reproducibility).

    Two targets: ``final`` scores each rate by the validation loss after the whole horizon;
    ``best`` by the lowest validation loss seen at any of 15 evaluations along the run (what a
    run with checkpoint selection / early stopping keeps).
    """
    lrs = np.exp(np.linspace(np.log(bounds[0]), np.log(bounds[1]), grid))
    runs = []
    for key in keys:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            runs.append(jaxlr.parallel_lr_find(
                task, lrs=lrs, num_steps=horizon, num_seeds=3, per_seed_init=True, optimizer=opt,
                key=key, smoothing=0.9, eval_every=horizon // 15,
                schedule=shape(schedule, horizon)))
    pooled = _scores(runs)
    out = {}
    for name, score in pooled.items():
        i = int(np.argmin(score))
        # each search against the pooled others (leave one out)
        replicate, replicate_excess = [], []
        for j in range(len(runs) if len(runs) > 1 else 0):
            mine = _scores([runs[j]])[name]
            rest = _scores([r for k, r in enumerate(runs) if k != j])[name]
            a, b = int(np.argmin(mine)), int(np.argmin(rest))
            replicate.append(float(lrs[a] / lrs[b]))
            replicate_excess.append(float((rest[a] - rest[b]) / abs(rest[b])))
        out[name] = {"lr": float(lrs[i]), "loss": float(score[i]),
                     "at_grid_edge": i in (0, grid - 1), "lrs": lrs.tolist(),
                     "curve": np.where(np.isfinite(score), score, 1e30).tolist(),
                     "replicate_ratios": replicate, "replicate_excess": replicate_excess}
    return out


def regret(info, lr):
    """Relative excess of the full-horizon loss at ``lr`` over the optimum's (log-rate
    interpolation on the grid; outside the grid: the edge value). ``inf`` when ``lr`` is at or
    next to a grid rate that diverged in one of the long runs (the suggestion is not safe for
    the full run)."""
    if not math.isfinite(lr):
        return math.inf
    x = np.log(np.asarray(info["lrs"]))
    y = np.asarray(info["curve"])
    z = min(max(math.log(lr), x[0]), x[-1])
    i = int(np.clip(np.searchsorted(x, z), 1, len(x) - 1))
    if max(y[i - 1], y[i]) >= 1e29:       # a diverged neighbour (stored as 1e30)
        return math.inf
    v = float(np.interp(z, x, y))
    return (v - info["loss"]) / abs(info["loss"])


def within_2x(ratios):
    """Mask of the finite ratios suggestion / optimum within a factor 2."""
    ratios = np.asarray(ratios, np.float64)
    fin = np.isfinite(ratios)
    return fin & (np.abs(np.log2(np.where(fin, ratios, 1e9))) <= 1.0)


def _flat(info, tol=0.01):
    """The grid rates within ``tol`` (relative) of the optimum's loss: 'lo..hi (n rates)'."""
    lrs, y = np.asarray(info["lrs"]), np.asarray(info["curve"])
    near = lrs[y <= info["loss"] + tol * abs(info["loss"])]
    return f"{near.min():.2g}..{near.max():.2g} ({near.size} of {lrs.size} rates)"


def _unguarded_steepest(rng):
    """The range test's steepest point over the whole curve (no main-descent guard)."""
    from jaxlr.finder._suggest import finite_prefix

    x, y = rng.curve()
    s0 = max(rng.num_steps // 10, rng.lag_steps)
    n = finite_prefix(x, y)
    stop = n if n < len(y) else n - 5
    xs, ys = x[s0:stop], y[s0:stop]
    return float(xs[int(np.argmin(np.gradient(ys, np.log(xs))))])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, coarser grid, shorter")
    ap.add_argument("--cases", nargs="*", default=None, choices=sorted(CASES))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="finder seeds first..first+seeds-1 (e.g. 3 for a held-out set)")
    ap.add_argument("--steps", type=int, default=100, help="finder updates")
    ap.add_argument("--horizon", type=int, default=None, help="full run (default 15x steps)")
    ap.add_argument("--grid", type=int, default=33)
    ap.add_argument("--grid-keys", type=int, default=3,
                    help="independent grid searches of 3 seeds each, pooled for the target")
    ap.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                    help="the full run's schedule (the finders use the same shape)")
    ap.add_argument("--held-out", action="store_true",
                    help="the cases not used to design the rules")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json", default=None, help="write all rows to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.grid, args.grid_keys = 2, 17, 2
    horizon = args.horizon or 15 * args.steps
    cases = args.cases or (HELD_OUT_CASES if args.held_out else DEFAULT_CASES)
    grid_keys = [1000 * (i + 1) for i in range(args.grid_keys)]
    print(json.dumps({"device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
                      "steps": args.steps, "horizon": horizon, "grid": args.grid,
                      "grid_seeds": 3 * args.grid_keys, "schedule": args.schedule,
                      "seeds": args.seeds, "cases": cases}))
    rules = ["best_final", "valley", "steepest", "minimum_div_10"]
    range_rules = ["valley", "steepest", "minimum_div_10"]
    rows = []
    t_all = time.time()
    for case in cases:
        task_name, opt_name, bounds = CASES[case]
        task = get_task(task_name)
        opt = jax_optimizer(opt_name)
        t0 = time.time()
        opt_info = optimum(task, opt, bounds, horizon, args.grid, grid_keys, args.schedule)
        t_opt = time.time() - t0
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            row = {"case": case, "seed": seed, "optimum": opt_info["final"]["lr"],
                   "optimum_best": opt_info["best"]["lr"], "optimum_info": opt_info}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                t0 = time.time()
                par = jaxlr.parallel_lr_find(task, optimizer=opt, num_steps=args.steps,
                                             num_seeds=3, per_seed_init=True, key=seed,
                                             min_lr=1e-5, max_lr=10.0, num_lrs=32,
                                             eval_every=max(args.steps // 10, 1),
                                             target_steps=horizon,
                                             schedule=shape(args.schedule, args.steps))
                row["parallel_s"] = time.time() - t0
                for rule in rules:
                    row[f"parallel/{rule}"] = par.suggest(rule)
                row["parallel/best_final_argmin"] = par.suggest("best_final",
                                                                one_standard_error=False)
                row["parallel/best_final_1se_larger"] = par.suggest(
                    "best_final", one_standard_error=True, prefer="larger")
                assert par.default_rule == "horizon"
                row["parallel/horizon"] = par.suggestion
                row["parallel/horizon_measured_slope_only"] = horizon_extrapolation(
                    par.lrs, par.valid_curve, par.valid_steps, par.diverged, horizon,
                    slope_bounds=(-1.0, 0.0)).lr
                row["parallel/best_final_x_sqrt_horizon"] = par.suggest("best_final") * (
                    args.steps / horizon) ** 0.5
                t0 = time.time()
                rng = jaxlr.lr_find(task, optimizer=opt, num_steps=args.steps, key=seed)
                row["range_s"] = time.time() - t0
                for rule in range_rules:
                    row[f"range/{rule}"] = rng.suggest(rule)
                    if rule == "steepest":
                        row["range/steepest_unguarded"] = _unguarded_steepest(rng)
                    row[f"range/{rule}_nolag"] = rng.suggest(rule, lag_correction=False)
                row["range_lag_steps"] = rng.lag_steps
            if not args.no_torch:
                params = task.init(jax.random.key(seed))
                t0 = time.time()
                row["torch-lr-finder/steepest"] = torch_suggestion(task, params, opt_name,
                                                                   args.steps, seed)
                row["torch_s"] = time.time() - t0
            row["optimum_s"] = t_opt
            rows.append(row)
            print(json.dumps(row))
            sys.stdout.flush()
    # summary
    keys = [k for k in rows[0] if "/" in k and k != "case"]
    summary = {}
    for target, label in (("optimum", "validation loss at the horizon"),
                          ("optimum_best", "best validation loss within the horizon")):
        print()
        print(f"Target: {label}. Fraction of (case, seed) within 2x of the grid optimum "
              f"({len(rows)} cases; finder {args.steps} updates, optimum for {horizon} updates);"
              " per case: suggestion / optimum for each seed.")
        print()
        print("| rule | within 2x | loss within 1% | long-run diverges | median ratio | "
              "median excess loss | " + " | ".join(cases) + " |")
        print("|---|---|---|---|---|---|" + "---|" * len(cases))
        summary[target] = {}
        for k in keys:
            ratios = np.array([r[k] / r[target] for r in rows])
            fin = np.isfinite(ratios)
            ok = within_2x(ratios)
            per_case = []
            for c in cases:
                rc = [r[k] / r[target] for r in rows if r["case"] == c]
                per_case.append(" ".join(f"{v:.2g}" for v in rc))
            summary[target][k] = float(ok.mean())
            med = float(np.nanmedian(ratios)) if fin.any() else math.nan
            info_key = "final" if target == "optimum" else "best"
            excs = np.array([regret(r["optimum_info"][info_key], r[k]) for r in rows])
            exc = float(np.median(excs))
            exc_s = f"{exc:.1%}" if exc < 10 else "diverges"
            near = float(np.mean(excs <= 0.01))
            unsafe = float(np.mean(np.isinf(excs) & fin))
            summary[target][k + " (loss within 1%)"] = near
            summary[target][k + " (long-run diverges)"] = unsafe
            print(f"| {k} | {ok.mean():.0%} | {near:.0%} | {unsafe:.0%} | {med:.2g} | {exc_s} | "
                  + " | ".join(per_case) + " |")
        info_key = "final" if target == "optimum" else "best"
        reps = {c: next(r for r in rows if r["case"] == c)["optimum_info"][info_key]
                for c in cases}
        ratios = np.array([v for c in cases for v in reps[c]["replicate_ratios"]])
        if ratios.size:
            excs = np.array([v for c in cases for v in reps[c]["replicate_excess"]])
            ok = within_2x(ratios)
            summary[target]["replicate grid search"] = float(ok.mean())
            print(f"| replicate grid search (3 seeds, {horizon} updates, {args.grid} rates) vs "
                  f"the other {3 * (args.grid_keys - 1)} seeds | {ok.mean():.0%} | "
                  f"{np.mean(excs <= 0.01):.0%} | {np.mean(np.isinf(excs)):.0%} | "
                  f"{np.median(ratios):.2g} | "
                  f"{np.median(excs):.1%} | " + " | ".join(
                      " ".join(f"{v:.2g}" for v in reps[c]["replicate_ratios"]) for c in cases)
                  + " |")
        print()
        print("Grid optima: " + "; ".join(
            f"{c}: {next(r[target] for r in rows if r['case'] == c):.3g}" for c in cases))
        print("Flatness (grid rates whose long-run loss is within 1% of the optimum's; a wide "
              "range means the 2x criterion is stricter than the loss needs): " + "; ".join(
                  f"{c}: {_flat(next(r for r in rows if r['case'] == c)['optimum_info'][info_key])}"
                  for c in cases))
    print(json.dumps({"summary": summary, "total_s": time.time() - t_all}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
