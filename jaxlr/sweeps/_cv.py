"""k-fold cross-validation vectorised over folds, selection and refit.

The tuning process of the seeds: a search space, a scoring metric, a strategy, evaluation with
cross-validation, selection of a configuration (optionally by the one-standard-error rule), and a
final model retrained on the whole training set. Folds are equal-sized index sets (the masks of
:func:`kfold` say which examples each fold trains and validates on), so every fold of every trial
has the same shapes and a sweep with ``folds=k`` is one program ``vmap(trials) x vmap(folds)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr.engine._data import take
from jaxlr._utils._validation import check_steps, fail, shorten

__all__ = ["Folds", "RefitResult", "kfold", "refit", "select_trial"]


class Folds(NamedTuple):
    """Equal-size k-fold split of ``num_examples`` examples.

    ``train_idx`` int32 ``[k, n - m]``, ``valid_idx`` int32 ``[k, m]`` with ``m = n // k``;
    ``valid_mask`` bool ``[k, n]`` (``train_mask = ~valid_mask``). The ``n - k*m`` leftover
    examples (when ``k`` does not divide ``n``) are used for training by every fold.
    """

    train_idx: jax.Array
    valid_idx: jax.Array
    valid_mask: jax.Array

    @property
    def train_mask(self) -> jax.Array:
        return ~self.valid_mask


def kfold(num_examples: int, folds: int, *, key: jax.Array | None = None) -> Folds:
    """Equal-size k-fold index sets (shuffled with ``key``; in order when ``key`` is None).

    Args:
      num_examples: number of training examples ``n``.
      folds: ``k``, between 2 and ``n``.
      key: PRNG key for the shuffle.

    Raises:
      ValueError: when ``folds < 2`` or ``folds > num_examples``.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> f = kfold(10, 5)
      >>> f.valid_idx.tolist()[0], f.train_idx.shape
      ([0, 1], (5, 8))
      >>> bool(f.valid_mask.sum(0).max() == 1)
      True
    """
    check_steps("kfold", num_examples=num_examples, minimum=1)
    check_steps("kfold", folds=folds, minimum=2)
    if folds > num_examples:
        fail("kfold", f"`folds` must be <= the number of examples ({num_examples}); got "
             f"folds={folds}.", hint=f"Use folds between 2 and {num_examples}.")
    n, k = int(num_examples), int(folds)
    m = n // k
    if key is None:
        perm = np.arange(n)
    else:  # host-side setup: a numpy generator seeded by the key's bits (no compilation)
        bits = np.asarray(jax.random.key_data(key) if jnp.issubdtype(
            jnp.asarray(key).dtype, jax.dtypes.prng_key) else key, np.uint32).ravel()
        perm = np.random.default_rng([int(b) for b in bits]).permutation(n)
    valid = np.stack([perm[f * m:(f + 1) * m] for f in range(k)])
    mask = np.zeros((k, n), bool)
    for f in range(k):
        mask[f, valid[f]] = True
    train = np.stack([perm[~np.isin(perm, valid[f])] for f in range(k)])
    return Folds(jnp.asarray(train, jnp.int32), jnp.asarray(valid, jnp.int32),
                 jnp.asarray(mask))


def cv_train_fn(spec: Any, folds: int, *, key: jax.Array) -> tuple[Callable, Any]:
    """Per-trial function that trains on each fold (vmapped) and returns fold means / stderr.

    Returns ``(train_fn, data)``: ``train_fn(hparams, key, data)`` takes the training arrays
    and the fold indices as (traced) arguments.

    Metrics: ``<name>`` (mean over folds), ``<name>_stderr`` (standard error,
    ``std(ddof=1)/sqrt(k)``); curves: the fold-mean training loss, and ``fold_<name>`` (the
    per-fold values, moved to :attr:`SweepResult.fold_metrics` by ``sweep_task``).
    """
    n = int(jax.tree_util.tree_leaves(spec.train)[0].shape[0])
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)):
        fail("sweep_task", f"`folds` must be an int; got folds={shorten(folds)}.", error=TypeError)
    if folds < 2 or folds > n:
        fail("sweep_task", f"`folds` must be between 2 and the number of training examples "
             f"({n}); got folds={folds}.")
    split = kfold(n, folds, key=key)
    n_train = int(split.train_idx.shape[1])
    if spec.batch_size > n_train:
        fail("sweep_task", f"with folds={folds} each fold trains on {n_train} examples, fewer "
             f"than batch_size={spec.batch_size}.", hint="Use fewer folds or a smaller batch.")

    from jaxlr.sweeps._sweep import with_data

    def train_fn(hparams: Mapping[str, Any], key: jax.Array, data: Any) -> dict[str, Any]:
        train, train_idx, valid_idx = data
        s = with_data(spec, (train, None))

        def one(tr, va):
            return s.train_fn(hparams, key, train_idx=tr, eval_data=take(train, va))

        out = jax.vmap(one)(train_idx, valid_idx)
        res: dict[str, Any] = {}
        curves = {"train_loss": jnp.mean(out["curves"]["train_loss"], axis=0)}
        for name, v in out.items():
            if name == "curves":
                continue
            if name == "diverged":
                res[name] = jnp.any(v)
            elif name == "diverged_step":
                res[name] = jnp.max(v)
            else:
                v = v.astype(jnp.float32)
                res[name] = jnp.mean(v)
                res[f"{name}_stderr"] = jnp.std(v, ddof=1) / jnp.sqrt(jnp.float32(folds))
                curves[f"fold_{name}"] = v
        res["curves"] = curves
        return res

    return train_fn, (spec.train, split.train_idx, split.valid_idx)


@dataclasses.dataclass
class RefitResult:
    """A configuration retrained on the whole training set.

    Attributes:
      params, opt_state: the final training state.
      metrics: final metrics (``valid_*`` on the held-out validation split, ``train_loss``).
      curve: per-step training loss ``[steps]``.
      config: the hyperparameters used.
      diverged: whether training diverged (the state is then the last finite one).
    """

    params: Any
    opt_state: Any
    metrics: dict
    curve: np.ndarray
    config: dict
    diverged: bool


def _as_hparams(config: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in config.items():
        if isinstance(v, bool) or isinstance(v, str):
            out[k] = v
        elif k in ("optimizer", "schedule", "steps", "batch_size"):
            out[k] = v
        elif isinstance(v, (int, np.integer)):
            out[k] = jnp.asarray(v, jnp.int32)
        elif isinstance(v, (float, np.floating)):
            out[k] = jnp.asarray(v, jnp.float32)
        else:
            out[k] = v
    return out


def refit(task: Any, config: Mapping[str, Any], *, key: jax.Array, steps: int | None = None,
          optimizer: Any = "adam", schedule: Any = None,
          batch_size: int | None = None) -> RefitResult:
    """Trains ``config`` on the whole training set and returns the final state.

    With the same ``key`` as the sweep (common random numbers) and no cross-validation, the
    refit reproduces the sweep's trial exactly; after a cross-validated sweep it trains on all
    folds' data together.

    Args:
      task: a Task, task name, ``(init, loss, train[, valid[, metrics]])`` or the ``spec`` of a
        :func:`jaxlr.sweep_task` result (then ``optimizer``/``schedule`` come from it).
      config: hyperparameters, e.g. ``result.best_config``.
      key: PRNG key (init and batches).
      steps: training steps (default: the sweep's / task's).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> x = jnp.linspace(-1.0, 1.0, 32)[:, None]
      >>> task = (lambda key: {"w": jnp.zeros(1)},                      # init
      ...         lambda p, b: jnp.mean((b[0] @ p["w"] - 2.0 * b[1]) ** 2),  # loss
      ...         (x, x[:, 0]))                                            # training data
      >>> out = jaxlr.refit(task, {"learning_rate": 0.1}, key=jax.random.key(0), steps=20,
      ...                   batch_size=8)
      >>> out.curve.shape, out.diverged, bool(out.curve[-1] < 0.1 * out.curve[0])
      ((20,), False, True)
    """
    from jaxlr.sweeps._sweep import TaskSpec, resolve_task
    if not isinstance(config, Mapping):
        fail("refit", f"`config` must be a dict of hyperparameters; got {shorten(config)}.",
             error=TypeError)
    if isinstance(task, TaskSpec):
        spec = task
        if steps is not None:
            spec = dataclasses.replace(spec, steps=int(steps))
            check_steps("refit", steps=steps, minimum=1)
    else:
        spec = resolve_task("refit", task, optimizer=optimizer, schedule=schedule, steps=steps,
                            batch_size=batch_size)
    hp = _as_hparams(config)
    static = {k: v for k, v in hp.items() if not isinstance(v, jax.Array)}
    dyn = {k: v for k, v in hp.items() if isinstance(v, jax.Array)}

    from jaxlr.sweeps._sweep import data_of, with_data

    def run(dyn, key, data):
        spec_ = with_data(spec, data)
        hparams = {**dyn, **static}
        steps_ = spec_.steps_of(hparams)
        carry = spec_.init_carry(hparams, key)
        carry, losses = spec_.advance(carry, hparams, steps_)
        metrics = {}
        if spec_.valid is not None:
            metrics.update(spec_.evaluate(carry.params, spec_.valid))
        n = int(jax.tree_util.tree_leaves(spec_.train)[0].shape[0])
        window = max(1, min(steps_, n // int(hparams.get("batch_size", spec_.batch_size))))
        metrics["train_loss"] = jnp.mean(losses[-window:])
        return carry, metrics, losses

    carry, metrics, losses = jax.jit(run)(dyn, key, data_of(spec))
    return RefitResult(params=carry.params, opt_state=carry.opt_state,
                       metrics={k: float(v) for k, v in metrics.items()},
                       curve=np.asarray(losses), config=dict(config),
                       diverged=bool(carry.diverged))


def select_trial(result: Any, rule: str = "best", *, prefer: Any = None,
                 prefer_mode: str = "max") -> dict[str, Any]:
    """The selected configuration of a sweep (``rule="best"`` or ``"one_se"``); see
    :meth:`SweepResult.select`.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> import numpy as np
      >>> from jaxlr import SweepResult
      >>> r = SweepResult(hparams={"wd": np.array([0.0, 1e-3, 1e-2])},
      ...                 metrics={"loss": np.array([0.30, 0.31, 0.40]),
      ...                          "loss_stderr": np.array([0.02, 0.02, 0.02])},
      ...                 curves={}, diverged=np.zeros(3, bool), metric="loss")
      >>> select_trial(r)["wd"], select_trial(r, "one_se", prefer="wd")["wd"]
      (0.0, 0.001)
    """
    return result.config(result.select(rule, prefer=prefer, prefer_mode=prefer_mode))
