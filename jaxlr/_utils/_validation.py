"""Argument validation shared by every layer.

Builders validate *concrete* arguments at build time and skip traced ones (a tracer's value is
unknown until run time; documenting that is the caller's responsibility). Messages name the
function, the argument, the value the user gave and what is allowed.

Limits on hostile or huge input (every entry point that reads text or plain data checks them
before any work, so deep or huge input fails fast with a ValueError naming the limit):

* :data:`MAX_SPEC_LENGTH` characters for a spec string (``jaxlr.parse``, a space string such as
  ``"loguniform(1e-4, 1e-1)"``);
* :data:`MAX_DEPTH` levels of nesting (calls and lists in a spec; dicts and lists in a config
  for ``from_config``, ``space_from_config``, ``sweep_from_config``);
* :data:`MAX_ITEMS` values in one config (dict entries and list items, all levels together).

Error messages echo the user's value through :func:`shorten` (at most :data:`MAX_ECHO`
characters, then an ellipsis and the original size), and :func:`fail` cuts any message to
:data:`MAX_MESSAGE` characters, so no message is larger than that whatever the input.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np

#: Longest spec string accepted by ``jaxlr.parse`` and by space strings (characters).
MAX_SPEC_LENGTH = 10_000
#: Deepest nesting accepted in specs (calls, lists) and in config dicts (dicts, lists).
MAX_DEPTH = 32
#: Most values (dict entries plus list items, at every level) accepted in one config.
MAX_ITEMS = 100_000
#: Most characters of one echoed value in an error message (see :func:`shorten`).
MAX_ECHO = 200
#: Most characters of any error message raised through :func:`fail`.
MAX_MESSAGE = 2_000

_CONTAINERS = {list: ("[", "]"), tuple: ("(", ")"), dict: ("{", "}")}
_MAX_SHOWN_DEPTH = 8


def _bounded_repr(value: Any, budget: int, depth: int = 0) -> str:
    """``repr(value)`` when it is shorter than ``budget``; otherwise a prefix of it at least
    ``budget`` characters long (never the whole of a huge value: the work is bounded)."""
    kind = type(value)
    if kind is str:
        return repr(value if len(value) <= budget else value[:budget + 1])
    if kind not in _CONTAINERS:
        try:
            text = repr(value)
        except RecursionError:
            return f"<{kind.__name__} nested too deeply to show>"
        except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
            return f"<{kind.__name__} object>"
        return text
    open_, close = _CONTAINERS[kind]
    if depth >= _MAX_SHOWN_DEPTH and value:
        return f"{open_}...{close}"
    items = value.items() if kind is dict else value
    parts, used = [], 0
    for item in items:
        if used > budget:
            parts.append("...")
            break
        if kind is dict:
            k, v = item
            text = (f"{_bounded_repr(k, budget - used, depth + 1)}: "
                    f"{_bounded_repr(v, budget - used, depth + 1)}")
        else:
            text = _bounded_repr(item, budget - used, depth + 1)
        parts.append(text)
        used += len(text) + 2
    body = ", ".join(parts)
    if kind is tuple and len(value) == 1:
        body += ","
    return f"{open_}{body}{close}"


def shorten(value: Any, limit: int = MAX_ECHO) -> str:
    """The ``repr`` of a user's value for an error message, at most about ``limit`` characters.

    Small values come out exactly as ``repr`` does; a longer one is cut with ``...`` and its
    original size (``'aaaa...' (5000000 characters)``, ``[1, 2, ... (list of 100000 items)``).
    Deeply nested values are shown to a few levels only. The cost is bounded by ``limit``, not
    by the size of ``value``.

    Examples:
      >>> shorten([1, 2])
      '[1, 2]'
      >>> shorten("x" * 1000, 10)
      "'xxxxxxxx... (1000 characters)"
    """
    text = _bounded_repr(value, limit)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        size = f"{len(value)} characters"
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        size = f"{type(value).__name__} of {len(value)} items"
    else:
        size = f"{len(text)} characters"
    return f"{text[:max(limit - 1, 1)]}... ({size})"


def is_traced(x: Any) -> bool:
    """True if ``x`` is (or contains) a JAX tracer, i.e. its value is not known yet."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(x))


def concrete(x: Any) -> np.ndarray | None:
    """Returns ``x`` as a numpy array when its value is known, else ``None`` (traced)."""
    if is_traced(x):
        return None
    try:
        return np.asarray(x)
    except Exception:  # pragma: no cover - exotic array types
        return None


def fail(fn: str, message: str, *, hint: str | None = None, error: type = ValueError):
    """Raises ``error`` with the house format ``fn: message. hint``.

    Echo user values in ``message`` through :func:`shorten`; as a last guard the whole text is
    cut to :data:`MAX_MESSAGE` characters (keeping its end, the hint, when it fits).
    """
    text = f"{fn}: {message}"
    if hint:
        text += f" {hint}"
    if len(text) > MAX_MESSAGE:
        tail = f" {hint}" if hint and len(hint) < MAX_MESSAGE // 4 else ""
        note = f" ... (message shortened from {len(text)} characters)"
        text = text[:MAX_MESSAGE - len(tail) - len(note)] + note + tail
    raise error(text)


def check_nesting(fn: str, name: str, value: Any, *, max_depth: int = MAX_DEPTH,
                  max_items: int = MAX_ITEMS) -> None:
    """ValueError if plain data (dicts, lists, tuples) nests deeper than ``max_depth`` or holds
    more than ``max_items`` values; strings longer than :data:`MAX_SPEC_LENGTH` are refused too.

    The walk is iterative and stops at the first violation, so hostile input costs at most
    ``max_items`` steps (no ``RecursionError``).
    """
    stack = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_SPEC_LENGTH:
                fail(fn, f"a string in `{name}` is longer than MAX_SPEC_LENGTH = "
                         f"{MAX_SPEC_LENGTH} characters; got {shorten(item, 60)}.",
                     hint="Shorten it (specs and names are short).")
            continue
        if not isinstance(item, (dict, list, tuple)):
            continue
        if depth > max_depth:
            fail(fn, f"`{name}` is nested deeper than MAX_DEPTH = {max_depth} levels of "
                     f"dicts and lists.", hint="Flatten the input; real configs nest a few "
                     "levels.")
        seen += len(item)
        if seen > max_items:
            fail(fn, f"`{name}` holds more than MAX_ITEMS = {max_items} values.",
                 hint="Configs are small; pass big arrays from Python instead.")
        children = ([c for kv in item.items() for c in kv] if isinstance(item, dict)
                    else item)
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple, str)))


