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

from jaxlr._utils._validation import fail

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
      default_lr: a learning rate that trains this task well with Adam at ``batch_size`` (a
        starting point for examples and ``jaxlr compare``; the finder exists to do better).
      steps: a training horizon (optimizer updates) long enough to fit the task at
        ``default_lr``; examples and the CLI use it as their default ``--steps``.
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
    default_lr: float = 1e-3
    steps: int = 500

    @property
    def num_train(self) -> int:
        return int(self.train[0].shape[0])

    def train_batches(self) -> Batch:
        """The training split as device arrays."""
        return jnp.asarray(self.train[0]), jnp.asarray(self.train[1])

    def valid_batch(self) -> Batch:
        """The validation split as one device batch."""
        return jnp.asarray(self.valid[0]), jnp.asarray(self.valid[1])

    @property
    def num_valid(self) -> int:
        return int(self.valid[0].shape[0])

    def summary(self) -> dict[str, Any]:
        """A JSON-able one-row description (used by ``jaxlr tasks`` tables and results files)."""
        return {"name": self.name, "kind": self.kind, "description": self.description,
                "num_train": self.num_train, "num_valid": self.num_valid,
                "input_shape": list(self.train[0].shape[1:]), "batch_size": self.batch_size,
                "default_lr": self.default_lr, "steps": self.steps}


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


def _regression(apply):
    def loss(params, batch):
        x, y = batch
        return jnp.mean(jnp.square(apply(params, x) - y))

    def metrics(params, batch):
        mse = loss(params, batch)
        return {"loss": mse, "rmse": jnp.sqrt(mse)}

    return loss, metrics


