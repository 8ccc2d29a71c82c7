"""Argument validation shared by every layer.

Builders validate *concrete* arguments at build time and skip traced ones (a tracer's value is
unknown until run time; documenting that is the caller's responsibility). Messages name the
function, the argument, the value the user gave and what is allowed.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np


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


#: Longest echo of a user value inside an error message (characters).
MAX_ECHO = 200


def shorten(value: Any, limit: int = MAX_ECHO) -> str:
    """``repr(value)`` cut to ``limit`` characters (with the original length), for messages."""
    try:
        text = value if isinstance(value, str) and limit < 0 else repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def fail(fn: str, message: str, *, hint: str | None = None, error: type = ValueError):
    """Raises ``error`` with the house format ``fn: message. hint``."""
    text = f"{fn}: {message}"
    if hint:
        text += f" {hint}"
    raise error(text)


def check_number(fn: str, name: str, value: Any) -> None:
    """TypeError unless ``value`` is a real number or a real-valued array (or a tracer)."""
    if is_traced(value):
        return
    if isinstance(value, bool):
        fail(fn, f"`{name}` must be a number; got {name}={value!r} (a bool).", error=TypeError)
    if isinstance(value, numbers.Real):
        return
    if isinstance(value, (np.ndarray, jax.Array, np.generic)):
        if np.issubdtype(np.asarray(value).dtype, np.number) and not np.iscomplexobj(value):
            return
    fail(fn, f"`{name}` must be a real number or array; got {name}={value!r} "
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
            fail(fn, f"`{name}` must be an integer number of steps; got {name}={value!r}.",
                      error=TypeError)
        arr = np.asarray(value)
        if not np.issubdtype(arr.dtype, np.integer):
            hint = None
            if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(
                    arr == np.round(arr)):
                hint = f"Pass an int, e.g. {name}={int(np.round(arr).ravel()[0])}."
            fail(fn, f"`{name}` must be an integer number of steps; got {name}={value!r}.",
                      hint=hint, error=TypeError)
        if np.any(arr < minimum):
            fail(fn, f"`{name}` must be >= {minimum}; got {name}={value!r}.")
        if np.any(arr > np.iinfo(np.int32).max):
            fail(fn, f"`{name}` must be < 2**31; got {name}={value!r}.")


def check_positive(fn: str, *, allow_zero: bool = False, **named: Any) -> None:
    """Checks that concrete numbers are finite and > 0 (or >= 0 with ``allow_zero``)."""
    for name, value in named.items():
        check_number(fn, name, value)
        arr = concrete(value)
        if arr is None:
            continue
        bad = ~np.isfinite(arr) | ((arr < 0) if allow_zero else (arr <= 0))
        if np.any(bad):
            allowed = ">= 0" if allow_zero else "> 0"
            fail(fn, f"`{name}` must be finite and {allowed}; got {name}={value!r}.")


def check_choice(fn: str, name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """ValueError unless ``value`` is one of ``allowed`` (static structure, e.g. a mode)."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        fail(fn, f"`{name}` must be one of {options}; got {name}={value!r}.")