def check_number(fn: str, name: str, value: Any) -> None:
    """TypeError unless ``value`` is a real number or a real-valued array (or a tracer)."""
    if is_traced(value):
        return
    if isinstance(value, bool):
        fail(fn, f"`{name}` must be a number; got {name}={shorten(value)} (a bool).",
             error=TypeError)
    if isinstance(value, numbers.Real):
        return
    if isinstance(value, (np.ndarray, jax.Array, np.generic)):
        if np.issubdtype(np.asarray(value).dtype, np.number) and not np.iscomplexobj(value):
            return
    fail(fn, f"`{name}` must be a real number or array; got {name}={shorten(value)} "
              f"of type {type(value).__name__}.", error=TypeError)


def check_steps(fn: str, *, minimum: int = 0, **named: Any) -> None:
    """Checks step counts: integers (Python or integer arrays) >= ``minimum``.

    Floats are refused with a TypeError even when integral (``100.0``): step counts are integers
    and a float usually signals a unit confusion (epochs vs steps, fractions).
    """
    for name, value in named.items():
        if is_traced(value):
            continue
        if isinstance(value, bool):
            fail(fn, f"`{name}` must be an integer number of steps; got "
                     f"{name}={shorten(value)}.", error=TypeError)
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):  # ragged lists and other odd input
            arr = np.asarray(None)
        if not np.issubdtype(arr.dtype, np.integer):
            hint = None
            if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(
                    arr == np.round(arr)):
                hint = f"Pass an int, e.g. {name}={int(np.round(arr).ravel()[0])}."
            fail(fn, f"`{name}` must be an integer number of steps; got "
                     f"{name}={shorten(value)}.", hint=hint, error=TypeError)
        if np.any(arr < minimum):
            fail(fn, f"`{name}` must be >= {minimum}; got {name}={shorten(value)}.")
        if np.any(arr > np.iinfo(np.int32).max):
            fail(fn, f"`{name}` must be < 2**31; got {name}={shorten(value)}.")


def check_positive(fn: str, *, allow_zero: bool = False, **named: Any) -> None:
    """Checks that concrete numbers are finite and > 0 (or >= 0 with ``allow_zero``)."""
    for name, value in named.items():
        check_number(fn, name, value)
        arr = concrete(value)
        if arr is None:
            continue
        try:
            arr = np.asarray(arr, dtype=np.float64)
        except (OverflowError, TypeError, ValueError):  # e.g. 10**400, beyond any float
            arr = np.asarray(np.inf)
        bad = ~np.isfinite(arr) | ((arr < 0) if allow_zero else (arr <= 0))
        if np.any(bad):
            allowed = ">= 0" if allow_zero else "> 0"
            fail(fn, f"`{name}` must be finite and {allowed}; got {name}={shorten(value)}.")


def check_choice(fn: str, name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """ValueError unless ``value`` is one of ``allowed`` (static structure, e.g. a mode)."""
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        fail(fn, f"`{name}` must be one of {options}; got {name}={shorten(value)}.")
