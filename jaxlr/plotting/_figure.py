"""Shared figure plumbing of the plotting functions: backend choice, saving, small helpers.

Host only; matplotlib is imported inside the functions. Library code never calls
``plt.show()``: a function returns its Axes/Figure, and with ``path=`` saves and closes it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from jaxlr._utils._validation import fail

#: Figure formats accepted by ``path=`` (by suffix).
FORMATS = (".png", ".svg", ".pdf")


def pyplot():
    """``matplotlib.pyplot``, switching to the file-only Agg backend when there is no display.

    A user's explicit choice (``MPLBACKEND``, an inline notebook backend, a display) is kept.
    """
    import matplotlib

    backend = matplotlib.get_backend().lower()
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if not display and not os.environ.get("MPLBACKEND") and "inline" not in backend and (
            backend != "agg"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_path(fn: str, path: Any) -> Path | None:
    """``path`` as a :class:`~pathlib.Path` (``None`` stays ``None``); validates the suffix."""
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        fail(fn, f"`path` must be a file name (str or os.PathLike); got "
             f"{type(path).__name__}.", error=TypeError)
    p = Path(path).expanduser()
    if p.suffix.lower() not in FORMATS:
        fail(fn, f"`path` must end in {', '.join(FORMATS)} (the format is taken from the "
             f"suffix); got path={str(path)!r}.", hint=f"e.g. path={str(p.with_suffix('.png'))!r}.")
    return p


def finish(fn: str, result: Any, fig: Any, path: Any, *, owned: bool) -> Any:
    """Saves ``fig`` to ``path`` (when given) and returns ``result`` (the Axes or Figure).

    The parent directories are created. A figure this function created (``owned``) is closed
    after saving, so a script that saves many plots does not accumulate open figures; a figure
    the caller passed in (through ``ax=``/``axes=``) is saved but left open for them.
    """
    p = check_path(fn, path)
    if p is None:
        return result
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110, bbox_inches="tight")
    if owned:
        pyplot().close(fig)
    return result


def place_legend(ax: Any, *, owned: bool, **kwargs: Any) -> Any:
    """A legend beside the axes on a figure we own (it never hides data), inside otherwise."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    kwargs.setdefault("fontsize", 8)
    if owned:
        return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                         borderaxespad=0.0, **kwargs)
    return ax.legend(handles, labels, loc="best", **kwargs)


_FUNCTION_NAME = re.compile(r"^_*(init|make|build|create|get|setup|model|params|load)\w*$",
                            re.IGNORECASE)


def readable_name(text: Any) -> str | None:
    """``text`` unless it looks like a Python function repr/name (``<lambda>``, ``init``, ...).

    The finders record the task as the init function's ``__name__`` when given a function; a
    title should name the task, not the user's helper.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or "<" in text or ">" in text or " object at 0x" in text:
        return None
    if _FUNCTION_NAME.match(text.rsplit(".", 1)[-1]):
        return None
    return text


def spans_decades(values: Any, decades: float = 1.0) -> bool:
    """True when the positive finite ``values`` span more than ``decades`` orders of magnitude
    (zeros and negatives ignored; needs at least one positive value)."""
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    return bool(v.size >= 2 and v.max() / v.min() > 10.0 ** decades)
