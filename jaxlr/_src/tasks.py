"""Small built-in tasks whose data ships inside an installed package (no download).

A :class:`Task` bundles data, a model and a loss so that the CLI, the examples, the finders, the
sweeps and the benchmarks all run on the same real problems. Parameters are plain pytrees (dicts of
arrays) so that any jaxlr optimizer, finder or sweep works on them unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr._src.validation import fail

Batch = tuple[jax.Array, jax.Array]


@dataclasses.dataclass(frozen=True)
class Task:
    """A small supervised problem: data, model, loss and metrics.

    Attributes:
      name: registry name (``"digits-mlp"``).
      description: one line for ``--help`` and tables.
      init: ``init(key) -> params`` (a pytree of float32 arrays).
      apply: ``apply(params, x) -> outputs`` (logits for classification, predictions for
        regression); used by natural-gradient methods that need the model output.
      loss: ``loss(params, batch) -> scalar`` mean loss over the batch ``(x, y)``.
      metrics: ``metrics(params, batch) -> dict`` with ``"loss"`` and, for classification,
        ``"accuracy"``.
      train: ``(x, y)`` numpy arrays of the training split.
      valid: ``(x, y)`` numpy arrays of the validation split.
      batch_size: default mini-batch size.
      kind: ``"classification"`` or ``"regression"`` (which likelihood the loss is).
    """

    name: str
    description: str
    init: Callable[[jax.Array], Any]
    apply: Callable[[Any, jax.Array], jax.Array]
    loss: Callable[[Any, Batch], jax.Array]
    metrics: Callable[[Any, Batch], Mapping[str, jax.Array]]
    train: tuple[np.ndarray, np.ndarray]
    valid: tuple[np.ndarray, np.ndarray]
    batch_size: int
    kind: str

    @property
    def num_train(self) -> int:
        return int(self.train[0].shape[0])

    def train_batches(self) -> Batch:
        """The training split as device arrays."""
        return jnp.asarray(self.train[0]), jnp.asarray(self.train[1])

    def valid_batch(self) -> Batch:
        """The validation split as one device batch."""
        return jnp.asarray(self.valid[0]), jnp.asarray(self.valid[1])


def _split(x: np.ndarray, y: np.ndarray, valid_fraction: float, seed: int):
    perm = np.random.default_rng(seed).permutation(x.shape[0])
    n_valid = int(round(valid_fraction * x.shape[0]))
    va, tr = perm[:n_valid], perm[n_valid:]
    return (x[tr], y[tr]), (x[va], y[va])


def _dense_init(key: jax.Array, fan_in: int, fan_out: int) -> dict[str, jax.Array]:
    """PyTorch ``nn.Linear`` default init (uniform +-1/sqrt(fan_in)) for parity with torch runs."""
    kw, kb = jax.random.split(key)
    bound = 1.0 / np.sqrt(fan_in)
    return {
        "w": jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound),
        "b": jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound),
    }


def mlp_init(key: jax.Array, sizes: tuple[int, ...]) -> list[dict[str, jax.Array]]:
    keys = jax.random.split(key, len(sizes) - 1)
    return [_dense_init(k, a, b) for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def mlp_apply(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    h = x
    for i, layer in enumerate(params):
        h = h @ layer["w"] + layer["b"]
        if i < len(params) - 1:
            h = jax.nn.relu(h)
    return h


def _classification(apply):
    def loss(params, batch):
        x, y = batch
        logits = apply(params, x)
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None].astype(jnp.int32), axis=1))

    def metrics(params, batch):
        x, y = batch
        logits = apply(params, x)
        logp = jax.nn.log_softmax(logits)
        nll = -jnp.mean(jnp.take_along_axis(logp, y[:, None].astype(jnp.int32), axis=1))
        acc = jnp.mean((jnp.argmax(logits, axis=-1) == y).astype(jnp.float32))
        return {"loss": nll, "accuracy": acc}

    return loss, metrics


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "jaxlr.tasks: the digits tasks need scikit-learn (its bundled digits data); "
            "install it with `pip install 'jaxlr[tasks]'`.") from e
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int32)
    return x, y


def digits_mlp(*, hidden: int = 128, batch_size: int = 64, valid_fraction: float = 0.2,
               seed: int = 0) -> Task:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes) with a 64-hidden-10 ReLU MLP."""
    x, y = _load_digits()
    train, valid = _split(x, y, valid_fraction, seed)
    sizes = (64, hidden, 10)
    apply = mlp_apply
    loss, metrics = _classification(apply)
    return Task(
        name="digits-mlp",
        description=f"sklearn digits (8x8, 10 classes), MLP 64-{hidden}-10, cross-entropy",
        init=lambda key: mlp_init(key, sizes),
        apply=apply, loss=loss, metrics=metrics, train=train, valid=valid,
        batch_size=batch_size, kind="classification")


_REGISTRY: dict[str, Callable[..., Task]] = {
    "digits-mlp": digits_mlp,
}


def register_task(name: str, factory: Callable[..., Task]) -> None:
    """Adds a task factory to the registry used by ``get_task`` and the CLI."""
    _REGISTRY[name] = factory


def list_tasks() -> list[str]:
    """Names of the built-in tasks."""
    return sorted(_REGISTRY)


def get_task(name: str = "digits-mlp", **kwargs: Any) -> Task:
    """Builds a built-in task by name (see :func:`list_tasks`)."""
    if name not in _REGISTRY:
        fail("get_task", f"unknown task {name!r}; the built-in tasks are "
             f"{', '.join(list_tasks())}.")
    return _REGISTRY[name](**kwargs)
