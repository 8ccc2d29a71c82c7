"""Search spaces for sweeps: distributions over hyperparameters, grids and quasi-random designs.

A *space* is a plain ``dict`` mapping a hyperparameter name to a dimension built by
:func:`loguniform`, :func:`uniform`, :func:`int_uniform` or :func:`choice`, or to a constant
(held fixed for every trial). Sampling maps points of the unit hypercube to values, so random,
Halton and Sobol designs share one code path; random sampling is a pure function of an explicit
``key`` and runs inside ``jax.jit``.

Dimensions whose values change the *structure* of the compiled program (an optimizer name, a
schedule family, a number of steps) are *static*: ``choice(["adam", "sgd"])`` is static
automatically (non-numeric values), ``choice([100, 200], static=True)`` marks a numeric one. A
sweep groups trials by their static values and compiles one program per group.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import math
import numbers
import re
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr._utils._validation import (MAX_SPEC_LENGTH, check_nesting, check_steps, fail,
                                      is_traced, shorten)

__all__ = [
    "Choice", "Grid", "IntUniform", "LogUniform", "Uniform", "choice", "grid", "int_uniform",
    "loguniform", "sample", "space_from_config", "uniform",
]

Space = Mapping[str, Any]


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT32_MAX = int(np.iinfo(np.int32).max)


def _check_range(fn: str, low: Any, high: Any, *, log: bool = False,
                 integer: bool = False) -> None:
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.integer, np.floating)):
            fail(fn, f"`{name}` must be a real number; got {name}={shorten(v)}.",
                 error=TypeError)
        try:
            finite = math.isfinite(float(v))
        except OverflowError:  # an int beyond any float, e.g. 10**400
            finite = False
        if not finite:
            fail(fn, f"`{name}` must be finite; got {name}={shorten(v)}.")
        if integer and float(v) != int(v):
            fail(fn, f"`{name}` must be an integer; got {name}={shorten(v)}.", error=TypeError)
        if integer and abs(int(v)) > _INT32_MAX:
            fail(fn, f"`{name}` must be an int32, |{name}| <= 2**31 - 1; got "
                     f"{name}={shorten(v)}.")
        if not integer and abs(float(v)) > _FLOAT32_MAX:
            fail(fn, f"`{name}` must fit in float32 (|{name}| <= {_FLOAT32_MAX:.4g}); got "
                     f"{name}={shorten(v)}.", hint="Samples are float32.")
    bounds = f"low={shorten(low)}, high={shorten(high)}"
    if log and (low <= 0 or high <= 0):
        fail(fn, f"a log-uniform range needs positive bounds; got {bounds}.",
             hint="Use uniform(low, high) for ranges that include 0 or negative values.")
    if integer and high < low:
        fail(fn, f"the range is empty or inverted; got {bounds}.",
             hint="Pass low <= high.")
    if not integer and not high > low:
        fail(fn, f"the range is empty or inverted; got {bounds}.",
             hint="Pass low < high (for a fixed value put the number itself in the space).")
    if not integer and not log and float(high) - float(low) > _FLOAT32_MAX:
        fail(fn, f"the range is wider than float32 can hold; got {bounds}.")


@dataclasses.dataclass(frozen=True)
class Uniform:
    """Uniform on ``[low, high)``."""

    low: float
    high: float
    static = False
    log = False

    def from_unit(self, u: jax.Array) -> jax.Array:
        return jnp.float32(self.low) + u * jnp.float32(self.high - self.low)

    def grid_points(self, num: int) -> np.ndarray:
        return np.linspace(self.low, self.high, num, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {"kind": "uniform", "low": self.low, "high": self.high, "log": False}


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """Log-uniform (reciprocal) on ``[low, high)``: uniform in ``log(value)``."""

    low: float
    high: float
    static = False
    log = True

    def from_unit(self, u: jax.Array) -> jax.Array:
        lo, hi = math.log(self.low), math.log(self.high)
        return jnp.exp(jnp.float32(lo) + u * jnp.float32(hi - lo))

    def grid_points(self, num: int) -> np.ndarray:
        return np.geomspace(self.low, self.high, num).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {"kind": "loguniform", "low": self.low, "high": self.high, "log": True}


@dataclasses.dataclass(frozen=True)
class IntUniform:
    """Uniform over the integers ``low, ..., high`` (both included); int32."""

    low: int
    high: int
    log: bool = False
    static = False

    def from_unit(self, u: jax.Array) -> jax.Array:
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high + 1)
            v = jnp.floor(jnp.exp(jnp.float32(lo) + u * jnp.float32(hi - lo)))
        else:
            v = jnp.floor(jnp.float32(self.low) + u * jnp.float32(self.high - self.low + 1))
        return jnp.clip(v.astype(jnp.int32), self.low, self.high)

    def grid_points(self, num: int) -> np.ndarray:
        if self.log:
            pts = np.geomspace(self.low, self.high, num)
        else:
            pts = np.linspace(self.low, self.high, num)
        return np.unique(np.round(pts).astype(np.int32))

    def describe(self) -> dict[str, Any]:
        return {"kind": "int_uniform", "low": self.low, "high": self.high, "log": self.log}


@dataclasses.dataclass(frozen=True)
class Choice:
    """Uniform over a finite list of values; static when the values are not numbers."""

    values: tuple
    static: bool = False

    @property
    def log(self) -> bool:
        v = np.asarray(self.values) if not self.static else None
        return bool(v is not None and np.all(v > 0) and v.max() / v.min() >= 100)

    def index_from_unit(self, u: Any) -> Any:
        n = len(self.values)
        if isinstance(u, np.ndarray):
            return np.clip(np.floor(u * n).astype(np.int64), 0, n - 1)
        return jnp.clip(jnp.floor(u * jnp.float32(n)).astype(jnp.int32), 0, n - 1)

    def array(self) -> np.ndarray:
        v = np.asarray(self.values)
        if np.issubdtype(v.dtype, np.integer):
            return v.astype(np.int32)
        return v.astype(np.float32)

    def from_unit(self, u: jax.Array) -> jax.Array:
        return jnp.asarray(self.array())[self.index_from_unit(u)]

    def grid_points(self, num: int | None = None) -> np.ndarray:
        if self.static:
            return np.asarray(self.values, dtype=object)
        return self.array()

    def describe(self) -> dict[str, Any]:
        vals = [v.item() if isinstance(v, np.generic) else v for v in self.values]
        return {"kind": "choice", "values": vals, "static": self.static, "log": self.log}


Dimension = (Uniform, LogUniform, IntUniform, Choice)


def loguniform(low: float, high: float) -> LogUniform:
    """Log-uniform distribution on ``[low, high)`` (learning rates, weight decay).

    Args:
      low: smallest value, > 0.
      high: largest value, > ``low``.

    Raises:
      ValueError: for non-positive, empty or inverted ranges.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> d = loguniform(1e-4, 1e-1)
      >>> round(float(d.from_unit(jnp.float32(0.5))), 6)
      0.003162
    """
    _check_range("loguniform", low, high, log=True)
    return LogUniform(float(low), float(high))


def uniform(low: float, high: float) -> Uniform:
    """Uniform distribution on ``[low, high)`` (momentum, warm-up fraction, plateau factor).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> float(uniform(0.8, 0.99).from_unit(jnp.float32(0.0)))
      0.800000011920929
    """
    _check_range("uniform", low, high)
    return Uniform(float(low), float(high))


def int_uniform(low: int, high: int, *, log: bool = False) -> IntUniform:
    """Uniform over the integers ``low..high`` inclusive (warm-up steps, decay steps, periods).

    Args:
      low: smallest integer.
      high: largest integer (included), >= ``low``.
      log: sample uniformly in ``log`` (``low`` must then be >= 1).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> int(int_uniform(0, 100).from_unit(jnp.float32(0.999999)))
      100
    """
    _check_range("int_uniform", low, high, integer=True, log=log)
    return IntUniform(int(low), int(high), log=log)


def choice(values: Sequence[Any], *, static: bool | None = None) -> Choice:
    """Uniform choice among ``values``.

    Numeric values are traced data (one compiled program for all of them). Non-numeric values
    (``"adam"``, ``"sgd"``) are *static*: trials are grouped by them and each group is compiled
    separately. Pass ``static=True`` for numbers that change structure (a number of steps).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> choice([0.0, 1e-4, 1e-3]).array().tolist()
      [0.0, 9.999999747378752e-05, 0.0010000000474974513]
      >>> choice(["adam", "sgd"]).static
      True
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        fail("choice", f"`values` must be a list of values; got values={shorten(values)}.",
             hint="Example: choice([1e-3, 1e-2]).", error=TypeError)
    values = tuple(v.item() if isinstance(v, np.generic) else v for v in values)
    if not values:
        fail("choice", "`values` is empty; got values=[].", hint="Pass at least one value.")
    numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
    if static is None:
        static = not numeric
    if not static and not numeric:
        fail("choice", f"a non-static choice needs numeric values; got "
                       f"values={shorten(list(values))}.",
             hint="Leave static unset (or pass static=True) for names such as 'adam'.")
    return Choice(values, static=bool(static))