def _conv(x: jax.Array, layer: dict[str, jax.Array], stride: int) -> jax.Array:
    """A 'SAME' 2-D convolution (NHWC input, HWIO kernel) as patches @ kernel.

    ``jax.lax.conv_general_dilated_patches`` extracts the patches (a convolution with a fixed
    identity kernel) and a matmul applies the weights. Equal to ``jax.lax.conv_general_dilated``
    to float32 rounding, but it stays fast under ``jax.vmap`` over the *parameters* (parallel
    finders and sweeps): a vmapped kernel becomes a batched matmul, where a vmapped convolution
    kernel becomes a grouped convolution that XLA's CPU backend runs ~30x slower.
    """
    kh, kw, c_in, c_out = layer["w"].shape
    patches = jax.lax.conv_general_dilated_patches(
        x, (kh, kw), (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    # Patch features are ordered (c_in, kh, kw).
    w = jnp.reshape(jnp.transpose(layer["w"], (2, 0, 1, 3)), (c_in * kh * kw, c_out))
    return patches @ w + layer["b"]


def cnn_init(key: jax.Array, channels: tuple[int, int] = (8, 16)) -> dict[str, Any]:
    """Parameters of the digits CNN (see :func:`cnn_apply`).

    PyTorch's default init for every tensor (uniform +-1/sqrt(fan_in)), drawn as ONE uniform
    vector that is cut into the tensors: one random-bits call keeps compile time low when a
    finder or sweep vmaps ``init`` over seeds.
    """
    c1, c2 = channels
    shapes = {"conv1": ((3, 3, 1, c1), 9), "conv2": ((3, 3, c1, c2), 9 * c1),
              "dense": ((4 * 4 * c2, 10), 16 * c2)}
    sizes = [int(np.prod(shape)) + shape[-1] for shape, _ in shapes.values()]
    u = jax.random.uniform(key, (sum(sizes),), jnp.float32, -1.0, 1.0)
    params, offset = {}, 0
    for (name, (shape, fan_in)), size in zip(shapes.items(), sizes):
        bound = np.float32(1.0 / np.sqrt(fan_in))
        flat = u[offset:offset + size] * bound
        n_w = size - shape[-1]
        params[name] = {"w": jnp.reshape(flat[:n_w], shape), "b": flat[n_w:]}
        offset += size
    return params


def cnn_apply(params: dict[str, Any], x: jax.Array) -> jax.Array:
    """Logits of the digits CNN: conv3x3 -> ReLU -> conv3x3/2 -> ReLU -> dense.

    ``x`` is ``[batch, 8, 8, 1]`` (NHWC) or flat ``[batch, 64]``.
    """
    h = jnp.reshape(x, (x.shape[0], 8, 8, 1))
    h = jax.nn.relu(_conv(h, params["conv1"], 1))
    h = jax.nn.relu(_conv(h, params["conv2"], 2))
    h = jnp.reshape(h, (h.shape[0], -1))
    return h @ params["dense"]["w"] + params["dense"]["b"]


def digits_cnn(*, channels: tuple[int, int] = (8, 16), batch_size: int = 64,
               valid_fraction: float = 0.2, seed: int = 0) -> Task:
    """The 8x8 digits with a small CNN (two 3x3 convolutions, the second with stride 2).

    Same images and split as :func:`digits_mlp` (same ``seed``), shaped ``[N, 8, 8, 1]`` (NHWC).
    Parameters are a plain dict pytree (``conv1``, ``conv2``: HWIO kernels; ``dense``). The
    convolutions use ``jax.lax.conv_general_dilated_patches`` + a matmul, which equals
    ``jax.lax.conv_general_dilated`` and stays fast when a finder or sweep vmaps over parameters.

    Examples:
      >>> from jaxlr.tasks import get_task
      >>> task = get_task("digits-cnn")
      >>> task.train[0].shape[1:]
      (8, 8, 1)
      >>> task.apply(task.init(jax.random.key(0)), task.valid_batch()[0][:2]).shape
      (2, 10)
    """
    x, y = _load_digits()
    x = x.reshape(-1, 8, 8, 1)
    train, valid = _split(x, y, valid_fraction, seed)
    loss, metrics = _classification(cnn_apply)
    c1, c2 = channels
    return Task(
        name="digits-cnn",
        description=f"sklearn digits (8x8, 10 classes), CNN conv{c1}-conv{c2}/2-dense10, "
                    "cross-entropy",
        init=lambda key: cnn_init(key, channels),
        apply=cnn_apply, loss=loss, metrics=metrics, train=train, valid=valid,
        batch_size=batch_size, kind="classification", default_lr=3e-3, steps=500)


def _squeeze_apply(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    return mlp_apply(params, x)[:, 0]


def _standardise(train, valid):
    """Standardises features and target with the *training* split's mean and std."""
    (xt, yt), (xv, yv) = train, valid
    xm, xs = xt.mean(0), xt.std(0)
    ym, ys = yt.mean(), yt.std()
    f = lambda x, y: (((x - xm) / xs).astype(np.float32), ((y - ym) / ys).astype(np.float32))
    return f(xt, yt), f(xv, yv)


def diabetes(*, hidden: int = 32, batch_size: int = 32, valid_fraction: float = 0.2,
             seed: int = 0) -> Task:
    """scikit-learn's bundled diabetes regression set with a 10-hidden-1 ReLU MLP.

    442 patients, 10 features, target a disease-progression score. Features and target are
    standardised with the training split's mean and standard deviation, so the loss (mean squared
    error) of predicting the mean is about 1.

    Examples:
      >>> from jaxlr.tasks import get_task
      >>> task = get_task("diabetes")
      >>> task.kind, task.train[0].shape[1]
      ('regression', 10)
    """
    try:
        from sklearn.datasets import load_diabetes
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "jaxlr.tasks: the diabetes task needs scikit-learn (its bundled data); "
            "install it with `pip install 'jaxlr[tasks]'`.") from e
    d = load_diabetes(scaled=False)
    train, valid = _standardise(*_split(d.data, d.target, valid_fraction, seed))
    sizes = (10, hidden, 1)
    loss, metrics = _regression(_squeeze_apply)
    return Task(
        name="diabetes",
        description=f"sklearn diabetes (442x10, standardised), MLP 10-{hidden}-1, squared error",
        init=lambda key: mlp_init(key, sizes),
        apply=_squeeze_apply, loss=loss, metrics=metrics, train=train, valid=valid,
        batch_size=batch_size, kind="regression", default_lr=1e-3, steps=500)


def teacher_student(*, dim: int = 16, teacher_hidden: int = 32, hidden: int = 64,
                    num_train: int = 2048, num_valid: int = 512, noise: float = 0.1,
                    batch_size: int = 64, seed: int = 0) -> Task:
    """Generated teacher-student regression: a student MLP learns a fixed random tanh network.

    Inputs are standard normal in ``dim`` dimensions; the teacher is a ``dim-teacher_hidden-1``
    tanh network with Gaussian weights (variance 1/fan_in); its outputs are scaled to unit
    variance and Gaussian noise of standard deviation ``noise`` is added, so the best achievable
    mean squared error is about ``noise**2``. Everything is drawn from numpy's generator with
    ``seed``: deterministic, no download. The student is a ``dim-hidden-1`` ReLU MLP.

    Examples:
      >>> from jaxlr.tasks import get_task
      >>> task = get_task("teacher-student")
      >>> task.num_train, task.num_valid, task.kind
      (2048, 512, 'regression')
    """
    rng = np.random.default_rng(seed)
    w1 = rng.normal(size=(dim, teacher_hidden)) / np.sqrt(dim)
    b1 = rng.normal(size=(teacher_hidden,)) * 0.5
    w2 = rng.normal(size=(teacher_hidden,)) / np.sqrt(teacher_hidden)
    n = num_train + num_valid
    x = rng.normal(size=(n, dim))
    clean = np.tanh(x @ w1 + b1) @ w2
    clean = (clean - clean.mean()) / clean.std()
    y = clean + noise * rng.normal(size=(n,))
    x, y = x.astype(np.float32), y.astype(np.float32)
    train, valid = (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:])
    sizes = (dim, hidden, 1)
    loss, metrics = _regression(_squeeze_apply)
    return Task(
        name="teacher-student",
        description=f"generated regression: MLP {dim}-{hidden}-1 fits a random tanh teacher "
                    f"(noise {noise})",
        init=lambda key: mlp_init(key, sizes),
        apply=_squeeze_apply, loss=loss, metrics=metrics, train=train, valid=valid,
        batch_size=batch_size, kind="regression", default_lr=3e-3, steps=500)


_REGISTRY: dict[str, Callable[..., Task]] = {
    "digits-mlp": digits_mlp,
    "digits-cnn": digits_cnn,
    "diabetes": diabetes,
    "teacher-student": teacher_student,
}


def register_task(name: str, factory: Callable[..., Task]) -> None:
    """Adds a task factory to the registry used by ``get_task`` and the CLI."""
    _REGISTRY[name] = factory


def list_tasks() -> list[str]:
    """Names of the built-in tasks."""
    return sorted(_REGISTRY)


def get_task(name: str = "digits-mlp", **kwargs: Any) -> Task:
    """Builds a built-in task by name (see :func:`list_tasks`).

    Keyword arguments go to the task's factory (``seed``, ``batch_size``, sizes, ...).

    Examples:
      >>> from jaxlr.tasks import get_task, list_tasks
      >>> list_tasks()
      ['diabetes', 'digits-cnn', 'digits-mlp', 'teacher-student', 'transformer', 'transformer-tiny']
      >>> task = get_task("digits-mlp")
      >>> task.kind, task.batch_size
      ('classification', 64)
    """
    if name not in _REGISTRY:
        fail("get_task", f"unknown task {name!r}; the built-in tasks are "
             f"{', '.join(list_tasks())}.")
    return _REGISTRY[name](**kwargs)
