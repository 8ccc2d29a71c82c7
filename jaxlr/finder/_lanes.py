"""Candidate learning rates x seeds as one compiled program of training-kernel runs.

Every finder (the parallel finder, each rung of :func:`jaxlr.find`) trains its candidates here:
candidate ``c`` with seed ``s`` is the kernel run (:func:`jaxlr.engine.run`) that

    ``jaxlr.fit(loss_fn, optimizer(rate_c), init, data, key=fold_in(key, s), steps=T)``

performs, update for update: the data order comes from ``fold_in(key, s)`` (common random
numbers: every candidate of a seed sees the same batches), the initialisation from
``fold_in(fold_in(key, s), 0)`` (``per_seed_init``; otherwise seed 0's for every seed), the
per-update key of a loss taking ``key`` from the same seed key, and every controller the user
passed runs inside (plateau, early stopping); a divergence controller freezes a run whose
smoothed loss blows up.

Layout: candidates are the population axis (:mod:`jaxlr.population`: chunked on a CPU, sharded
over ``"trials"`` on a mesh); several seeds are an inner ``vmap`` whose data is shared by every
candidate of the seed; one seed runs without it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr import engine, population, schedules
from jaxlr._utils._static import ByValue, Static, combine, value_key

__all__ = ["LaneSpec", "Shared", "run_candidates", "CPU_CHUNK_BYTES", "auto_chunk"]

_F32 = np.dtype("float32")
_NAN = float("nan")

# Cache blocking on CPUs: many candidates trained together are bound by memory traffic once
# their parameters and optimizer states no longer fit in the cache (every update reads and writes
# each of them several times). ``chunk_size="auto"`` vmaps chunks whose state fits in this many
# bytes, one chunk after another (``lax.map``): 256 Adam candidates of the digits MLP run at 28%
# of the matmul peak all at once and at 50% in chunks of 32 (2-core AMD EPYC, 32 MiB L3).
CPU_CHUNK_BYTES = 8 * 2**20


@dataclasses.dataclass(frozen=True, eq=False)
class LaneSpec(ByValue):
    """The static structure of a candidates program (compared by value)."""

    model: engine.Model
    optimizer: engine.RateOptimizer
    rate: str                         # "constant" | "shape" (peak x shape) | "fn" (peak -> s)
    schedule: Static | None           # static part of the shape / schedule_fn
    warmup_steps: int
    num_steps: int
    num_seeds: int
    batch_size: int
    num_examples: int
    eval_every: int
    has_valid: bool
    crn: bool
    per_seed_init: bool
    has_init: bool
    pregather: bool
    plateau_update: Callable[..., Any] | None
    early_stopping_update: Callable[..., Any] | None
    monitor: str
    layout: population.Layout
    freeze: bool = True
    #: ``(target_steps, num_steps)``: the schedule (shape or function) is the one of a
    #: ``target_steps`` run compressed to ``num_steps`` updates (:func:`jaxlr.find`'s rungs);
    #: ``None``: as given
    stretch: tuple[int, int] | None = None
    #: every candidate's batch over the mesh's ``"data"`` axis (see ``engine.Plan``)
    batch_sharding: Any = None

    def __jaxlr_value_key__(self) -> Any:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))



class Shared(NamedTuple):
    """Arrays every candidate reads (replicated on a mesh)."""

    key: jax.Array              # the finder's key
    optimizer: list[Any]        # a built jaxlr optimizer's hyperparameters
    schedule: list[Any]         # the schedule shape's leaves
    params: Any                 # initial parameters (no init function) or None
    model_state: Any
    train: Any
    valid: list[Any] | None
    divergence: Any             # DivergenceState (beta, threshold as data)
    plateau: Any
    early_stopping: Any


def rate_of(spec: LaneSpec, peak: jax.Array, leaves: list[Any]) -> Any:
    """Candidate ``peak``'s learning rate: a traced scalar or a schedule."""
    if spec.rate == "constant":
        lr: Any = peak
    elif spec.rate == "shape":
        lr = schedules.scale(_stretched(spec, combine(leaves, spec.schedule)), peak)
    else:
        lr = _stretched(spec, combine(leaves, spec.schedule)(peak))
    if spec.warmup_steps:
        lr = schedules.warmup(lr if callable(lr) else schedules.constant(lr),
                              spec.warmup_steps)
    return lr