def _dims(fn: str, space: Space) -> dict[str, Any]:
    if not isinstance(space, Mapping):
        fail(fn, f"`space` must be a dict of name -> dimension; got space={shorten(space)}.",
             hint="Example: {'learning_rate': jaxlr.loguniform(1e-4, 1e-1)}.", error=TypeError)
    if not space:
        fail(fn, "`space` is empty; got space={}.",
             hint="Add at least one hyperparameter, e.g. {'learning_rate': loguniform(1e-4, 1)}.")
    for name in space:
        if not isinstance(name, str):
            fail(fn, f"hyperparameter names must be strings; got {shorten(name)}.",
                 error=TypeError)
    return dict(space)


def is_static(value: Any) -> bool:
    """True when a space entry changes program structure (static choice or non-numeric const)."""
    if isinstance(value, Dimension):
        return bool(getattr(value, "static", False))
    return not (isinstance(value, (numbers.Real, np.ndarray, jax.Array, np.generic))
                and not isinstance(value, bool))


def describe(space: Space) -> dict[str, dict[str, Any]]:
    """JSON-able description of each entry (kind, bounds, log axis) used by results and plots."""
    out = {}
    for name, v in space.items():
        if isinstance(v, Dimension):
            out[name] = v.describe()
        else:
            out[name] = {"kind": "constant", "value": _jsonable(v), "log": False,
                         "static": is_static(v)}
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.ndarray, jax.Array)):
        return np.asarray(v).tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _unit_to_columns(fn: str, space: dict[str, Any], u: Any, n: int) -> dict[str, Any]:
    """Maps unit-cube points ``u`` [n, d] (one column per dimension, in order) to values."""
    out: dict[str, Any] = {}
    j = 0
    for name, v in space.items():
        if isinstance(v, Dimension):
            col = u[:, j]
            j += 1
            if v.static:
                if is_traced(col):
                    fail(fn, f"hyperparameter {shorten(name)} is static (it changes the compiled "
                         f"program) and cannot be sampled inside jax.jit.",
                         hint="Sample outside jit, or make it numeric and non-static.")
                idx = v.index_from_unit(np.asarray(col))
                out[name] = np.asarray([v.values[i] for i in idx], dtype=object)
            else:
                out[name] = v.from_unit(col)
        elif is_static(v):
            out[name] = np.asarray([v] * n, dtype=object)
        else:
            a = jnp.asarray(v)
            if jnp.issubdtype(a.dtype, jnp.floating):
                a = a.astype(jnp.float32)
            out[name] = jnp.broadcast_to(a, (n,) + a.shape)
    return out


