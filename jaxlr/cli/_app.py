"""The ``jaxlr`` command (host only): ``schedule``, ``find``, ``compare``, ``sweep``, ``tasks``.

Run ``jaxlr --help`` or ``jaxlr COMMAND --help`` for the options and examples. The same
entry point runs as ``python -m jaxlr``.

* Bad input (a wrong spec, option or file) is reported as one line on stderr,
  ``jaxlr find: error: ...`` with what to do instead, and exit code 2. Any other failure (a
  bug, an environment problem) is one line too, ``jaxlr find: error: RuntimeError: ...``, with
  exit code 1. ``jaxlr --traceback COMMAND ...`` (or ``JAXLR_DEBUG=1``) shows the traceback
  instead.
* A SPEC that starts with ``-`` (a negative number such as ``-0.1``) is taken as the SPEC, not
  as an option, so the spec parser reports what is wrong with it; ``--`` before it works too.
* JAX's persistent compilation cache is on by default, in ``~/.cache/jaxlr/jax`` (or
  ``$XDG_CACHE_HOME/jaxlr/jax``, or ``$JAXLR_CACHE_DIR``): a repeated ``jaxlr find`` loads its
  compiled program instead of compiling it again. Turn it off with ``--no-cache`` or
  ``JAXLR_COMPILATION_CACHE=0``. A cache you configured yourself
  (``JAX_COMPILATION_CACHE_DIR``) is kept. It is set only here, never by the library.
* ``--json`` prints one JSON document on stdout (for scripts); ``--quiet`` prints nothing but
  errors. Progress goes to stderr.
"""

from __future__ import annotations

import math

import re
import sys
from pathlib import Path
from typing import Any, Optional

import jaxlr
from jaxlr import tasks
from jaxlr._utils._validation import MAX_DEPTH, shorten
from jaxlr.cli._compare import compare_schedules
from jaxlr.cli._common import (CACHE_DIR_ENV, CACHE_ENV, DEBUG_ENV, OPTIMIZERS, CliError,
                                   Status, cache_enabled_by_env, check_count, debug_enabled,
                                   dumps, enable_compilation_cache, fmt, load_task, one_line,
                                   optimizer_factory, parse_float, parse_schedule, save_figure,
                                   table)

__all__ = ["app", "main", "run"]

_EPILOG_MAIN = f"""
Examples:

\b
  jaxlr find --out finder-out             # jaxlr.find on the digits MLP
  jaxlr schedule "warmup(cosine_decay(1e-3, 10000), 500)" --steps 10500 --out lr.png
  jaxlr compare --schedule 0.03 --schedule 3e-4 --schedule "cosine_decay(0.03, 600)"
  jaxlr sweep sweep.toml --out sweep-out

Errors are one line on stderr: exit code 2 for bad input, 1 for anything else;
--traceback (before the command) or {DEBUG_ENV}=1 shows the traceback instead.

Environment: {CACHE_ENV}=0 disables the persistent compilation cache, {CACHE_DIR_ENV}
moves it (default ~/.cache/jaxlr/jax), {DEBUG_ENV}=1 shows tracebacks.
"""


def _call(schedule, steps):
    """A schedule's values at ``steps``."""
    return schedule(steps)