def _stretched(spec: LaneSpec, schedule: Any) -> Any:
    """``schedule`` of a ``target`` run compressed to ``num_steps`` updates: update ``t`` uses
    ``schedule(t * target // num_steps)`` (integer arithmetic, exact while ``target *
    num_steps < 2**31``; beyond, the product is formed in float32)."""
    if spec.stretch is None or spec.stretch[0] == spec.stretch[1]:
        return schedule
    target, n = spec.stretch

    def at(step):
        step = jnp.asarray(step, jnp.int32)
        if target * n < 2**31:
            return schedule(step * target // n)
        return schedule(jnp.floor(step.astype(jnp.float32) * (target / n)).astype(jnp.int32))

    return at


def seed_key(key: jax.Array, seed: jax.Array | int) -> jax.Array:
    """The key of seed ``s``: ``fold_in(key, s)`` (what ``fit(key=...)`` would be given)."""
    return jax.random.fold_in(key, seed)


def _one_run(spec: LaneSpec, peak, cand, seed, sh: Shared) -> dict[str, jax.Array]:
    ks = seed_key(sh.key, seed)
    lr = rate_of(spec, peak, sh.schedule)
    tx = spec.optimizer.build(sh.optimizer, lr)
    if spec.has_init:
        init_key = jax.random.fold_in(ks if spec.per_seed_init else seed_key(sh.key, 0), 0)
        params, model_state = spec.model.initialize(init_key)
    else:
        params, model_state = sh.params, sh.model_state
    state = engine.TrainState(step=jnp.zeros([], jnp.int32), params=params,
                              opt_state=tx.init(params), model_state=model_state, key=ks,
                              plateau=sh.plateau, early_stopping=sh.early_stopping,
                              divergence=sh.divergence)
    data_key = ks if spec.crn else jax.random.fold_in(ks, cand + 1)
    plan = engine.Plan(model=spec.model, update=tx.update, extra_args=engine.is_extra_args(tx),
                       batch_size=spec.batch_size, num_examples=spec.num_examples,
                       num_steps=spec.num_steps, eval_every=spec.eval_every,
                       eval_at_end=spec.has_valid, freeze=spec.freeze,
                       pregather=spec.pregather, plateau_update=spec.plateau_update,
                       early_stopping_update=spec.early_stopping_update, monitor=spec.monitor,
                       batch_sharding=spec.batch_sharding)
    state, rec = engine.run(plan, state, engine.Data(sh.train, data_key), sh.valid)
    return _summary(spec, state, rec)


def _summary(spec: LaneSpec, state: engine.TrainState, rec: dict[str, Any]) -> dict:
    div = state.divergence
    T = spec.num_steps
    after = div.diverged & (jnp.arange(T) > div.diverged_step)
    losses = jnp.where(after, _NAN, rec["train"]["loss"])
    smoothed = rec["train"]["smoothed"]
    out = {"losses": losses, "smoothed": smoothed,
           "final_loss": jnp.where(div.diverged, _NAN, smoothed[-1]),
           "diverged": div.diverged, "diverged_step": div.diverged_step}
    if spec.has_valid:
        out["valid_loss"] = jnp.where(div.diverged, _NAN, _valid_metric(rec["final"]))
    if spec.has_valid and spec.eval_every:
        k = spec.eval_every
        at = (jnp.arange(T // k) + 1) * k
        dead = div.diverged & (div.diverged_step < at)
        out["valid_curve"] = jnp.where(dead, _NAN, _valid_metric(rec["eval"]))
    return out


def _valid_metric(vals: dict[str, jax.Array]) -> jax.Array:
    if "val_loss" in vals:
        return vals["val_loss"]
    return vals[sorted(k for k in vals if k.startswith("val_"))[0]]


def _member(spec: LaneSpec, member: tuple[jax.Array, jax.Array], sh: Shared) -> dict:
    peak, cand = member
    if spec.num_seeds == 1:
        out = _one_run(spec, peak, cand, 0, sh)
        return jax.tree_util.tree_map(lambda x: x[None], out)
    seeds = jnp.arange(spec.num_seeds, dtype=jnp.int32)
    return jax.vmap(lambda s: _one_run(spec, peak, cand, s, sh))(seeds)


def _program(spec: LaneSpec, peaks: jax.Array, cands: jax.Array, sh: Shared) -> dict:
    return population.lanes(lambda m, s: _member(spec, m, s), (peaks, cands), (sh,),
                            lay=spec.layout)


_program_jit = jax.jit(_program, static_argnums=0)


def run_candidates(spec: LaneSpec, peaks: np.ndarray, sh: Shared) -> dict[str, np.ndarray]:
    """Trains every candidate x seed; numpy arrays ``[C, S, ...]``."""
    lay = spec.layout
    members = population.pad((np.asarray(peaks, _F32), np.arange(len(peaks), dtype=np.int32)),
                             lay)
    members, (sh,) = population.place(members, (sh,), lay)
    out = _program_jit(spec, members[0], members[1], sh)
    return population.unpad(population.to_host(out), lay)


_CHUNKS: dict[Any, int | None] = {}


def auto_chunk(model: engine.Model, optimizer: engine.RateOptimizer, sh: Shared,
               num_seeds: int, num_candidates: int, mesh: Any) -> int | None:
    """The ``chunk_size="auto"`` choice: ``None`` (vmap every candidate) or equal chunks whose
    parameters, gradients and optimizer states fit in :data:`CPU_CHUNK_BYTES` (CPU only; when
    fewer than two candidates fit, no chunks)."""
    platform = (mesh.devices.flat[0] if mesh is not None else jax.devices()[0]).platform
    if mesh is not None or platform != "cpu":
        return None
    cache_key = (value_key(model), value_key(optimizer), num_seeds, num_candidates,
                 CPU_CHUNK_BYTES,
                 tuple((x.shape, str(x.dtype)) for x in jax.tree_util.tree_leaves(sh.params)))
    if cache_key not in _CHUNKS:           # one abstract evaluation per structure
        _CHUNKS[cache_key] = _chunk_for(model, optimizer, sh, num_seeds, num_candidates)
    return _CHUNKS[cache_key]


def _chunk_for(model, optimizer, sh, num_seeds, num_candidates) -> int | None:
    try:
        if model.init_fn is not None:
            params = jax.eval_shape(lambda k: model.initialize(k)[0], sh.key)
        else:
            params = sh.params
        state = jax.eval_shape(lambda p: optimizer.build(sh.optimizer, jnp.float32(1.0)).init(p),
                               params)
    except (TypeError, ValueError):       # an unusual optimizer factory: no cache blocking
        return None
    per = num_seeds * (2 * engine.nbytes(params) + engine.nbytes(state))
    fit = CPU_CHUNK_BYTES // max(per, 1)
    if fit >= num_candidates or fit < 2:
        # everything fits, or not even two candidates do: chunks would not stay in the cache
        # and would only serialise the candidates (measured: 8 candidates of a 1.1M-parameter
        # MLP one at a time take 4x as long as all at once)
        return None
    chunks = -(-num_candidates // fit)
    return -(-num_candidates // chunks)