def _num_dims(space: dict[str, Any]) -> int:
    return sum(isinstance(v, Dimension) for v in space.values())


_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79,
           83, 89, 97, 101, 103, 107, 109, 113)


def halton_points(num: int, dims: int, *, skip: int = 1) -> np.ndarray:
    """The Halton sequence (radical inverse in the first ``dims`` primes), shape [num, dims].

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> halton_points(4, 2).round(4).tolist()
      [[0.5, 0.3333], [0.25, 0.6667], [0.75, 0.1111], [0.125, 0.4444]]
    """
    if dims > len(_PRIMES):
        fail("halton", f"at most {len(_PRIMES)} dimensions are supported; got {dims}.")
    out = np.zeros((num, dims))
    for d in range(dims):
        base = _PRIMES[d]
        for i in range(num):
            k, f, r = i + skip, 1.0, 0.0
            while k > 0:
                f /= base
                r += f * (k % base)
                k //= base
            out[i, d] = r
    return out


def sample(space: Space, num_trials: int, *, key: jax.Array,
           method: str = "random") -> dict[str, Any]:
    """Draws ``num_trials`` configurations from ``space``.

    Args:
      space: dict of name -> dimension or constant.
      num_trials: number of configurations, >= 1.
      key: PRNG key (``"random"``: the draws; ``"halton"``/``"sobol"``: a random shift /
        scramble so different keys give different designs).
      method: ``"random"`` (i.i.d., jit-able for non-static dimensions), ``"halton"`` or
        ``"sobol"`` (quasi-random low-discrepancy designs, host side; Sobol needs scipy).

    Returns:
      dict of name -> array ``[num_trials]`` (float32 / int32; static entries are numpy object
      arrays).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> s = sample({"lr": loguniform(1e-4, 1e-1), "wd": 0.0}, 8, key=jax.random.key(0))
      >>> s["lr"].shape, bool((s["lr"] >= 1e-4).all() and (s["lr"] < 1e-1).all())
      ((8,), True)
      >>> jax.jit(lambda k: sample({"lr": loguniform(1e-4, 1e-1)}, 4, key=k))(
      ...     jax.random.key(0))["lr"].shape
      (4,)
    """
    space = _dims("sample", space)
    if not is_traced(num_trials):
        if isinstance(num_trials, bool) or not isinstance(num_trials, (int, np.integer)):
            fail("sample", f"`num_trials` must be an int; got num_trials={shorten(num_trials)}.",
                 error=TypeError)
        if num_trials < 1:
            fail("sample", f"`num_trials` must be >= 1; got num_trials={shorten(num_trials)}.")
    if method not in ("random", "halton", "sobol"):
        fail("sample", f"`method` must be one of 'random', 'halton', 'sobol'; got "
             f"method={shorten(method)}.")
    d = max(_num_dims(space), 1)
    if method == "random":
        u = jax.random.uniform(key, (num_trials, d), jnp.float32)
    elif method == "halton":
        shift = np.asarray(jax.random.uniform(key, (d,), jnp.float32), np.float64)
        u = jnp.asarray(np.mod(halton_points(num_trials, d) + shift, 1.0), jnp.float32)
    else:
        try:
            from scipy.stats import qmc
        except ImportError as e:  # pragma: no cover - scipy ships with scikit-learn
            raise ImportError("sample: method='sobol' needs scipy (`pip install scipy`); "
                              "method='halton' needs nothing.") from e
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        import warnings
        with warnings.catch_warnings():  # balance needs a power of 2; any n is still valid
            warnings.simplefilter("ignore", UserWarning)
            pts = qmc.Sobol(d, scramble=True, seed=seed).random(num_trials)
        u = jnp.asarray(pts, jnp.float32)
    return _unit_to_columns("sample", space, u, num_trials)


