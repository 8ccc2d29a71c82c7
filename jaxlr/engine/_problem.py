"""The one problem description every entry point accepts, and the adapter that reads it.

A training problem is a model (how to initialise parameters and compute a loss), data and a batch
size. jaxlr accepts it in these forms, everywhere (``fit``, both finders, ``find``, sweeps):

* a :class:`Task` (the built-in tasks are ``Task`` objects; your own can be too);
* ``(init_fn | params, loss_fn, data)``: an initialiser ``init(key) -> params`` (or a parameter
  pytree) and a loss;
* ``(flax.nnx.Module, loss_fn, data)``: its ``nnx.Param`` variables are trained, its other
  variables (BatchNorm statistics, ...) are the model state, ``loss_fn(model, batch)``;
* flax linen: an ``init_fn`` returning ``module.init(key, x)["params"]``, or returning
  :class:`Variables` (``Variables.from_linen(module.init(key, x))``) when the module has other
  collections (``batch_stats``).

**The loss convention** (one for the whole library):

* ``loss_fn(params, batch) -> loss`` (a float scalar), or ``-> (loss, aux)`` with
  ``has_aux=True`` (a dict ``aux`` of scalars is recorded with the step metrics);
* with a model state (``Variables.model_state``, ``TrainState.model_state``, nnx non-Param
  variables): ``loss_fn(params, model_state, batch) -> (loss, new_model_state)``, or
  ``-> (loss, (new_model_state, aux))`` with ``has_aux=True``;
* for an nnx module: ``loss_fn(model, batch) -> loss`` (or ``(loss, aux)``); state updates made
  during the call (BatchNorm) are kept;
* if ``loss_fn`` takes a keyword argument ``key`` it receives a per-update PRNG key
  ``fold_in(run_key, step)`` (dropout): the same update of the same run always gets the same key.

Evaluation functions (``eval_fn``, a Task's ``metrics``) follow the same convention and may return
a dict of scalars; without one, the loss is the validation metric.

Everything here is host-side: :func:`as_problem` returns a :class:`Problem` whose ``model`` is
static structure compared *by value* (see :mod:`jaxlr._utils._static`), so a Task built twice,
a fresh lambda loss or a fresh ``functools.partial`` reuse the compiled programs.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr._utils._arrays import device_array, seed_key
from jaxlr._utils._static import ByValue
from jaxlr._utils._validation import check_steps, fail, shorten

__all__ = ["Task", "Variables", "Model", "Problem", "as_problem", "trained_module"]

_F32 = np.dtype("float32")


class Variables(NamedTuple):
    """What an ``init`` function may return when the model has non-trained variables.

    Attributes:
      params: the trained parameters (a pytree of floating-point arrays).
      model_state: non-trained variables (e.g. flax linen ``batch_stats``); the loss then takes
        ``(params, model_state, batch)`` and returns ``(loss, new_model_state)``.
    """

    params: Any
    model_state: Any = None

    @classmethod
    def from_linen(cls, variables: Mapping[str, Any], trained: str = "params") -> "Variables":
        """Splits flax linen ``variables`` into the trained collection and the rest.

        Examples:
          >>> v = Variables.from_linen({"params": {"w": 1.0}, "batch_stats": {"m": 0.0}})
          >>> v.params, v.model_state
          ({'w': 1.0}, {'batch_stats': {'m': 0.0}})
        """
        if not isinstance(variables, Mapping) or trained not in variables:
            fail("Variables.from_linen", f"`variables` must be a mapping with a {trained!r} "
                 f"collection (module.init(key, x)); got {shorten(variables)}.",
                 error=TypeError)
        rest = {k: v for k, v in variables.items() if k != trained}
        return cls(variables[trained], rest or None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Task:
    """A training problem: data, a model and a loss (the built-in tasks are Tasks).

    Attributes:
      init: ``init(key) -> params`` (or -> :class:`Variables`).
      loss: the loss, see the module docstring for the convention.
      train: training data, a pytree of arrays with a leading example axis (``(x, y)``).
      valid: validation data of the same structure, or ``None``.
      metrics: ``metrics(params, batch) -> dict`` of scalars (``"loss"`` first), or ``None``
        (then the loss is the validation metric).
      batch_size: default mini-batch size.
      name: a short name (``"digits-mlp"``): titles of plots, results files.
      description: one line for tables.
      apply: ``apply(params, x) -> outputs`` when meaningful (natural-gradient methods).
      kind: ``"classification"``, ``"regression"``, ``"language-model"`` or ``"custom"``.
      default_lr: a rate that trains the task reasonably with Adam (a starting point).
      steps: a training horizon long enough to fit the task at ``default_lr``.
      has_aux: ``loss`` returns ``(loss, aux)``.
    """

    init: Callable[[jax.Array], Any]
    loss: Callable[..., Any]
    train: Any
    valid: Any = None
    metrics: Callable[..., Any] | None = None
    batch_size: int = 64
    name: str = "task"
    description: str = ""
    apply: Callable[..., Any] | None = None
    kind: str = "custom"
    default_lr: float = 1e-3
    steps: int = 500
    has_aux: bool = False

    @property
    def num_train(self) -> int:
        return _num_examples(self.train)

    @property
    def num_valid(self) -> int:
        return 0 if self.valid is None else _num_examples(self.valid)

    def train_batches(self) -> Any:
        """The training split as device arrays."""
        return jax.tree_util.tree_map(device_array, self.train)

    def valid_batch(self) -> Any:
        """The validation split as one device batch."""
        return None if self.valid is None else jax.tree_util.tree_map(device_array, self.valid)

    def summary(self) -> dict[str, Any]:
        """A JSON-able one-row description (``jaxlr tasks``, results files)."""
        first = jax.tree_util.tree_leaves(self.train)[0]
        return {"name": self.name, "kind": self.kind, "description": self.description,
                "num_train": self.num_train, "num_valid": self.num_valid,
                "input_shape": list(np.shape(first)[1:]), "batch_size": self.batch_size,
                "default_lr": self.default_lr, "steps": self.steps}

    def __repr__(self) -> str:
        return (f"Task(name={self.name!r}, kind={self.kind!r}, num_train={self.num_train}, "
                f"num_valid={self.num_valid}, batch_size={self.batch_size})")


def _num_examples(data: Any) -> int:
    leaves = jax.tree_util.tree_leaves(data)
    return int(np.shape(leaves[0])[0]) if leaves and np.ndim(leaves[0]) else 0


# --------------------------------------------------------------------------------------------
# The normalised model: one loss signature inside the engine.


def _accepts_key(fn: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    p = sig.parameters.get("key")
    return p is not None and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)


def _nnx():
    from flax import nnx  # flax is a dependency; imported here to keep `import jaxlr` light

    return nnx


@dataclasses.dataclass(frozen=True, eq=False)
class Model(ByValue):
    """How to initialise, train and evaluate (static structure, compared by value).

    ``loss(params, model_state, batch, key) -> (loss, new_model_state, aux)`` and
    ``evaluate(params, model_state, batch) -> dict`` are the engine's only view of a model.
    """

    loss_fn: Callable[..., Any]
    eval_fn: Callable[..., Any] | None = None
    init_fn: Callable[[jax.Array], Any] | None = None
    has_aux: bool = False
    with_model_state: bool = False
    takes_key: bool = False
    graphdef: Any = None            # flax nnx: the static graph; params/state are nnx.State

    def __jaxlr_value_key__(self) -> Any:
        return (self.loss_fn, self.eval_fn, self.init_fn, self.has_aux, self.with_model_state,
                self.takes_key, self.graphdef)


    # -- init --------------------------------------------------------------------------------

    def initialize(self, key: jax.Array) -> tuple[Any, Any]:
        """``(params, model_state)`` from the init function.

        Inside a compiled program (a finder candidate, a sweep trial) the initial values pass an
        optimization barrier: XLA then cannot fuse the initialisation into the first updates,
        which would round them differently than a run initialised beforehand (``fit``).
        """
        out = self.init_fn(key)
        params, model_state = (out.params, out.model_state) if isinstance(out, Variables) else (
            out, None)
        if isinstance(key, jax.core.Tracer):
            params, model_state = jax.lax.optimization_barrier((params, model_state))
        return params, model_state

    # -- loss --------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], params: Any, model_state: Any, batch: Any,
              key: Any, takes_key: bool) -> tuple[Any, Any]:
        """``(output, new_model_state or None)`` of a user function."""
        kw = {"key": key} if takes_key else {}
        if self.graphdef is not None:
            nnx = _nnx()
            module = nnx.merge(self.graphdef, params, model_state)
            out = fn(module, batch, **kw)
            _, _, new_state = nnx.split(module, nnx.Param, ...)
            return out, new_state
        if self.with_model_state:
            return fn(params, model_state, batch, **kw), None
        return fn(params, batch, **kw), None

    def loss(self, params: Any, model_state: Any, batch: Any, key: Any = None):
        """``(loss float32 scalar, new_model_state, aux dict)``."""
        out, nnx_state = self._call(self.loss_fn, params, model_state, batch, key,
                                    self.takes_key)
        loss, ms, aux = _split_loss_output(out, self.has_aux,
                                           self.with_model_state and self.graphdef is None)
        if self.graphdef is not None:
            ms = nnx_state
        elif not self.with_model_state:
            ms = model_state
        return _check_loss("loss_fn", loss), ms, _aux_metrics(aux)

    def evaluate(self, params: Any, model_state: Any, batch: Any) -> dict[str, jax.Array]:
        """Validation metrics (float32 scalars); the loss under ``"loss"`` without eval_fn."""
        if self.eval_fn is None:
            loss, _, aux = self.loss(params, model_state, batch, None if not self.takes_key
                                     else jax.random.key(0))
            return {"loss": loss, **{k: v for k, v in aux.items() if jnp.ndim(v) == 0}}
        out, _ = self._call(self.eval_fn, params, model_state, batch, None, False)
        if self.with_model_state and self.graphdef is None and isinstance(out, tuple) and (
                len(out) == 2):
            out = out[0]                          # (value, new_model_state): the state is unused
        if isinstance(out, Mapping):
            return {str(k): jnp.asarray(v).astype(_F32) for k, v in out.items()}
        if isinstance(out, (tuple, list)):
            fail("eval_fn", f"`eval_fn` returned a {type(out).__name__}; expected a scalar or "
                 "a dict of scalars.", error=TypeError)
        return {"loss": _check_loss("eval_fn", out).astype(_F32)}


def _split_loss_output(out: Any, has_aux: bool, with_model_state: bool):
    fn = "loss_fn"
    if with_model_state:
        if not (isinstance(out, tuple) and len(out) == 2):
            fail(fn, "with a model state, `loss_fn(params, model_state, batch)` must return "
                 f"(loss, new_model_state); got {type(out).__name__}.", error=TypeError)
        loss, rest = out
        if has_aux:
            if not (isinstance(rest, tuple) and len(rest) == 2):
                fail(fn, "with a model state and has_aux=True, `loss_fn` must return "
                     "(loss, (new_model_state, aux)).", error=TypeError)
            return loss, rest[0], rest[1]
        return loss, rest, None
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            fail(fn, "with has_aux=True, `loss_fn` must return (loss, aux); got "
                 f"{type(out).__name__}.", error=TypeError)
        return out[0], None, out[1]
    if isinstance(out, (tuple, list)):
        fail(fn, f"`loss_fn` returned a {type(out).__name__} of {len(out)} items; a scalar "
             "loss is expected.", hint="If it returns (loss, aux), pass has_aux=True.",
             error=TypeError)
    return out, None, None


def _check_loss(fn: str, loss: Any) -> jax.Array:
    shape = jnp.shape(loss)
    if shape != ():
        fail(fn, f"`{fn}` must return a scalar; got an array of shape {shape}.",
             hint="Reduce it, e.g. with jnp.mean(...).")
    dtype = jnp.result_type(loss)
    if not jnp.issubdtype(dtype, jnp.floating):
        fail(fn, f"`{fn}` must return a floating-point scalar; got dtype {dtype}.",
             error=TypeError)
    return jnp.asarray(loss).astype(_F32)


def _aux_metrics(aux: Any) -> dict[str, jax.Array]:
    if aux is None:
        return {}
    if isinstance(aux, Mapping) and all(jnp.shape(v) == () for v in aux.values()):
        return {str(k): jnp.asarray(v) for k, v in aux.items()}
    return {"aux": aux}


# --------------------------------------------------------------------------------------------
# The adapter.


@dataclasses.dataclass
class Problem:
    """A resolved training problem: static :class:`Model` + arrays.

    Attributes:
      model: how to init / train / evaluate (static, compared by value).
      params, model_state: initial values when no init function is given (else ``None``).
      train: in-memory training data (a pytree of arrays, leading example axis) or, for ``fit``
        only, an iterable of batches.
      valid: a list of validation batches (pytrees), or ``None``.
      batch_size: examples per update (``None`` for a stream of batches).
      num_examples: examples in ``train`` (``None`` for a stream).
      name: a short description for titles and results.
    """

    model: Model
    params: Any
    model_state: Any
    train: Any
    valid: list[Any] | None
    batch_size: int | None
    num_examples: int | None
    name: str

    @property
    def in_memory(self) -> bool:
        return self.num_examples is not None


def _is_nnx_module(obj: Any) -> bool:
    try:
        return isinstance(obj, _nnx().Module)
    except ImportError:  # pragma: no cover - flax is a dependency
        return False


def _is_linen_module(obj: Any) -> bool:
    try:
        import flax.linen as nn
    except ImportError:  # pragma: no cover - flax is a dependency
        return False
    return isinstance(obj, nn.Module)


def is_in_memory(data: Any) -> bool:
    """A pytree of arrays (not a list, not an iterator): in-memory data."""
    if isinstance(data, list) or data is None or hasattr(data, "__next__"):
        return False
    leaves = jax.tree_util.tree_leaves(data)
    return bool(leaves) and all(isinstance(x, (np.ndarray, jax.Array)) for x in leaves)


def check_dataset(fn: str, data: Any, batch_size: int | None, *, name: str = "data") -> int:
    """Validates in-memory data (arrays sharing a leading axis, finite); returns its length."""
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        fail(fn, f"`{name}` must be a pytree of arrays with a leading example axis; got an "
             f"empty pytree {shorten(data)}.")
    for leaf in leaves:
        if not isinstance(leaf, (np.ndarray, jax.Array)):
            fail(fn, f"`{name}` must hold arrays; got a {type(leaf).__name__} "
                 f"({shorten(leaf)}).", hint="Load files yourself, e.g. "
                 "data=(np.load(...), ...), or pass an iterable of batches to fit.",
                 error=TypeError)
        dt = np.dtype(leaf.dtype) if not isinstance(leaf, jax.Array) else leaf.dtype
        if not (jnp.issubdtype(dt, jnp.number) or jnp.issubdtype(dt, jnp.bool_)):
            fail(fn, f"`{name}` must hold numeric arrays; got dtype {dt}.", error=TypeError)
    sizes = {int(np.shape(x)[0]) if np.ndim(x) else -1 for x in leaves}
    if -1 in sizes or len(sizes) != 1:
        shapes = [tuple(np.shape(x)) for x in leaves]
        fail(fn, f"every array in `{name}` must share the leading (example) axis; got shapes "
             f"{shorten(shapes)}.")
    n = sizes.pop()
    if n == 0:
        fail(fn, f"`{name}` has no examples (leading axis of length 0).",
             hint="Check how the data was loaded or split.")
    if batch_size is not None:
        check_steps(fn, batch_size=batch_size, minimum=1)
        if batch_size > n:
            fail(fn, f"`batch_size` must be <= the number of examples in `{name}` ({n}); got "
                 f"batch_size={batch_size}.", hint=f"Use batch_size={n} or fewer.")
    _check_finite(fn, name, leaves)
    return n


@jax.jit
def _count_nonfinite(x: jax.Array) -> jax.Array:
    return jnp.sum(~jnp.isfinite(x))


def _check_finite(fn: str, name: str, leaves: list[Any]) -> None:
    for i, leaf in enumerate(leaves):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            # host arrays on the host (no compilation, no transfer); device arrays in one
            # compiled reduction per shape
            bad = int(np.size(leaf) - np.count_nonzero(np.isfinite(leaf))) if isinstance(
                leaf, np.ndarray) else int(_count_nonfinite(leaf))
            if bad:
                fail(fn, f"`{name}` contains {bad} non-finite values (NaN or inf) in array "
                     f"{i} of shape {tuple(np.shape(leaf))}: training on it would fail and "
                     "blame the learning rate.", hint="Clean or impute the data first.")


def _valid_batches(fn: str, valid: Any) -> list[Any] | None:
    if valid is None:
        return None
    batches = list(valid) if isinstance(valid, list) else [valid]
    if not batches:
        fail(fn, "`valid_data` is an empty list.", hint="Pass None for no validation.")
    out = []
    for b in batches:
        if not is_in_memory(b):
            b = _as_arrays(fn, "valid_data", b)
        check_dataset(fn, b, None, name="valid_data")
        out.append(jax.tree_util.tree_map(device_array, b))
    return out


def _as_arrays(fn: str, name: str, data: Any) -> Any:
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        fail(fn, f"`{name}` must be arrays (a pytree of arrays with a leading example axis); "
             f"got the path {shorten(data)}.", hint="Load the file yourself, e.g. "
             "data=(np.load(path)['x'], np.load(path)['y']).", error=TypeError)
    try:
        return jax.tree_util.tree_map(np.asarray, data)
    except Exception as e:  # noqa: BLE001 - any conversion failure is the user's input
        fail(fn, f"`{name}` must be a pytree of arrays with a leading example axis; got "
             f"{type(data).__name__} ({shorten(str(e))}).", error=TypeError)


_MODEL_STATE: dict[Any, bool] = {}


def _returns_model_state(m: Model) -> bool:
    """Whether ``m``'s init returns Variables with a model state: known only by calling it
    abstractly (a trace), done once per model structure (models compare by value)."""
    if m not in _MODEL_STATE:
        if len(_MODEL_STATE) > 256:
            _MODEL_STATE.clear()
        _MODEL_STATE[m] = jax.eval_shape(lambda k: m.initialize(k)[1], seed_key(0)) is not None
    return _MODEL_STATE[m]


def as_problem(fn: str, model: Any, loss_fn: Callable[..., Any] | None = None,
               data: Any = None, *, valid_data: Any = None, batch_size: int | None = None,
               eval_fn: Callable[..., Any] | None = None, has_aux: bool | None = None,
               model_state: Any = None, allow_stream: bool = False) -> Problem:
    """Reads any accepted problem form (see the module docstring) into a :class:`Problem`.

    Every argument is checked here, before any compilation: data kinds, shapes, finiteness,
    the batch size, callables.
    """
    init = params = None
    nnx_graphdef = None
    name = "model"
    aux = bool(has_aux) if has_aux is not None else False
    if isinstance(model, Task):
        task = model
        loss_fn = task.loss if loss_fn is None else loss_fn
        eval_fn = task.metrics if eval_fn is None else eval_fn
        init = task.init
        data = task.train if data is None else data
        valid_data = task.valid if valid_data is None else valid_data
        batch_size = task.batch_size if batch_size is None else batch_size
        aux = task.has_aux if has_aux is None else aux
        name = task.name
    else:
        if loss_fn is None or not callable(loss_fn):
            fail(fn, f"`loss_fn` must be a function loss_fn(params, batch) -> scalar; got "
                 f"loss_fn={shorten(loss_fn)}.", hint="Pass a jaxlr Task as the first "
                 "argument, or (init_fn or params, loss_fn, data).", error=TypeError)
        if data is None:
            fail(fn, "`data` is required when the first argument is not a Task; pass a pytree "
                 "of arrays with a leading example axis, e.g. data=(x_train, y_train).",
                 error=TypeError)
        if _is_nnx_module(model):
            nnx = _nnx()
            nnx_graphdef, params, model_state = nnx.split(model, nnx.Param, ...)
            name = type(model).__name__
        elif _is_linen_module(model):
            fail(fn, "a flax linen Module holds no parameters; pass an init function "
                 "`lambda key: module.init(key, x)['params']` and a loss_fn(params, batch) "
                 "that calls `module.apply({'params': params}, ...)` (with other collections "
                 "such as batch_stats: return jaxlr.Variables.from_linen(module.init(key, x)) "
                 "and use loss_fn(params, model_state, batch)).", error=TypeError)
        elif callable(model) and not _is_pytree_params(model):
            init = model
            name = getattr(model, "__name__", type(model).__name__)
            if name == "<lambda>":
                name = "model"
        else:
            params = model
            if isinstance(params, Variables):
                params, model_state = params.params, params.model_state
            _check_params(fn, params)
            # host arrays copied: a state built from them may be donated, the caller keeps them
            params = jax.tree_util.tree_map(
                lambda x: device_array(x, copy=not isinstance(x, jax.Array)), params)
            name = "params"
    if eval_fn is not None and not callable(eval_fn):
        fail(fn, f"`eval_fn` must be callable; got eval_fn={shorten(eval_fn)}.",
             error=TypeError)
    with_ms = model_state is not None and nnx_graphdef is None
    m = Model(loss_fn=loss_fn, eval_fn=eval_fn, init_fn=init, has_aux=aux,
              with_model_state=with_ms, takes_key=_accepts_key(loss_fn),
              graphdef=nnx_graphdef)
    if init is not None and with_ms is False and _returns_model_state(m):
        m = dataclasses.replace(m, with_model_state=True)
    if is_in_memory(data):
        n = check_dataset(fn, data, batch_size if batch_size is not None else 1)
        if batch_size is None:
            batch_size = min(64, n)
        train = jax.tree_util.tree_map(device_array, data)
    elif allow_stream and data is not None and hasattr(data, "__iter__") and not isinstance(
            data, (str, bytes, Mapping)) and not (isinstance(data, tuple)):
        if batch_size is not None:
            fail(fn, f"`batch_size={batch_size}` applies to in-memory arrays; `data` is an "
                 f"iterable of batches ({type(data).__name__}).",
                 hint="Drop batch_size, or pass the arrays themselves.")
        n, train = None, data
    else:
        train = _as_arrays(fn, "data", data)
        n = check_dataset(fn, train, batch_size if batch_size is not None else 1)
        if batch_size is None:
            batch_size = min(64, n)
        train = jax.tree_util.tree_map(device_array, train)
    return Problem(model=m, params=params, model_state=model_state, train=train,
                   valid=_valid_batches(fn, valid_data), batch_size=batch_size,
                   num_examples=n, name=name)


def _is_pytree_params(obj: Any) -> bool:
    """A callable that is really a parameter pytree (e.g. an nnx State is not callable)."""
    return isinstance(obj, (dict, list, tuple)) or isinstance(obj, (np.ndarray, jax.Array))


def _check_params(fn: str, params: Any) -> None:
    leaves = jax.tree_util.tree_leaves_with_path(params)
    if not leaves:
        fail(fn, f"`model` must be a Task, an init function init(key) -> params, a pytree of "
             f"parameter arrays or a flax nnx Module; got {shorten(params)} (no arrays).",
             error=TypeError)
    for path, leaf in leaves:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None:
            if isinstance(leaf, float):
                continue
            fail(fn, f"`model` must be a Task, an init function, a parameter pytree or an nnx "
                 f"Module; params{jax.tree_util.keystr(path)} is a {type(leaf).__name__}.",
                 error=TypeError)
        elif not jnp.issubdtype(dtype, jnp.floating):
            fail(fn, f"parameters must be floating-point arrays; "
                 f"params{jax.tree_util.keystr(path) or '<root>'} has dtype {dtype}.",
                 hint="Keep integer buffers out of the trained parameters (model_state).",
                 error=TypeError)


def trained_module(module: Any, state: Any) -> Any:
    """The flax nnx ``module`` with the parameters (and model state) of a trained ``state``.

    ``fit`` / the finders train an nnx module's ``nnx.Param`` variables as ``state.params`` and
    its other variables as ``state.model_state``; this writes both back into ``module`` (in
    place, as ``nnx.update`` does) and returns it.

    Examples:
      >>> import jax.numpy as jnp, jaxlr
      >>> from flax import nnx
      >>> m = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
      >>> x, y = jnp.ones((8, 2)), jnp.zeros((8, 1))
      >>> loss = lambda model, b: jnp.mean((model(b[0]) - b[1]) ** 2)
      >>> state, _ = jaxlr.fit(loss, jaxlr.sgd(0.1), m, (x, y), steps=20, batch_size=8,
      ...                      key=jax.random.key(0), progress=False)  # doctest: +SKIP
    """
    nnx = _nnx()
    if not isinstance(module, nnx.Module):
        fail("trained_module", f"`module` must be a flax nnx Module; got "
             f"{type(module).__name__}.", error=TypeError)
    nnx.update(module, state.params)
    if getattr(state, "model_state", None) is not None:
        nnx.update(module, state.model_state)
    return module
