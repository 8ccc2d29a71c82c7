""":func:`find`: a learning rate for the run the user will train, by multi-fidelity search.

The user describes the planned run (optimizer, schedule shape, number of updates, batch size,
validation data) and a compute budget in *full-run equivalents* (one full run = ``target_steps``
updates of one lane). The search is a sequence of rungs, each one compiled, vectorised (and
sharded) program of training-kernel runs (:mod:`jaxlr.finder._lanes`):

* rung 0 trains ``num_lrs`` log-spaced rates over ``[min_lr, max_lr]`` at a short horizon;
* every later rung trains ``rung_lrs`` rates on a finer log grid (spacing: the previous one to
  the power 0.7) centred on the rate the rungs so far predict for its horizon, ``eta`` times
  longer than the previous one;
* the last rung runs at the target horizon when the budget allows, else at the longest horizon
  it affords (every horizon shrinks by the same factor);
* when the last rung's best rate is at the edge of its grid (or all of it diverged), up to two
  extensions of 3 rates continue the grid past that edge at the same horizon (counted in the
  compute; they can exceed the budget by up to 6 runs of the last rung's length).

Every rung trains the *real* schedule compressed to its length (``schedule(t * T // t_r)``), so
the last rung at ``t_r = T`` is exactly the user's run: candidate ``c`` with seed ``s`` equals
``jaxlr.fit(loss_fn, optimizer(lr_c * schedule), init, data, steps=T, key=fold_in(key, s))``.
When the last rung is shorter than ``T``, the best rate of each rung (a parabola through the
seed-mean losses in ``log lr``) gives a horizon law ``lr*(t) ~ t^b`` fitted across the rungs
(Bjorck et al., ICLR 2025; the short-horizon bias of Wu et al., ICLR 2018), extrapolated to
``T``. The suggestion is never at or next to a rate that diverged in any seed at the longest
horizon observed, nor above the largest rate trained stably there.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from jaxlr import controllers, engine, plotting, population
from jaxlr.finder import _suggest
from jaxlr.finder._finder import check_common, check_window, split_schedule
from jaxlr.finder._lanes import LaneSpec, Shared, auto_chunk, run_candidates
from jaxlr.finder._result import FinderResult, _json_value, json_text
from jaxlr._utils._validation import check_positive, check_steps, fail, shorten

__all__ = ["FindResult", "find", "plan_rungs", "SLOPE_BOUNDS"]

#: bounds of the fitted horizon exponent ``b`` in ``lr*(t) ~ t^b``: the best rate falls with
#: the horizon (Bjorck et al. 2025 measure ``b`` around -0.3 for language models; SGD theory
#: gives -1/2 to -1 in the noise-limited regime) or stays where stability limits it; a rising
#: fit is noise between rungs, and extrapolating it walks towards divergence (seen on the design
#: settings), so ``b`` is clipped to ``[-1, 0]``
SLOPE_BOUNDS = (-1.0, 0.0)
_MIN_RUNG_STEPS = 16
#: each later rung's log-grid spacing is the previous one's to this power (2.5x -> 1.9x ->
#: 1.6x for the defaults): fine enough for a within-2x answer, wide enough (5 rates span 8-16x)
#: to hold the optimum when the previous rung's estimate is off by 2-4x
_REFINE = 0.7
#: when the last rung's best rate is at the edge of its grid (or every rate diverged), up to
#: this many extensions of ``_EXTEND`` rates each continue the grid at the same horizon (the
#: optimum sits past the edge: overfitting that starts after the short rungs, an optimum at
#: the edge of stability); they are counted in ``compute`` and may exceed the budget by up to
#: ``2 * 3 / rung_lrs`` of the last rung
_MAX_EXTENSIONS = 2
_EXTEND = 3


@dataclasses.dataclass(frozen=True)
class FindResult:
    """What :func:`find` measured and how far to trust its suggestion.

    Attributes:
      suggestion: the rate to train with (the peak of the schedule); NaN when every candidate
        diverged (see :attr:`message`).
      best_observed: the best rate at the longest horizon trained (sub-grid, before any
        extrapolation to ``target_steps``).
      band_1pct, band_5pct: ``(lowest, highest)`` rate of the longest rung whose seed-mean
        loss is within 1 % / 5 % of the best there (``None`` if nothing trained).
      stability_margin: the factor from the suggestion to the smallest rate that diverged in
        any seed at any rung (``inf`` when none did).
      horizon_fraction: longest horizon trained / ``target_steps`` (1.0: the real run).
      compute: lane-updates used, in full-run equivalents (``target_steps`` updates).
      budget: the budget asked for (full-run equivalents).
      horizon_exponent: the fitted ``b`` of ``lr*(t) ~ t^b`` (clipped to
        :data:`SLOPE_BOUNDS`), ``None`` with fewer than two rungs with a finite optimum.
      extrapolated: whether the suggestion extrapolates beyond the longest rung.
      capped: whether the divergence rule lowered the suggestion.
      target_steps: updates of the planned run.
      metric: ``"valid_loss"`` or ``"final_loss"`` (the smoothed training loss).
      rungs: one :class:`FinderResult` per rung (its ``num_steps`` is the rung's horizon).
      message: why the suggestion is NaN, or ``""``.
    """

    suggestion: float
    best_observed: float
    band_1pct: tuple[float, float] | None
    band_5pct: tuple[float, float] | None
    stability_margin: float
    horizon_fraction: float
    compute: float
    budget: float
    horizon_exponent: float | None
    extrapolated: bool
    capped: bool
    target_steps: int
    metric: str
    rungs: tuple[FinderResult, ...]
    message: str = ""

    @property
    def num_seeds(self) -> int:
        return self.rungs[0].num_seeds

    def rung_losses(self, r: int) -> np.ndarray:
        """``[C]`` seed-mean loss of rung ``r`` (inf where a seed diverged)."""
        return _mean_loss(self.rungs[r], self.metric)

    def to_dict(self, *, curves: bool = False) -> dict[str, Any]:
        """A small JSON-able summary (a few KB): the suggestion and its trust figures and, per
        rung, the horizon, rates, seed-mean losses and divergence; ``curves=True`` adds every
        rung's full :meth:`FinderResult.to_dict` (per-update curves)."""
        out: dict[str, Any] = {f.name: _json_value(getattr(self, f.name))
                               for f in dataclasses.fields(self) if f.name != "rungs"}
        for k in ("band_1pct", "band_5pct"):
            v = getattr(self, k)
            out[k] = None if v is None else [_json_value(x) for x in v]
        out["num_seeds"] = self.num_seeds
        out["rungs"] = [{"steps": r.num_steps, "lrs": _json_value(r.lrs),
                         "loss": _json_value(self.rung_losses(i)),
                         "diverged": _json_value(np.asarray(r.diverged).any(axis=1))}
                        for i, r in enumerate(self.rungs)]
        if curves:
            out["rung_results"] = [r.to_dict(curves=True) for r in self.rungs]
        out["curves"] = bool(curves)
        return out

    def to_json(self, path: str | None = None, *, curves: bool = False, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON text, also written to ``path`` when given."""
        return json_text(self.to_dict(curves=curves), path, **kwargs)

    def plot(self, ax: Any = None, *, path: Any = None, **kwargs: Any) -> Any:
        """Loss against rate for every rung, with the suggestion, the 1 % / 5 % bands and the
        stability margin (:func:`jaxlr.plotting.plot_find`); ``path=`` saves the figure."""
        return plotting.plot_find(self, ax=ax, path=path, **kwargs)

    def summary(self) -> str:
        g = lambda v: "nan" if v is None or not math.isfinite(v) else f"{v:.3g}"  # noqa: E731
        r0 = self.rungs[0]
        lines = [f"FindResult - {len(self.rungs)} rungs x {self.num_seeds} seeds for a "
                 f"{self.target_steps}-update run",
                 f"  task {r0.task or '?'}, optimizer {r0.optimizer}, schedule {r0.schedule}, "
                 f"batch {r0.batch_size}",
                 "  rungs: " + ", ".join(f"{r.lrs.shape[0]} rates x {r.num_steps} steps"
                                         for r in self.rungs)]
        if not math.isfinite(self.suggestion):
            lines.append(f"  {self.message}")
            return "\n".join(lines)
        how = (f"extrapolated from {self.horizon_fraction:.0%} of the run with exponent "
               f"{self.horizon_exponent:+.2f}" if self.extrapolated else "at the full horizon")
        lines.append(f"  suggestion: {g(self.suggestion)} ({how}"
                     f"{', lowered by the divergence rule' if self.capped else ''})")
        for name, b in (("1%", self.band_1pct), ("5%", self.band_5pct)):
            if b is not None:
                lines.append(f"  within {name} of the best: {g(b[0])} .. {g(b[1])}")
        lines.append(f"  stability margin: x{g(self.stability_margin)} to the nearest "
                     f"diverged rate")
        lines.append(f"  compute: {self.compute:.2f} full runs (budget {self.budget:g})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"FindResult(suggestion={self.suggestion:.3g}, horizon_fraction="
                f"{self.horizon_fraction:.2f}, compute={self.compute:.2f}, "
                f"rungs={len(self.rungs)})")


def _mean_loss(result: FinderResult, metric: str) -> np.ndarray:
    y = np.asarray(result.valid_losses if metric == "valid_loss" else result.final_losses,
                   np.float64)
    bad = np.asarray(result.diverged, bool).any(axis=1) | ~np.isfinite(y).all(axis=1)
    return np.where(bad, np.inf, np.where(bad[:, None], 0.0, y).mean(axis=1))


def plan_rungs(target_steps: int, budget: float, *, num_seeds: int, num_lrs: int,
               rung_lrs: int, num_rungs: int, eta: int) -> list[tuple[int, int]]:
    """``[(candidates, steps)]`` of every rung for a budget in full-run equivalents.

    Horizons grow by ``eta`` from rung to rung; the last is ``target_steps`` when
    ``num_seeds * sum(candidates_r * steps_r) <= budget * target_steps``, else every horizon
    shrinks by the same factor until the rungs fit. Rungs that would be shorter than 16 updates
    are dropped (the first ones).

    Examples:
      >>> plan_rungs(1000, 8.0, num_seeds=1, num_lrs=16, rung_lrs=5, num_rungs=3, eta=4)
      [(16, 62), (5, 250), (5, 1000)]
      >>> plan_rungs(1000, 2.0, num_seeds=1, num_lrs=16, rung_lrs=5, num_rungs=3, eta=4)
      [(16, 17), (5, 68), (5, 275)]
    """
    for rungs in range(num_rungs, 0, -1):
        counts = [num_lrs] + [rung_lrs] * (rungs - 1)
        rel = [float(eta) ** -(rungs - 1 - r) for r in range(rungs)]
        per_full = num_seeds * sum(c * f for c, f in zip(counts, rel))
        last = min(float(target_steps), budget * target_steps / per_full)
        steps = [int(math.floor(last * f)) for f in rel]
        if steps[0] >= _MIN_RUNG_STEPS or rungs == 1:
            break
    if steps[0] < _MIN_RUNG_STEPS:
        fail("find", f"a budget of {budget:g} full runs affords {steps[0]} updates per "
             f"candidate ({num_lrs} rates x {num_seeds} seeds); at least {_MIN_RUNG_STEPS} "
             "are needed.", hint="Raise `budget`, or lower `num_lrs` / `num_seeds`.")
    return list(zip(counts, steps))


def _check_find(fn, *, budget, num_lrs, rung_lrs, num_rungs, eta, num_seeds, target_steps):
    check_positive(fn, budget=budget)
    if not math.isfinite(float(budget)):
        fail(fn, f"`budget` must be finite; got budget={shorten(budget)}.")
    check_steps(fn, num_lrs=num_lrs, minimum=3)
    check_steps(fn, rung_lrs=rung_lrs, minimum=3)
    check_steps(fn, num_rungs=num_rungs, minimum=1)
    check_steps(fn, eta=eta, minimum=2)
    check_steps(fn, num_seeds=num_seeds, minimum=1)
    check_steps(fn, target_steps=target_steps, minimum=_MIN_RUNG_STEPS)


def _grid(centre: float, ratio: float, n: int, cap: float) -> np.ndarray:
    """``n`` rates spaced by ``ratio`` around ``centre`` (log), all ``<= cap``."""
    top = centre * ratio ** ((n - 1) / 2)
    if top > cap:
        centre *= cap / top
    return centre * ratio ** (np.arange(n) - (n - 1) / 2)


def _fit_slope(points: list[tuple[int, float]]) -> float | None:
    pts = [(t, b) for t, b in points if math.isfinite(b)]
    if len(pts) < 2 or len({t for t, _ in pts}) < 2:
        return None
    b = float(np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0])
    return float(np.clip(b, *SLOPE_BOUNDS))


def _band(lrs: np.ndarray, y: np.ndarray, tol: float) -> tuple[float, float] | None:
    if not np.isfinite(y).any():
        return None
    best = float(np.min(y))
    near = np.flatnonzero(y <= best + tol * abs(best))
    return float(lrs[near].min()), float(lrs[near].max())


def _diverged_rates(result: FinderResult) -> np.ndarray:
    return np.asarray(result.lrs)[np.asarray(result.diverged, bool).any(axis=1)]


def _cap(last: FinderResult, y: np.ndarray) -> float:
    """The largest rate the suggestion may take: two grid steps below the smallest rate that
    diverged in any seed at the longest rung (never at or next to it), and never above the
    largest rate trained stably there (an upward extrapolation stays within what was seen).
    Shorter rungs do not cap: their compressed schedules (a warm-up of 50 updates in 1000 is
    under 2 in a 34-update rung) diverge at rates the full run trains well."""
    lrs = np.asarray(last.lrs, np.float64)
    ratio = lrs[1] / lrs[0]
    d = _diverged_rates(last)
    cap = float(d.min()) / ratio ** 2 if d.size else math.inf
    stable = lrs[np.isfinite(y)]
    return min(cap, float(stable.max())) if stable.size else cap


def _argmin(lrs: np.ndarray, y: np.ndarray) -> float:
    """The best rate of a rung: the vertex of the parabola in ``log lr`` through the best point
    and its two neighbours, kept between them (:func:`_suggest._subgrid_argmin`). A parabola
    through every point is biased towards low rates: the loss rises far more steeply towards
    divergence than towards small rates (seen on the design settings)."""
    return _suggest._subgrid_argmin(lrs, y)


class _Search:
    """The finder's fixed inputs; :meth:`rung` trains one rung."""

    def __init__(self, fn, prob, opt, opt_leaves, sched, sh, *, num_seeds, target_steps,
                 mesh, chunk_size, optimizer, smoothing, divergence_threshold):
        self.fn, self.prob, self.opt, self.sh = fn, prob, opt, sh
        self.kind, self.sched_static, _, self.sched_desc = sched
        self.num_seeds, self.target_steps = num_seeds, target_steps
        self.mesh, self.chunk_size = mesh, chunk_size
        self.optimizer_desc = engine.describe_optimizer(optimizer)
        self.smoothing, self.threshold = smoothing, divergence_threshold

    def rung(self, lrs: np.ndarray, steps: int) -> FinderResult:
        prob, s, c = self.prob, self.num_seeds, len(lrs)
        chunk = self.chunk_size
        if chunk == "auto":
            chunk = auto_chunk(prob.model, self.opt, self.sh, s, c, self.mesh)
        spec = LaneSpec(
            model=prob.model, optimizer=self.opt, rate=self.kind, schedule=self.sched_static,
            warmup_steps=0, num_steps=int(steps), num_seeds=s, batch_size=prob.batch_size,
            num_examples=prob.num_examples, eval_every=0, has_valid=prob.valid is not None,
            crn=True, per_seed_init=True, has_init=prob.model.init_fn is not None,
            pregather=engine.should_pregather(prob.train, int(steps), prob.batch_size, s),
            plateau_update=None, early_stopping_update=None, monitor="val_loss",
            layout=population.layout(self.fn, c, chunk_size=chunk, mesh=self.mesh),
            stretch=(self.target_steps, int(steps)),
            batch_sharding=population.batch_sharding(self.mesh, prob.batch_size, fn=self.fn))
        out = run_candidates(spec, lrs, self.sh)
        return FinderResult(
            method="parallel", lrs=np.asarray(lrs, np.float64), losses=out["losses"],
            smoothed=out["smoothed"], final_losses=out["final_loss"],
            valid_losses=out.get("valid_loss"), valid_curve=None, valid_steps=None,
            diverged=out["diverged"], diverged_step=out["diverged_step"], effective_lrs=None,
            num_steps=int(steps), batch_size=prob.batch_size, optimizer=self.optimizer_desc,
            schedule=self.sched_desc, smoothing=float(self.smoothing),
            divergence_threshold=float(self.threshold), min_lr=float(lrs[0]),
            max_lr=float(lrs[-1]), task=prob.name, target_steps=self.target_steps)


def _search(search: _Search, plan, min_lr, max_lr, metric) -> list[FinderResult]:
    """Trains the rungs of ``plan``, each centred on the previous rungs' prediction and below
    every rate that diverged at a shorter horizon; then extends the last rung past its edge."""
    rungs: list[FinderResult] = []
    points: list[tuple[int, float]] = []
    lrs = np.geomspace(min_lr, max_lr, plan[0][0])
    ratio = float(lrs[1] / lrs[0])
    for r, (n, steps) in enumerate(plan):
        if r:
            slope = _fit_slope(points) or 0.0
            last_t, last_b = points[-1]
            ratio = ratio ** _REFINE
            if math.isfinite(last_b):
                centre = last_b * (steps / last_t) ** slope
            else:                          # everything diverged: below the lowest rate tried
                centre = float(rungs[-1].lrs[0]) / ratio ** ((n + 1) / 2)
            diverged = np.concatenate([_diverged_rates(x) for x in rungs])
            cap = float(diverged.min()) / ratio if diverged.size else math.inf
            lrs = _grid(centre, ratio, n, cap)
        res = search.rung(lrs, steps)
        rungs.append(res)
        y = _mean_loss(res, metric)
        points.append((steps, _argmin(res.lrs, y) if np.isfinite(y).any() else math.nan))
    for _ in range(_MAX_EXTENSIONS):
        extra = _beyond_edge(rungs, metric)
        if extra is None:
            break
        rungs[-1] = _merge(rungs[-1], search.rung(extra, rungs[-1].num_steps))
    return rungs


def _beyond_edge(rungs: list[FinderResult], metric: str) -> np.ndarray | None:
    """:data:`_EXTEND` more rates at the last horizon when its best rate is at the edge of what
    it trained (or every rate diverged), continuing its grid; ``None`` when interior."""
    last = rungs[-1]
    lrs = np.asarray(last.lrs, np.float64)
    ratio = float(lrs[1] / lrs[0])
    y = _mean_loss(last, metric)
    steps = np.arange(1, _EXTEND + 1)
    if not np.isfinite(y).any():
        return lrs[0] / ratio ** steps[::-1]
    i = int(np.argmin(y))
    if i == 0:
        return lrs[0] / ratio ** steps[::-1]
    if i == len(lrs) - 1:
        up = lrs[-1] * ratio ** steps
        diverged = np.concatenate([_diverged_rates(x) for x in rungs])
        if diverged.size:
            up = up[up < diverged.min()]
        return up if up.size else None
    return None


def _merge(a: FinderResult, b: FinderResult) -> FinderResult:
    """One rung from two trainings at the same horizon, ordered by rate."""
    order = np.argsort(np.concatenate([a.lrs, b.lrs]))
    per = {}
    for f in ("lrs", "losses", "smoothed", "final_losses", "valid_losses", "diverged",
              "diverged_step"):
        x, z = getattr(a, f), getattr(b, f)
        per[f] = None if x is None else np.concatenate([x, z])[order]
    return dataclasses.replace(a, **per, min_lr=float(per["lrs"][0]),
                               max_lr=float(per["lrs"][-1]))


def find(model: Any, loss_fn: Callable | None = None, data: Any = None, *,
         valid_data: Any = None, optimizer: Any = None, schedule: Any = None,
         target_steps: int | None = None, batch_size: int | None = None, budget: float = 8.0,
         min_lr: float = 1e-5, max_lr: float = 10.0, num_lrs: int = 16, rung_lrs: int = 5,
         num_rungs: int = 3, eta: int = 4, num_seeds: int = 1, smoothing: float = 0.9,
         divergence_threshold: float = 4.0, chunk_size: int | str | None = "auto",
         mesh: Any = None, key: Any = None, has_aux: bool | None = None,
         eval_fn: Callable | None = None) -> FindResult:
    """The learning rate for the run you will train, by a multi-fidelity search to its horizon.

    Describe the planned run: ``optimizer`` (a factory ``lr -> optimizer`` or a built jaxlr
    optimizer whose rate is replaced), the ``schedule`` shape with peak 1 over the *whole* run
    (e.g. ``jaxlr.warmup_cosine(1.0, 100, 2000)``; ``None``: a constant rate), its length
    ``target_steps``, the batch size and validation data. The searched rate is the schedule's
    peak. ``budget`` is the compute in full-run equivalents (``target_steps`` updates of one
    lane); the default 8 trains the last rung at the full horizon with the default grid (it
    was chosen from ``scripts/eval_finder.py``: median regret 3 % against 13 % at budget 4 on
    the first round of settings); a smaller budget reaches part of the horizon and the fitted
    horizon law covers the rest.

    Rungs (see the module docstring): ``num_lrs`` rates over ``[min_lr, max_lr]`` at a short
    horizon, then ``num_rungs - 1`` rungs of ``rung_lrs`` rates on a finer grid around the
    predicted optimum, each ``eta`` times longer, every rung training the schedule compressed to
    its length, as one compiled program per rung (sharded over the ``"trials"`` axis of
    ``mesh``). Candidate ``c`` of the last rung with seed ``s`` at the full horizon is exactly
    ``jaxlr.fit(loss_fn, optimizer(lr_c * schedule), model, data, steps=target_steps,
    key=jax.random.fold_in(key, s))``.

    Args:
      model, loss_fn, data, valid_data, batch_size, has_aux, eval_fn: the problem, as in
        :func:`jaxlr.parallel_lr_find` (a :class:`jaxlr.tasks.Task` supplies them all and
        ``target_steps`` defaults to its ``steps``).
      optimizer: factory ``lr -> optimizer`` or a built jaxlr optimizer (default
        :func:`jaxlr.adam`).
      schedule: the schedule shape of the planned run, peak 1, defined over ``target_steps``
        updates (any ``step -> factor`` callable); ``None`` is a constant rate.
      target_steps: updates of the planned run.
      budget: compute in full-run equivalents (> 0).
      min_lr, max_lr: bounds of the first rung's grid.
      num_lrs: rates of the first rung (>= 3); rung_lrs: rates of every later rung (>= 3).
      num_rungs: rungs (fewer when the budget makes the first ones shorter than 16 updates).
      eta: horizon ratio between rungs (>= 2).
      num_seeds: seeds per rate (data order and initialisation); a rate that diverges in any
        seed counts as diverged.
      smoothing, divergence_threshold: as in :func:`jaxlr.parallel_lr_find`.
      chunk_size, mesh: the population layout, as in :func:`jaxlr.parallel_lr_find`.
      key: ``jax.random.key`` or an int seed (required).

    Returns:
      A :class:`FindResult`: ``suggestion``, the 1 % / 5 % bands, the stability margin, the
      fraction of the horizon observed, the compute used, per-rung results and ``plot()``.

    Raises:
      ValueError: bad budget, counts, bounds or data; TypeError: wrong kinds of arguments.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> x = jax.random.normal(jax.random.key(1), (256, 4))
      >>> y = x @ jnp.array([1.0, -2.0, 0.5, 3.0])
      >>> loss = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
      >>> r = find(jnp.zeros(4), loss, (x, y), optimizer=optax.sgd, target_steps=200,
      ...          batch_size=32, min_lr=1e-3, max_lr=10.0, key=0)
      >>> [res.num_steps for res in r.rungs], 0.01 < r.suggestion < 1.0
      ([44, 177], True)
    """
    fn = "find"
    prob = engine.as_problem(fn, model, loss_fn, data, valid_data=valid_data,
                             batch_size=batch_size, eval_fn=eval_fn, has_aux=has_aux)
    key = engine.as_key(fn, key)
    if target_steps is None:
        if not isinstance(model, engine.Task):
            fail(fn, "`target_steps` (the number of updates of the run you will train) is "
                 "required.", hint="e.g. target_steps=2000.")
        target_steps = int(model.steps)
    _check_find(fn, budget=budget, num_lrs=num_lrs, rung_lrs=rung_lrs, num_rungs=num_rungs,
                eta=eta, num_seeds=num_seeds, target_steps=target_steps)
    check_common(fn, min_lr=min_lr, max_lr=max_lr, num_steps=target_steps,
                 smoothing=smoothing, divergence_threshold=divergence_threshold,
                 eval_every=None, has_valid=prob.valid is not None, minimum_steps=1)
    plan = plan_rungs(int(target_steps), float(budget), num_seeds=int(num_seeds),
                      num_lrs=int(num_lrs), rung_lrs=int(rung_lrs), num_rungs=int(num_rungs),
                      eta=int(eta))
    check_window(fn, smoothing, plan[0][1], 1.0)
    opt, opt_leaves = engine.rate_optimizer(fn, optimizer)
    sched = split_schedule(fn, schedule, None)
    mesh = population.resolve_mesh(fn, mesh, None)
    div = controllers.divergence(threshold=divergence_threshold, smoothing=smoothing).init()
    sh = Shared(key=key, optimizer=opt_leaves, schedule=sched[2], params=prob.params,
                model_state=prob.model_state, train=prob.train, valid=prob.valid,
                divergence=div, plateau=None, early_stopping=None)
    search = _Search(fn, prob, opt, opt_leaves, sched, sh, num_seeds=int(num_seeds),
                     target_steps=int(target_steps), mesh=mesh, chunk_size=chunk_size,
                     optimizer=optimizer, smoothing=smoothing,
                     divergence_threshold=divergence_threshold)
    metric = "valid_loss" if prob.valid is not None else "final_loss"
    rungs = _search(search, plan, float(min_lr), float(max_lr), metric)
    return _conclude(rungs, metric, int(target_steps), float(budget), int(num_seeds))


def _conclude(rungs: list[FinderResult], metric: str, target: int, budget: float,
              seeds: int) -> FindResult:
    last = rungs[-1]
    lrs = np.asarray(last.lrs, np.float64)
    y = _mean_loss(last, metric)
    compute = seeds * sum(r.lrs.shape[0] * r.num_steps for r in rungs) / target
    fraction = last.num_steps / target
    common = dict(stability_margin=math.inf, horizon_fraction=fraction, compute=compute,
                  budget=budget, target_steps=target, metric=metric, rungs=tuple(rungs))
    if not np.isfinite(y).any():
        return FindResult(suggestion=math.nan, best_observed=math.nan, band_1pct=None,
                          band_5pct=None, horizon_exponent=None, extrapolated=False,
                          capped=False, message=(
                              "every candidate diverged (or gave a non-finite loss) at the "
                              f"{last.num_steps}-update rung. Lower `min_lr` and `max_lr`."),
                          **common)
    best = _argmin(lrs, y)
    points = [(r.num_steps, _argmin(r.lrs, _mean_loss(r, metric)))
              for r in rungs if np.isfinite(_mean_loss(r, metric)).any()]
    slope = _fit_slope(points)
    extrapolated = last.num_steps < target and slope is not None
    lr = best * (target / last.num_steps) ** slope if extrapolated else best
    cap = _cap(last, y)
    capped = lr > cap
    lr = min(lr, cap)
    diverged = np.concatenate([_diverged_rates(r) for r in rungs])
    common["stability_margin"] = float(diverged.min() / lr) if diverged.size else math.inf
    return FindResult(suggestion=float(lr), best_observed=float(best),
                      band_1pct=_band(lrs, y, 0.01), band_5pct=_band(lrs, y, 0.05),
                      horizon_exponent=slope, extrapolated=bool(extrapolated),
                      capped=bool(capped), **common)