@dataclasses.dataclass(frozen=True)
class Grid:
    """An explicit list of configurations (columns of equal length), e.g. from :func:`grid`.

    ``columns`` maps each name to an array ``[num_trials]`` (numpy object arrays for static
    entries). ``space`` describes each entry (for plots: which axes are logarithmic).
    """

    columns: dict
    space: dict

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence[Any]]) -> "Grid":
        """Explicit trials: ``{"lr": [1e-3, 1e-2], "wd": [0, 1e-4]}`` is two trials (zipped)."""
        cols, space = {}, {}
        for k, v in columns.items():
            arr = np.asarray(v)
            if arr.dtype.kind in "OUS":
                cols[k] = np.asarray(list(v), dtype=object)
                space[k] = {"kind": "choice", "values": sorted(set(map(str, v))), "static": True,
                            "log": False}
            else:
                cols[k] = arr.astype(np.int32 if arr.dtype.kind in "iu" else np.float32)
                pos = arr[arr > 0]
                space[k] = {"kind": "choice", "values": np.unique(arr).tolist(), "static": False,
                            "log": bool(pos.size == arr.size and pos.size and
                                        pos.max() / pos.min() >= 100)}
        lengths = {len(c) for c in cols.values()}
        if len(lengths) != 1:
            fail("Grid.from_columns", f"every column must have the same length; got lengths "
                 f"{ {k: len(c) for k, c in cols.items()} }.")
        return cls(cols, space)


