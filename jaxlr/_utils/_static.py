"""Compile by value: static structure is compared by what it *is*, not by object identity.

``jax.jit`` keys its cache on static arguments with ``__hash__``/``__eq__``: a freshly built
function, ``functools.partial`` or closure is a new object and recompiles although it computes the
same thing. jaxlr's compiled programs are keyed instead on :func:`value_key`, a structural key:

* numbers, strings, ``None``, types and modules by value;
* tuples, lists and dicts element by element;
* ``functools.partial`` by its function, arguments and keywords;
* plain Python functions (lambdas, closures) by their code object, globals, defaults and the
  *values* of their closure cells (recursively), so two lambdas written at the same place that
  close over equal values are the same static structure;
* bound methods by function and instance; pytrees by their structure and leaves;
* arrays and any other object by identity (conservative: a new array closed over is a new program;
  pass arrays as arguments instead).

:func:`partition` splits any pytree into its array leaves (the traced *data*) and a
:class:`Static` remainder (the *structure*, hashed by :func:`value_key`); :func:`combine` puts
them back together inside a compiled program. This is equinox's ``filter_jit`` idea, with
structural rather than identity equality for callables.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import jax
import numpy as np

_MAX_DEPTH = 24


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic)) or isinstance(
        x, jax.core.Tracer)


def value_key(x: Any) -> Any:
    """A hashable structural key of ``x`` (see the module docstring)."""
    return _key(x, 0, set())


def _key(x: Any, depth: int, active: set[int]) -> Any:
    if depth > _MAX_DEPTH:
        return ("id", id(x))
    if x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
        return (type(x).__name__, x)
    if isinstance(x, (type, types.ModuleType, types.BuiltinFunctionType, types.CodeType)):
        return ("obj", x)
    if _is_array(x):
        return ("array", id(x))
    oid = id(x)
    if oid in active:              # a cycle (a recursive closure): refer to it by identity
        return ("cycle", oid)
    active.add(oid)
    try:
        d = depth + 1
        if isinstance(x, (tuple, list)) and not hasattr(x, "_fields"):
            return (type(x).__name__, tuple(_key(v, d, active) for v in x))
        if isinstance(x, dict):
            return ("dict", tuple((_key(k, d, active), _key(v, d, active))
                                  for k, v in x.items()))
        if isinstance(x, functools.partial):
            return ("partial", _key(x.func, d, active), _key(x.args, d, active),
                    _key(x.keywords, d, active))
        if isinstance(x, types.FunctionType):
            cells = tuple(_cell(c, d, active) for c in (x.__closure__ or ()))
            return ("function", x.__code__, id(x.__globals__), _key(x.__defaults__, d, active),
                    _key(x.__kwdefaults__, d, active), cells)
        if isinstance(x, types.MethodType):
            return ("method", _key(x.__func__, d, active), _key(x.__self__, d, active))
        custom = getattr(type(x), "__jaxlr_value_key__", None)
        if custom is not None:
            return ("custom", type(x), _key(custom(x), d, active))
        leaves, treedef = jax.tree_util.tree_flatten(x)
        if not (len(leaves) == 1 and leaves[0] is x):
            # a registered pytree node (NamedTuple, dataclass pytree, schedule, optimizer):
            # its structure and its leaves
            return ("tree", _treedef_key(treedef, d, active),
                    tuple(_key(v, d, active) for v in leaves))
        try:
            hash(x)
        except TypeError:
            return ("id", oid)
        if type(x).__eq__ is object.__eq__:
            return ("id", oid)
        return ("hashable", type(x), x)
    finally:
        active.discard(oid)


def _treedef_key(treedef: Any, depth: int, active: set[int]) -> Any:
    """A treedef by node types and the *value keys* of their aux data (e.g. a dataclass's
    static fields holding a function), so equal structure built twice compares equal."""
    if jax.tree_util.treedef_is_leaf(treedef):
        return "*"
    node = treedef.node_data()
    if node is None:
        return "*"
    kind, aux = node
    return (kind, _key(aux, depth + 1, active),
            tuple(_treedef_key(c, depth + 1, active) for c in treedef.children()))


def _cell(cell: Any, depth: int, active: set[int]) -> Any:
    try:
        contents = cell.cell_contents
    except ValueError:             # an empty cell (a name assigned later in the enclosing scope)
        return ("empty",)
    return _key(contents, depth, active)


class ByValue:
    """Mixin: ``__hash__`` / ``__eq__`` from :func:`value_key` (define ``__jaxlr_value_key__``).

    Objects that are static arguments of compiled programs derive from it, so an equal object
    built again reuses the compiled program.
    """

    __slots__ = ()

    def __jaxlr_value_key__(self) -> Any:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def __hash__(self) -> int:
        return hash(value_key(self))

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and value_key(self) == value_key(other)


class _Parts:
    """The static remainder of :func:`partition` (keyed by structure, not identity)."""

    __slots__ = ("treedef", "mask", "fixed")

    def __init__(self, treedef: Any, mask: tuple[bool, ...], fixed: tuple[Any, ...]):
        self.treedef, self.mask, self.fixed = treedef, mask, fixed

    def __jaxlr_value_key__(self) -> Any:
        return (_treedef_key(self.treedef, 0, set()), self.mask, self.fixed)


class Static:
    """A value hashed and compared by :func:`value_key` (a ``jax.jit`` static argument)."""

    __slots__ = ("value", "_key", "_hash")

    def __init__(self, value: Any):
        self.value = value
        self._key = value_key(value)
        self._hash = hash(self._key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Static) and self._hash == other._hash and self._key == other._key

    def __repr__(self) -> str:
        return f"Static({self.value!r})"


def _is_dynamic(x: Any) -> bool:
    """Array-like leaves are traced data; Python bools stay static (they select structure)."""
    if isinstance(x, bool):
        return False
    return _is_array(x) or isinstance(x, (int, float))


def partition(tree: Any) -> tuple[list[Any], Static]:
    """``(dynamic leaves, static remainder)`` of a pytree: arrays and numbers are data."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    dynamic = [x for x in leaves if _is_dynamic(x)]
    static = tuple(None if _is_dynamic(x) else x for x in leaves)
    mask = tuple(_is_dynamic(x) for x in leaves)
    return dynamic, Static(_Parts(treedef, mask, static))


def combine(dynamic: list[Any], static: Static) -> Any:
    """Inverse of :func:`partition`."""
    parts = static.value
    treedef, mask, fixed = parts.treedef, parts.mask, parts.fixed
    it = iter(dynamic)
    leaves = [next(it) if m else s for m, s in zip(mask, fixed)]
    return jax.tree_util.tree_unflatten(treedef, leaves)