def _build_app():
    import typer

    app = typer.Typer(
        name="jaxlr", no_args_is_help=True, add_completion=False,
        pretty_exceptions_enable=False, rich_markup_mode=None,
        help="Learning-rate strategies for JAX: schedules, parallel LR finders, comparisons "
             "and vectorised sweeps.",
        epilog=_EPILOG_MAIN, context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def _root(
        no_cache: bool = typer.Option(
            False, "--no-cache", help=f"Do not use JAX's persistent compilation cache (also "
                                      f"{CACHE_ENV}=0)."),
        cache_dir: Optional[Path] = typer.Option(
            None, "--cache-dir", help="Compilation cache directory (default "
                                      "~/.cache/jaxlr/jax or $JAXLR_CACHE_DIR)."),
        traceback: bool = typer.Option(
            False, "--traceback", help=f"Show the traceback of an error instead of one line "
                                       f"(also {DEBUG_ENV}=1)."),
    ) -> None:
        _OPTIONS["traceback"] = traceback
        if not no_cache and cache_enabled_by_env():
            enable_compilation_cache(cache_dir)

    app.command("schedule", epilog=_EPILOG_SCHEDULE, cls=_spec_command())(_schedule)
    app.command("find", epilog=_EPILOG_FIND)(_find)
    app.command("compare", epilog=_EPILOG_COMPARE)(_compare)
    app.command("sweep", epilog=_EPILOG_SWEEP)(_sweep)
    app.command("tasks", epilog=_EPILOG_TASKS)(_tasks)
    return app


# The typer option objects are created lazily (typer is imported only when the CLI runs), so
# the commands declare plain defaults and the options are attached in `_options` below.

def _opt(*args, **kwargs):
    import typer

    return typer.Option(*args, **kwargs)


def _arg(*args, **kwargs):
    import typer

    return typer.Argument(*args, **kwargs)


def _echo(text: str, *, quiet: bool) -> None:
    if not quiet:
        print(text)


# A SPEC such as "-0.1" must reach the spec parser (which says what is wrong with it) instead
# of being read by click as an unknown option "-0".
_NEGATIVE = re.compile(r"-\.?\d")


def _negatives_as_arguments(params: list, args: list[str]) -> list[str]:
    """``args`` with every free-standing negative number moved behind ``--`` (so click takes it
    as an argument); values of options (``--steps -5``) stay where they are."""
    takes_value = set()
    for p in params:
        if getattr(p, "param_type_name", "") == "option" and not (
                getattr(p, "is_flag", False) or getattr(p, "count", False)):
            takes_value.update(p.opts)
    kept: list[str] = []
    moved: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return kept + ["--"] + moved + args[i + 1:]
        if a in takes_value:
            kept.extend(args[i:i + 2])
            i += 2
            continue
        (moved if _NEGATIVE.match(a) else kept).append(a)
        i += 1
    return kept + (["--"] + moved if moved else [])


def _spec_command():
    """The command class of ``jaxlr schedule`` (typer's public ``TyperCommand``)."""
    from typer.core import TyperCommand

    class SpecCommand(TyperCommand):
        def parse_args(self, ctx, args):
            return super().parse_args(ctx, _negatives_as_arguments(self.get_params(ctx),
                                                                   list(args)))

    return SpecCommand


# ----------------------------------------------------------------------------------------------
# jaxlr schedule
# ----------------------------------------------------------------------------------------------

_EPILOG_SCHEDULE = """
Examples:

\b
  jaxlr schedule "warmup(cosine_decay(1e-3, 10000), 500)" --steps 10500 --out lr.png
  jaxlr schedule "one_cycle(0.1, 1000)" --compare "cosine_decay(0.1, 1000)" --at 0,299,999
  jaxlr schedule "cyclic(1e-4, 1e-2, 200, mode=triangular2)" --steps 1200 --json

A SPEC is a builder call (jaxlr.parse): constant, step_decay, multistep_decay,
exponential_decay, inverse_time_decay, polynomial_decay, linear, cosine_decay,
cosine_restarts, cyclic, one_cycle, warmup, warmup_cosine, warmup_stable_decay,
inverse_sqrt, piecewise_constant, piecewise_linear, join, multiply, scale, clip;
a bare number is a constant rate. Put -- before a SPEC that starts with '-'
(jaxlr schedule --steps 100 -- SPEC); a negative number is taken as SPEC anyway.
"""


def _schedule_impl(spec: str, steps: int, compare: list[str], at: Optional[str],
                   out: Optional[Path], log: bool, as_json: bool, quiet: bool) -> int:

    check_count(steps, "--steps")
    specs = [spec] + list(compare or [])
    schedules = [parse_schedule(s, "SPEC" if i == 0 else "--compare")
                 for i, s in enumerate(specs)]
    if at:
        try:
            points = sorted({int(p) for p in at.replace(" ", "").split(",") if p})
        except ValueError:
            raise CliError(f"--at takes comma-separated step numbers such as 0,100,999; got "
                           f"{shorten(at)}.") from None
        if not points or points[0] < 0:
            raise CliError(f"--at steps must be >= 0; got {shorten(at)}.")
    else:
        points = sorted({0, steps // 4, steps // 2, (3 * steps) // 4, steps - 1})
    import jax.numpy as jnp
    import numpy as np

    summaries, values = [], []
    for s in schedules:
        summaries.append(jaxlr.describe(s, steps))
        values.append(np.asarray(_call(s, jnp.asarray(points, jnp.int32))).tolist())
    plot_path = None
    if out is not None:

        ax = jaxlr.plotting.plot_schedule(schedules, steps, labels=specs, log_scale=log)
        plot_path = save_figure(ax, Path(out))
    if as_json:
        print(dumps({"steps": steps, "plot": plot_path, "schedules": [
            {"spec": sp, "config": jaxlr.to_config(s), "summary": d,
             "values": dict(zip(map(str, points), v))}
            for sp, s, d, v in zip(specs, schedules, summaries, values)]}))
        return 0
    if quiet:
        return 0
    names = [f"[{i}]" for i in range(len(specs))]
    for n, sp in zip(names, specs):
        print(f"{n} {sp}")
    print()
    print(table(["schedule", "initial", "peak", "peak step", "final", "min", "mean"],
                [[n, d["initial_value"], d["peak_value"], d["peak_step"], d["final_value"],
                  d["min_value"], d["mean_value"]] for n, d in zip(names, summaries)]))
    print()
    print(table(["step"] + names, [[p] + [v[i] for v in values] for i, p in enumerate(points)]))
    if plot_path:
        print(f"\nplot: {plot_path}")
    return 0


def _schedule(
    spec: str = _arg(..., metavar="SPEC", help="Schedule spec, e.g. "
                                               "'warmup(cosine_decay(1e-3, 10000), 500)'."),
    steps: int = _opt(1000, "--steps", "-n", help="Number of steps to tabulate and plot."),
    compare: list[str] = _opt([], "--compare", "-c", metavar="SPEC",
                              help="Another schedule to show next to SPEC (repeatable)."),
    at: Optional[str] = _opt(None, "--at", help="Comma-separated steps whose values are "
                                                "printed (default: 0, 1/4, 1/2, 3/4, last)."),
    out: Optional[Path] = _opt(None, "--out", "-o", help="Write the plot to this PNG file."),
    log: bool = _opt(False, "--log", help="Logarithmic learning-rate axis in the plot."),
    as_json: bool = _opt(False, "--json", help="Print JSON instead of tables."),
    quiet: bool = _opt(False, "--quiet", "-q", help="Print nothing (still writes --out)."),
) -> int:
    """Print a table of one or more schedules and optionally plot them."""
    return _guard("schedule", _schedule_impl, spec, steps, compare, at, out, log, as_json,
                  quiet)


# ----------------------------------------------------------------------------------------------
# jaxlr find
# ----------------------------------------------------------------------------------------------

_EPILOG_FIND = """
Examples:

\b
  jaxlr find --out finder-out             # digits MLP, Adam, constant rate, the task's
                                          # horizon, a budget of 8 full runs
  jaxlr find --schedule "warmup_cosine(1.0, 100, 2000)" --target-steps 2000
  jaxlr find --task diabetes --optimizer momentum --budget 8 --seeds 2
  jaxlr find --mode parallel --candidates 32 --seeds 3 --steps 200   # one-horizon finder
  jaxlr find --mode range --steps 300     # Smith's range test (one run, rising rate)
  jaxlr find --task mytasks:make_task     # your own task: a function returning
                                          # (init, loss, data[, valid_data]) or a Task

The default mode is jaxlr.find: a multi-fidelity search to the horizon of the run you plan
(--target-steps, --schedule: its shape with peak 1), the same suggestion as
jaxlr.find(task, optimizer=..., schedule=..., target_steps=..., budget=..., key=SEED).
Writes OUT/finder.png and OUT/finder.json and prints the suggestion with its trust figures.
"""


def _find_inputs(task, mode, candidates, seeds, steps, min_lr, max_lr, batch_size,
                 target_steps, budget, schedule):
    if mode not in ("multi", "parallel", "range"):
        raise CliError(f"--mode must be 'multi', 'parallel' or 'range'; got {mode!r}.")
    check_count(candidates, "--candidates", minimum=3 if mode == "multi" else 1)
    check_count(seeds, "--seeds")
    check_count(steps, "--steps", minimum=10)
    check_count(batch_size, "--batch-size")
    check_count(target_steps, "--target-steps", minimum=16)
    if mode != "multi":
        for name, v in (("--budget", budget), ("--schedule", schedule)):
            if v is not None:
                raise CliError(f"{name} needs --mode multi (the default); drop {name} or "
                               "the --mode option.")
    if target_steps is not None and mode == "range":
        raise CliError("--target-steps needs --mode multi or parallel (the range test cannot "
                       "extrapolate to a longer run); drop --target-steps or --mode range.")
    if mode == "multi" and steps is not None:
        raise CliError("--steps is for --mode parallel / range; the multi-fidelity search "
                       "chooses its horizons from --target-steps and --budget.")
    lo = parse_float(min_lr, "--min-lr") if min_lr is not None else (
        1e-7 if mode == "range" else 1e-5)
    hi = parse_float(max_lr, "--max-lr") if max_lr is not None else 10.0
    if lo >= hi:
        raise CliError(f"--min-lr must be smaller than --max-lr; got --min-lr {lo:g} "
                       f"--max-lr {hi:g}.")
    b = None
    if budget is not None:
        b = parse_float(budget, "--budget")
        if not (b > 0 and math.isfinite(b)):
            raise CliError(f"--budget must be a positive number of full runs; got {budget}.")
    shape = parse_schedule(schedule, "--schedule") if schedule is not None else None
    return lo, hi, b, shape


def _run_finder(mode, args, kw, *, opt, lo, hi, candidates, seeds, steps, seed, target_steps,
                budget, shape):
    if mode == "multi":
        extra = {k: v for k, v in (("num_lrs", candidates), ("num_seeds", seeds),
                                   ("budget", budget), ("target_steps", target_steps))
                 if v is not None}
        return jaxlr.find(*args, **kw, **extra, optimizer=opt, schedule=shape, min_lr=lo,
                          max_lr=hi, key=seed)
    if mode == "parallel":
        return jaxlr.parallel_lr_find(*args, **kw, min_lr=lo, max_lr=hi,
                                      num_lrs=candidates or 32, num_seeds=seeds or 3,
                                      num_steps=steps or 200, optimizer=opt, key=seed,
                                      target_steps=target_steps)
    return jaxlr.lr_find(*args, **kw, min_lr=lo, max_lr=hi, num_steps=steps or 200,
                         optimizer=opt, key=seed)


def _find_impl(task_name: str, optimizer: str, candidates: Optional[int], seeds: Optional[int],
               steps: Optional[int], mode: str, min_lr: Optional[str], max_lr: Optional[str],
               batch_size: Optional[int], seed: int, out: Path, as_json: bool,
               quiet: bool, target_steps: Optional[int] = None, budget: Optional[str] = None,
               schedule: Optional[str] = None) -> int:

    mode = mode.lower()
    lo, hi, b, shape = _find_inputs(task_name, mode, candidates, seeds, steps, min_lr, max_lr,
                                    batch_size, target_steps, budget, schedule)
    opt = optimizer_factory(optimizer)
    task = load_task(task_name, batch_size=batch_size)
    if batch_size is None and task.batch_size > task.num_train:
        raise CliError(f"the task has {task.num_train} examples, fewer than its batch size "
                       f"{task.batch_size}; pass --batch-size {task.num_train} or fewer.")
    if hasattr(task, "apply"):
        args: tuple = (task,)
        kw: dict[str, Any] = {}
    else:
        args = (task.init, task.loss, task.train)
        kw = {"valid_data": task.valid, "batch_size": task.batch_size}
        if mode == "multi" and target_steps is None:
            target_steps = int(getattr(task, "steps", 500))
    what = {"multi": "multi-fidelity search", "parallel": "parallel finder",
            "range": "range test"}[mode]
    status = Status(1, f"{task.name} {what}", enabled=not (quiet or as_json))
    try:
        result = _run_finder(mode, args, kw, opt=opt, lo=lo, hi=hi, candidates=candidates,
                             seeds=seeds, steps=steps, seed=seed, target_steps=target_steps,
                             budget=b, shape=shape)
        status.step("done")
    finally:
        status.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "finder.json"
    plot_path = save_figure(result.plot(), out / "finder.png")
    if mode == "multi":
        return _report_multi(result, task, optimizer, json_path, plot_path, as_json, quiet)
    return _report_single(result, task, optimizer, mode, what, json_path, plot_path, as_json,
                          quiet)


def _report_multi(result, task, optimizer, json_path, plot_path, as_json, quiet) -> int:
    payload = result.to_dict()
    payload.update({"task": task.name, "optimizer": optimizer, "mode": "multi"})
    json_path.write_text(dumps(payload))
    ok = math.isfinite(result.suggestion)
    summary = {"task": task.name, "optimizer": optimizer, "mode": "multi",
               "suggestion": result.suggestion, "band_1pct": result.band_1pct,
               "band_5pct": result.band_5pct, "stability_margin": result.stability_margin,
               "horizon_fraction": result.horizon_fraction, "compute": result.compute,
               "target_steps": result.target_steps, "message": result.message,
               "plot": plot_path, "json": json_path}
    if as_json:
        print(dumps(summary))
    elif not quiet:
        print(f"task {task.name} | optimizer {optimizer}")
        print(result.summary())
        print(f"plot: {plot_path}\njson: {json_path}")
    return 0 if ok else 1


def _report_single(result, task, optimizer, mode, what, json_path, plot_path, as_json,
                   quiet) -> int:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        suggestion = result.suggestion
        rng = result.suggest_range()
        rules = result.suggestions()
    payload = result.to_dict()
    payload.update({"task": task.name, "optimizer": optimizer, "mode": mode,
                    "suggest_range": list(rng)})
    json_path.write_text(dumps(payload))
    summary = {"task": task.name, "optimizer": optimizer, "mode": mode,
               "suggestion": suggestion, "default_rule": result.default_rule,
               "range": list(rng), "suggestions": rules, "message": result.message,
               "all_diverged": result.all_diverged, "plot": plot_path, "json": json_path}
    if as_json:
        print(dumps(summary))
    elif not quiet:
        print(f"task {task.name} | optimizer {optimizer} | {what}")
        if result.all_diverged:
            print(result.message)
        else:
            print(f"suggested learning rate: {fmt(suggestion, 3)} ({result.default_rule})")
            print(f"range for cyclic / one_cycle: {fmt(rng[0], 3)} .. {fmt(rng[1], 3)}")
            print("rules: " + ", ".join(f"{k} {fmt(v, 3)}" for k, v in rules.items()))
            if mode == "parallel":
                nd = int(result.diverged.any(axis=1).sum())
                print(f"diverged: {nd} of {result.lrs.shape[0]} candidates")
        print(f"plot: {plot_path}\njson: {json_path}")
    return 0 if not result.all_diverged else 1


def _find(
    task: str = _opt("digits-mlp", "--task", "-t", help="Built-in task (see 'jaxlr tasks') or "
                     "MODULE:FUNCTION returning (init, loss, data[, valid_data])."),
    optimizer: str = _opt("adam", "--optimizer", help=f"One of {', '.join(OPTIMIZERS)}."),
    candidates: Optional[int] = _opt(None, "--candidates", help="Candidate rates (multi: of "
                                     "the first rung, default 16; parallel: default 32)."),
    seeds: Optional[int] = _opt(None, "--seeds", help="Seeds per candidate (multi: default 1; "
                                "parallel: default 3)."),
    steps: Optional[int] = _opt(None, "--steps", help="Updates per candidate run or of the "
                                "ramp (parallel / range modes; default 200)."),
    mode: str = _opt("multi", "--mode", help="'multi' (jaxlr.find, default), 'parallel' "
                     "(one horizon) or 'range' (Smith's range test)."),
    min_lr: Optional[str] = _opt(None, "--min-lr", help="Smallest rate (default 1e-5; range "
                                                        "test 1e-7)."),
    max_lr: Optional[str] = _opt(None, "--max-lr", help="Largest rate (default 10)."),
    batch_size: Optional[int] = _opt(None, "--batch-size", help="Default: the task's."),
    seed: int = _opt(0, "--seed", help="Random seed (init and data order)."),
    out: Path = _opt(Path("jaxlr-find"), "--out", "-o", help="Output directory."),
    as_json: bool = _opt(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = _opt(False, "--quiet", "-q", help="Print nothing (still writes files)."),
    target_steps: Optional[int] = _opt(
        None, "--target-steps", help="Length (updates) of the training run the rate is for "
        "(multi: default the task's horizon; parallel: the 'horizon' rule)."),
    budget: Optional[str] = _opt(None, "--budget", help="Compute in full-run equivalents "
                                 "(multi mode; default 8)."),
    schedule: Optional[str] = _opt(None, "--schedule", help="Schedule shape of the planned run "
                                   "with peak 1, e.g. 'warmup_cosine(1.0, 100, 2000)' (multi "
                                   "mode; default constant)."),
) -> int:
    """Find a learning rate for your run (multi-fidelity search, default), or run the
    one-horizon parallel finder or the range test; plot + JSON."""
    return _guard("find", _find_impl, task, optimizer, candidates, seeds, steps, mode, min_lr,
                  max_lr, batch_size, seed, out, as_json, quiet, target_steps, budget,
                  schedule)


# ----------------------------------------------------------------------------------------------
# jaxlr compare
# ----------------------------------------------------------------------------------------------

_EPILOG_COMPARE = """
Examples:

\b
  jaxlr compare                           # the classic figure on the digits MLP (SGD):
                                          # fixed high, fixed low and a decaying rate
  jaxlr compare --optimizer adam --schedule 3e-3 --schedule "cosine_decay(3e-3, 500)"
  jaxlr compare --task diabetes --steps 400 --seeds 3 --schedule 0.01 --schedule 1e-3

Trains the task once per schedule (and seed), prints early loss, final loss, late-training
oscillation and validation metrics, and writes OUT/compare.png and OUT/compare.json.
"""

DEFAULT_COMPARE = ("0.5", "0.02", "multistep_decay(0.5, [300, 400], 0.1)")


def _compare_impl(task_name: str, schedules: list[str], optimizer: str, steps: Optional[int],
                  seeds: int, seed: int, batch_size: Optional[int], out: Path, as_json: bool,
                  quiet: bool) -> int:

    optimizer = optimizer.lower()
    optimizer_factory(optimizer)  # validates the name
    check_count(steps, "--steps", minimum=10)
    check_count(seeds, "--seeds")
    check_count(batch_size, "--batch-size")
    specs = list(schedules) or list(DEFAULT_COMPARE)
    parsed = [parse_schedule(s, "--schedule") for s in specs]
    task = load_task(task_name, batch_size=batch_size)
    steps = int(steps or getattr(task, "steps", 500))
    status = Status(len(specs), f"{task.name}: training", enabled=not (quiet or as_json))
    try:
        result = compare_schedules(task, parsed, specs, optimizer=optimizer, steps=steps,
                                   seeds=seeds, seed=seed, progress=status)
    finally:
        status.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_path = save_figure(result.plot(), out / "compare.png")
    json_path = out / "compare.json"
    payload = result.to_dict()
    json_path.write_text(dumps(payload))
    if as_json:
        print(dumps({k: v for k, v in payload.items() if k not in ("lrs", "mean_losses")}
                    | {"plot": plot_path, "json": json_path}))
        return 0
    if quiet:
        return 0
    print(f"task {task.name} | optimizer {optimizer} | {steps} steps x {seeds} seed(s)")
    cols = ["early_loss", "final_loss", "late_oscillation", "valid_loss"]
    if any("valid_accuracy" in s for s in result.stats):
        cols.append("valid_accuracy")
    print(table(["schedule"] + [c.replace("_", " ") for c in cols] + ["diverged"],
                [[sp] + [s.get(c) for c in cols] + [s["diverged"]]
                 for sp, s in zip(specs, result.stats)]))
    print(f"lowest final loss: {specs[result.best()]}")
    print(f"plot: {plot_path}\njson: {json_path}")
    return 0


def _compare(
    task: str = _opt("digits-mlp", "--task", "-t", help="Built-in task or MODULE:FUNCTION."),
    schedule: list[str] = _opt([], "--schedule", "-s", metavar="SPEC",
                               help="A schedule to train with (repeatable). Default: "
                                    + ", ".join(DEFAULT_COMPARE) + " with SGD."),
    optimizer: Optional[str] = _opt(None, "--optimizer", help=f"One of {', '.join(OPTIMIZERS)}"
                                    " (default: sgd for the default schedules, else adam)."),
    steps: Optional[int] = _opt(None, "--steps", help="Updates per run (default: the task's)."),
    seeds: int = _opt(1, "--seeds", help="Seeds per schedule (curves are averaged)."),
    seed: int = _opt(0, "--seed", help="Base random seed."),
    batch_size: Optional[int] = _opt(None, "--batch-size", help="Default: the task's."),
    out: Path = _opt(Path("jaxlr-compare"), "--out", "-o", help="Output directory."),
    as_json: bool = _opt(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = _opt(False, "--quiet", "-q", help="Print nothing (still writes files)."),
) -> int:
    """Train a task with several schedules and plot their loss curves on one figure."""
    if optimizer is None:
        optimizer = "sgd" if not schedule else "adam"
    return _guard("compare", _compare_impl, task, schedule, optimizer, steps, seeds, seed,
                  batch_size, out, as_json, quiet)


# ----------------------------------------------------------------------------------------------
# jaxlr sweep
# ----------------------------------------------------------------------------------------------

_EPILOG_SWEEP = """
Example config (sweep.toml; YAML with the same keys works too):

\b
  task = "digits-mlp"
  strategy = "random"          # grid, random, halton, sobol, successive_halving, pbt, tpe, ...
  num_trials = 16
  steps = 300
  folds = 3                    # optional k-fold cross-validation
  schedule = "warmup_cosine"   # optional schedule builder, filled from the hparams
  [space]
  learning_rate = "loguniform(1e-4, 1e-1)"
  warmup_steps = [0, 30]

Examples:

\b
  jaxlr sweep sweep.toml --out sweep-out
  jaxlr sweep sweep.yaml --top 5 --json
"""


#: Largest sweep config file read (bytes); real configs are a few hundred bytes.
MAX_CONFIG_BYTES = 1_000_000


def _load_config(path: Path) -> dict:
    """The table of a .toml, .yaml/.yml or .json sweep config; every problem is a CliError."""
    name = shorten(str(path))
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        if not path.exists():
            raise CliError(f"config file {name} does not exist.")
        raise CliError(f"config {name} must be a .toml, .yaml, .yml or .json file.")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise CliError(f"config file {name} has {size} bytes, more than "
                           f"{MAX_CONFIG_BYTES}; a sweep config is a short table.")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"config file {name} does not exist.") from None
    except UnicodeDecodeError:
        raise CliError(f"config file {name} is not UTF-8 text.") from None
    except OSError as e:
        raise CliError(f"cannot read config file {name}: {e.strerror or e}.") from None
    kind = {".toml": "TOML", ".json": "JSON"}.get(suffix, "YAML")
    depth = _bracket_depth(text)
    if depth > 2 * MAX_DEPTH:  # before parsing: PyYAML takes seconds on deep flow nesting
        raise CliError(f"cannot parse {kind} {name}: brackets are nested {depth} levels deep; "
                       f"a config nests at most MAX_DEPTH = {MAX_DEPTH} levels.")
    try:
        data = _parse_config_text(kind, text)
    except CliError:
        raise
    except RecursionError:
        raise CliError(f"cannot parse {kind} {name}: it is nested too deeply.") from None
    except Exception as e:  # noqa: BLE001 - each parser has its own error classes
        raise CliError(f"cannot parse {kind} {name}: {one_line(e, 500)}.") from None
    if not isinstance(data, dict):
        raise CliError(f"the {kind} config {name} must be a mapping of keys such as task, "
                       f"space, strategy; got {type(data).__name__}.")
    return data


def _bracket_depth(text: str) -> int:
    """The deepest nesting of ``[ ]`` and ``{ }`` in ``text`` (quotes ignored: an upper bound)."""
    depth = deepest = 0
    for c in re.sub(r"[^\[\]{}]", "", text):
        depth = depth + 1 if c in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def _parse_config_text(kind: str, text: str) -> Any:
    if kind == "TOML":
        import tomllib

        return tomllib.loads(text)
    if kind == "JSON":
        import json

        return json.loads(text)
    try:
        import yaml
    except ImportError:
        raise CliError("YAML configs need pyyaml: pip install 'jaxlr[cli]' (or use "
                       "TOML).") from None
    return yaml.safe_load(text)


def _sweep_impl(config: Path, out: Path, top: int, seed: Optional[int], as_json: bool,
                quiet: bool) -> int:

    cfg = _load_config(Path(config))
    if seed is not None:
        cfg["seed"] = seed
    check_count(top, "--top")
    n = cfg.get("num_trials", "grid")
    status = Status(1, f"sweep {cfg.get('task', 'digits-mlp')} ({cfg.get('strategy', 'random')}"
                       f", {n} trials)", enabled=not (quiet or as_json))
    try:
        result = jaxlr.sweep_from_config(cfg)
        status.step("done")
    finally:
        status.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out / "sweep.json", out / "sweep.csv"
    result.to_json(str(json_path))
    result.to_csv(str(csv_path))
    plots = []
    kinds = ["metric", "curves"] + (["pbt"] if result.strategy == "pbt" else [])
    for kind in kinds:
        try:
            plots.append(save_figure(result.plot(kind), out / f"sweep_{kind}.png"))
        except (ValueError, KeyError, TypeError):  # e.g. no curves for this strategy
            pass
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = result.best_config
        best_metrics = result.best_metrics
    if as_json:
        print(dumps({"best_config": best, "best_metrics": best_metrics, "metric":
                     result.metric, "mode": result.mode, "strategy": result.strategy,
                     "num_trials": len(result), "diverged": int(result.diverged.sum()),
                     "top": _top_records(result, top),
                     "json": json_path, "csv": csv_path, "plots": plots}))
        return 0
    if quiet:
        return 0
    print(result.table(top=top))
    print(f"best ({result.metric}, {result.mode}): "
          + ", ".join(f"{k}={fmt(v)}" for k, v in best.items()))
    print(f"results: {json_path}, {csv_path}")
    for p in plots:
        print(f"plot: {p}")
    return 0


def _top_records(result: Any, top: int) -> list[dict]:
    import numpy as np

    order = np.argsort(result.scores(), kind="stable")
    if result.mode == "max":
        order = order[::-1]
    records = result.records()
    return [records[int(i)] for i in order[:top]]


def _sweep(
    config: Path = _arg(..., metavar="CONFIG", help="Sweep description: a .toml or .yaml file."),
    out: Path = _opt(Path("jaxlr-sweep"), "--out", "-o", help="Output directory."),
    top: int = _opt(10, "--top", help="Rows of the printed table (best first)."),
    seed: Optional[int] = _opt(None, "--seed", help="Override the config's seed."),
    as_json: bool = _opt(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = _opt(False, "--quiet", "-q", help="Print nothing (still writes files)."),
) -> int:
    """Run a hyperparameter sweep described in a TOML/YAML config; table, JSON/CSV, plots."""
    return _guard("sweep", _sweep_impl, config, out, top, seed, as_json, quiet)


# ----------------------------------------------------------------------------------------------
# jaxlr tasks
# ----------------------------------------------------------------------------------------------

_EPILOG_TASKS = """
Example:

\b
  jaxlr tasks --json
"""


def _tasks_impl(as_json: bool) -> int:

    rows = [tasks.get_task(n).summary() for n in tasks.list_tasks()]
    if as_json:
        print(dumps(rows))
        return 0
    print(table(["name", "kind", "train", "valid", "batch", "description"],
                [[r["name"], r["kind"], r["num_train"], r["num_valid"], r["batch_size"],
                  r["description"]] for r in rows]))
    return 0


def _tasks(as_json: bool = _opt(False, "--json", help="Print JSON.")) -> int:
    """List the built-in tasks (data + model + loss; no download)."""
    return _guard("tasks", _tasks_impl, as_json)


# ----------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------

_OPTIONS = {"traceback": False}  # set by the global --traceback option, reset by run()

_INTERNAL_HINT = ("(not a problem with your input; rerun as 'jaxlr --traceback ...' or with "
                  f"{DEBUG_ENV}=1 for the traceback)")


def _show_traceback() -> bool:
    return _OPTIONS["traceback"] or debug_enabled()


def _guard(command: str, fn, *args) -> int:
    """Runs a command: bad input becomes one line on stderr and exit code 2; any other
    exception one line ``jaxlr COMMAND: error: TYPE: message`` and exit code 1."""
    import typer

    try:
        return fn(*args)
    except (typer.Exit, typer.Abort):
        raise
    except (CliError, ValueError, TypeError) as e:  # the CLI's and the library's checks
        if _show_traceback():
            raise
        print(f"jaxlr {command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug or an environment problem
        if _show_traceback():
            raise
        print(f"jaxlr {command}: error: {type(e).__name__}: {one_line(e, 1000)} "
              f"{_INTERNAL_HINT}", file=sys.stderr)
        return 1


def _click_error_type() -> type:
    """The base class of click's errors, from typer's public API (typer >= 0.17 vendors click
    and exposes ``typer.TyperException``; older typer depends on click itself)."""
    import typer

    base = getattr(typer, "TyperException", None)
    if base is None:  # pragma: no cover - typer < 0.17
        import click

        base = click.ClickException
    return base


_APP = None


def app():
    """The typer application (built on first use)."""
    global _APP
    if _APP is None:
        _APP = _build_app()
    return _APP


def run(argv: list[str] | None = None) -> int:
    """Runs the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Exit codes: 0 success, 1 an internal error (or a finder whose every run diverged), 2 bad
    input, 130 interrupted. Errors are one line on stderr unless ``--traceback`` or
    ``JAXLR_DEBUG=1``.
    """
    import typer

    _OPTIONS["traceback"] = False
    click_error = _click_error_type()
    command = typer.main.get_command(app())
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:  # bare `jaxlr`: the help
        args = ["--help"]
    try:
        rv = command.main(args=args, prog_name="jaxlr", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        print("jaxlr: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("jaxlr: interrupted", file=sys.stderr)
        return 130
    except click_error as e:
        msg = one_line(e.format_message())
        if hasattr(e, "ctx"):  # a usage error: name the (sub)command and its help
            path = e.ctx.command_path if e.ctx is not None else "jaxlr"
            print(f"{path}: error: {msg} (see '{path} --help')", file=sys.stderr)
        else:
            print(f"jaxlr: error: {msg}", file=sys.stderr)
        return 2
    except Exception as e:  # outside a command (e.g. the cache set-up)
        if _show_traceback():
            raise
        print(f"jaxlr: error: {type(e).__name__}: {one_line(e, 1000)} {_INTERNAL_HINT}",
              file=sys.stderr)
        return 1
    return rv if isinstance(rv, int) else 0


def main() -> None:
    """Console-script entry point (``jaxlr``) and ``python -m jaxlr``."""
    sys.exit(run())