def grid(space: Space, *, num: int | Mapping[str, int] | None = None) -> Grid:
    """The Cartesian product of per-hyperparameter value lists (first name varies slowest).

    Args:
      space: dict of name -> list of values, a :func:`choice`, a continuous dimension (needs
        ``num`` points: geometric spacing for :func:`loguniform`, linear otherwise) or a constant.
      num: points per continuous dimension (an int for all, or a dict per name).

    Returns:
      a :class:`Grid` with ``len(grid) == product of the list lengths``.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> g = grid({"lr": [1e-3, 1e-2], "warmup_steps": [0, 10, 20], "wd": 0.0})
      >>> len(g), g.columns["warmup_steps"].tolist()
      (6, [0, 10, 20, 0, 10, 20])
      >>> grid({"lr": loguniform(1e-4, 1e-2)}, num=3).columns["lr"].round(6).tolist()
      [9.999999747378752e-05, 0.0010000000474974513, 0.009999999776482582]
    """
    space = _dims("grid", space)
    axes, desc = [], {}
    for name, v in space.items():
        if isinstance(v, Choice):
            pts = v.grid_points()
            desc[name] = v.describe()
        elif isinstance(v, Dimension):
            k = num.get(name) if isinstance(num, Mapping) else num
            if k is None:
                fail("grid", f"continuous dimension {shorten(name)} needs a number of grid points.",
                     hint=f"Pass num=5 (or num={{'{name}': 5}}), or give a list of values.")
            check_steps("grid", num=k, minimum=1)
            pts = v.grid_points(k)
            desc[name] = v.describe()
        elif isinstance(v, (list, tuple, np.ndarray)):
            if len(v) == 0:
                fail("grid", f"the value list of {shorten(name)} is empty; got "
                     f"{name}={shorten(v)}.")
            c = choice(list(np.asarray(v).tolist()) if isinstance(v, np.ndarray) else list(v))
            pts = c.grid_points()
            desc[name] = c.describe()
        else:
            pts = np.asarray([v], dtype=object if is_static(v) else None)
            desc[name] = describe({name: v})[name]
        axes.append((name, pts))
    combos = list(itertools.product(*[range(len(p)) for _, p in axes]))
    cols = {}
    for j, (name, pts) in enumerate(axes):
        idx = np.asarray([c[j] for c in combos], np.int64)
        col = pts[idx]
        if col.dtype != object:
            col = col.astype(np.int32 if col.dtype.kind in "iu" else np.float32)
        cols[name] = col
    return Grid(cols, desc)


# ----------------------------------------------------------------------------------------------
# plain-dict configuration (TOML / YAML files, the CLI)

_KINDS = ("loguniform", "uniform", "int_uniform", "choice", "log_int_uniform")
_CALL_START = re.compile(r"^\s*(" + "|".join(_KINDS) + r")\s*\(")
_CALL = re.compile(r"^\s*(" + "|".join(_KINDS) + r")\s*\((.*)\)\s*$", re.DOTALL)
_FORMS = ("'loguniform(1e-4, 1e-1)', 'uniform(0.8, 0.99)', 'int_uniform(0, 100)', "
          "'log_int_uniform(1, 1000)' or 'choice([0, 1e-4])'")
_SCALARS = (numbers.Real, str, type(None))


def _builders() -> dict[str, Any]:
    return {"loguniform": loguniform, "uniform": uniform, "int_uniform": int_uniform,
            "choice": choice,
            "log_int_uniform": lambda low, high: int_uniform(low, high, log=True)}


def _check_scalars(name: str, values: Any) -> None:
    for x in values:
        if not isinstance(x, _SCALARS):
            fail("space_from_config", f"entry {shorten(name)}: the values of a choice must be "
                 f"numbers, strings or booleans; got {shorten(x)} (type {type(x).__name__}).",
                 error=TypeError)


def _build(name: str, kind: str, args: dict) -> Any:
    """``builders[kind](**args)`` with every error naming the entry."""
    builder = _builders()[kind]
    try:
        inspect.signature(builder).bind(**args)
    except TypeError:
        fail("space_from_config", f"entry {shorten(name)}: bad arguments {shorten(args)} for "
             f"{kind}.",
             hint="loguniform/uniform/int_uniform/log_int_uniform take low and high; choice "
                  "takes values (and static).", error=TypeError)
    if kind == "choice" and isinstance(args.get("values"), (list, tuple)):
        _check_scalars(name, args["values"])
    try:
        return builder(**args)
    except (ValueError, TypeError) as e:
        fail("space_from_config", f"entry {shorten(name)}: {e}", error=type(e))


def _entry_from_string(name: str, v: str) -> Any:
    if not _CALL_START.match(v):
        return v  # a static constant such as an optimizer name
    if len(v) > MAX_SPEC_LENGTH:
        fail("space_from_config", f"entry {shorten(name)} is longer than MAX_SPEC_LENGTH = "
             f"{MAX_SPEC_LENGTH} characters; got {shorten(v, 60)}.")
    m = _CALL.match(v)
    parsed = None
    if m:
        try:
            parsed = ast.literal_eval(f"[{m.group(2)}]")
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            parsed = None
    if parsed is None:
        fail("space_from_config", f"entry {shorten(name)}: cannot parse {shorten(v)} as a search "
             f"dimension.", hint=f"Write {_FORMS}: the name, then literal numbers (or a list "
             f"for choice) in balanced parentheses.")
    check_nesting("space_from_config", name, parsed)
    kind = m.group(1)
    if kind == "choice":
        values = parsed[0] if len(parsed) == 1 and isinstance(parsed[0], list) else parsed
        return _build(name, kind, {"values": values})
    if len(parsed) != 2:
        fail("space_from_config", f"entry {shorten(name)}: {kind} needs two bounds, {kind}(low, "
             f"high); got {shorten(v)}.")
    return _build(name, kind, {"low": parsed[0], "high": parsed[1]})


def _entry_from_config(name: str, v: Any) -> Any:
    if isinstance(v, Dimension):  # already built (a config assembled in Python)
        return v
    if isinstance(v, str):
        return _entry_from_string(name, v)
    if isinstance(v, Mapping):
        if "type" in v or "kind" in v:
            kind = v.get("type", v.get("kind"))
            args = {k: x for k, x in v.items() if k not in ("type", "kind")}
        elif len(v) == 1:
            kind, a = next(iter(v.items()))
            if kind == "choice":
                args = {"values": a}
            elif isinstance(a, (list, tuple)):
                if len(a) != 2:
                    fail("space_from_config", f"entry {shorten(name)}: {shorten(kind)} needs [low, "
                         f"high]; got {shorten(a)}.")
                args = {"low": a[0], "high": a[1]}
            elif isinstance(a, Mapping):
                args = dict(a)
            else:
                fail("space_from_config", f"entry {shorten(name)}: {shorten(kind)} needs [low, "
                     f"high] or a table of arguments; got {shorten(a)} (type {type(a).__name__}).",
                     hint="Use {'loguniform': [1e-4, 1e-1]}.", error=TypeError)
        else:
            fail("space_from_config", f"cannot read the entry {name}={shorten(dict(v))}.",
                 hint="Use {'loguniform': [1e-4, 1e-1]} or {'type': 'uniform', 'low': 0, "
                      "'high': 1}.")
        if not isinstance(kind, str) or kind not in _KINDS:
            fail("space_from_config", f"entry {shorten(name)}: unknown dimension type "
                 f"{shorten(kind)}; the types are {', '.join(sorted(_KINDS))}.",
                 error=ValueError if isinstance(kind, str) else TypeError)
        if not all(isinstance(k, str) for k in args):
            fail("space_from_config", f"entry {shorten(name)}: argument names must be strings; got "
                 f"{shorten(list(args))}.", error=TypeError)
        return _build(name, kind, args)
    if isinstance(v, (list, tuple)):
        _check_scalars(name, v)
        return _build(name, "choice", {"values": list(v)})
    if not isinstance(v, _SCALARS):
        fail("space_from_config", f"entry {shorten(name)} must be a number, a string, a list or a "
             f"table; got {shorten(v)} (type {type(v).__name__}).", error=TypeError)
    return v


def space_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Builds a space from plain data (a TOML/YAML/JSON table).

    Each entry may be a constant (``0.9``, ``"adam"``), a list (a :func:`choice`), a call string
    (``"loguniform(1e-4, 1e-1)"``, ``"choice([0, 1e-4])"``), a one-key table
    (``{"loguniform": [1e-4, 1e-1]}``, ``{"int_uniform": [0, 100]}``, ``{"choice": [...]}``) or a
    typed table (``{"type": "uniform", "low": 0.8, "high": 0.99}``).

    A string that starts like a call (``"loguniform("``) must parse as one: a typo such as
    ``"loguniform(1e-4,"`` is a ValueError naming the entry, not a constant string. Input is
    bounded like every config (:data:`~jaxlr._utils._validation.MAX_DEPTH` levels,
    ``MAX_ITEMS`` values, strings of at most ``MAX_SPEC_LENGTH`` characters).

    Raises:
      TypeError: when ``config`` is not a table or an entry has the wrong kind.
      ValueError: naming the entry, for a call string that does not parse, unknown dimension
        types and invalid ranges.

    Examples:
      >>> import jax, jax.numpy as jnp, jaxlr
      >>> s = space_from_config({"learning_rate": "loguniform(1e-4, 1e-1)",
      ...                        "warmup_steps": {"int_uniform": [0, 50]},
      ...                        "weight_decay": [0.0, 1e-4], "optimizer": "adamw"})
      >>> s["learning_rate"], s["warmup_steps"], s["optimizer"]
      (LogUniform(low=0.0001, high=0.1), IntUniform(low=0, high=50, log=False), 'adamw')
    """
    if not isinstance(config, Mapping):
        fail("space_from_config", f"`config` must be a table (dict); got {shorten(config)}.",
             error=TypeError)
    check_nesting("space_from_config", "config", dict(config))
    for k in config:
        if not isinstance(k, str):
            fail("space_from_config", f"hyperparameter names must be strings; got "
                 f"{shorten(k)}.", error=TypeError)
    return {k: _entry_from_config(k, v) for k, v in config.items()}
