"""Schedules as data: config dicts, spec strings and a numeric summary.

``to_config``/``from_config`` convert a schedule to a JSON-able dict and back (nested
combinators included). ``parse`` reads a small, readable call grammar (no ``eval``)::

    spec    := value                       # a call, or a number meaning constant(number)
    call    := NAME "(" [arg ("," arg)* [","]] ")"
    arg     := [NAME "="] value
    value   := call | NUMBER | STRING | list | "None" | "True" | "False" | NAME
    list    := "[" [value ("," value)* [","]] "]"

NUMBER is a Python int (``500``, ``10_000``) or float (``1e-3``, ``.5``, ``-2.0``); an int stays
an int (step counts must be ints: ``1e4`` is a float and is refused where steps are expected).
STRING is single- or double-quoted; a bare NAME that is not followed by ``(`` is a string too, so
``mode=triangular2`` works. Example: ``warmup(cosine_decay(1e-3, 10000), 500)``.

Limits (ValueError naming the limit, checked before any schedule is built): a spec is at most
``MAX_SPEC_LENGTH`` = 10 000 characters and nests calls and lists at most ``MAX_DEPTH`` = 32
levels deep; a config dict nests dicts and lists at most 32 levels and holds at most
``MAX_ITEMS`` = 100 000 values (see :mod:`jaxlr._utils._validation`).
"""

from __future__ import annotations

import difflib
import inspect
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxlr._utils import _validation as validation
from jaxlr.schedules._builders import BUILDERS
from jaxlr.schedules._base import FunctionSchedule, Schedule, as_schedule, horizon

# --------------------------------------------------------------------------------------------
# Config dicts.
# --------------------------------------------------------------------------------------------


def _encode(value: Any, path: str) -> Any:
    if isinstance(value, FunctionSchedule):
        validation.fail("to_config", f"cannot convert the plain callable "
                                     f"{validation.shorten(value.fn)} at "
                                     f"{path} to a config.",
                        hint="Only jaxlr schedules are serialisable; build the schedule from "
                             "jaxlr builders (e.g. jaxlr.piecewise_linear instead of a lambda).",
                        error=TypeError)
    if isinstance(value, Schedule):
        return _to_config(value, path)
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if validation.is_traced(value):
        validation.fail("to_config", f"the value at {path} is traced; configs need concrete "
                                     f"values.", error=TypeError)
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        arr = np.asarray(value)
        if np.issubdtype(arr.dtype, np.bool_):
            return arr.tolist()
        return arr.tolist()  # 0-d -> Python scalar, n-d -> nested lists (exact for f32/i32)
    validation.fail("to_config", f"cannot convert {validation.shorten(value)} (type "
                                 f"{type(value).__name__}) at {path}.", error=TypeError)
    raise AssertionError  # unreachable


def _to_config(schedule: Schedule, path: str) -> dict:
    config: dict[str, Any] = {"name": schedule._name}
    for name, value in schedule._fields():
        config[name] = _encode(value, f"{path}.{name}")
    return config


def to_config(schedule: Schedule) -> dict:
    """A JSON-able dict describing ``schedule`` (nested schedules become nested dicts).

    ``{"name": <builder name>, <argument>: <value>, ...}``; arrays become (nested) lists. Plain
    callables and traced values cannot be converted (TypeError).

    Examples:
      >>> import jaxlr
      >>> jaxlr.to_config(jaxlr.warmup(jaxlr.constant(0.1), 5))
      {'name': 'warmup', 'schedule': {'name': 'constant', 'value': 0.1}, 'warmup_steps': 5,
       'init_value': 0.0, 'shape': 'linear'}
    """
    if not isinstance(schedule, Schedule) or isinstance(schedule, FunctionSchedule):
        what = schedule.fn if isinstance(schedule, FunctionSchedule) else schedule
        validation.fail("to_config", f"`schedule` must be a jaxlr schedule; got "
                                     f"{validation.shorten(what)}.",
                        hint="Plain callables cannot be converted to a config.",
                        error=TypeError)
    return _to_config(schedule, "schedule")


def _decode(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return _from_config(value, path)
    if isinstance(value, list):
        return [_decode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _from_config(config: dict, path: str) -> Schedule:
    fn = "from_config"
    short = validation.shorten
    name = config.get("name")
    where = "" if path == "config" else f" at {path}"
    if not isinstance(name, str):
        what = "has no 'name'" if "name" not in config else f"has name={short(name)}"
        validation.fail(fn, f"every schedule dict needs a 'name' string; the dict{where} "
                            f"{what}.", hint=f"Valid names: {_valid_names()}.",
                        error=TypeError if "name" in config else ValueError)
    if name not in BUILDERS:
        close = difflib.get_close_matches(name, BUILDERS, n=1)
        guess = f"Did you mean {close[0]!r}? " if close else ""
        validation.fail(fn, f"unknown schedule name {short(name)}{where} in {short(config)}.",
                        hint=f"{guess}Valid names: {_valid_names()}.")
    for k in config:
        if not isinstance(k, str):
            validation.fail(fn, f"argument names must be strings; got {short(k)}{where} in "
                                f"{short(config)}.", error=TypeError)
    builder = BUILDERS[name]
    params = inspect.signature(builder).parameters
    if name == "multiply":
        if set(config) != {"name", "schedules"} or not isinstance(config["schedules"], list):
            validation.fail(fn, f"multiply needs exactly a 'schedules' list{where}; got keys "
                                f"{short(sorted(k for k in config if k != 'name'))}.")
        return builder(*_decode(config["schedules"], f"{path}.schedules"))
    unknown = sorted(set(config) - set(params) - {"name"})
    if unknown:
        validation.fail(fn, f"unknown argument(s) {short(unknown)} for {name!r}{where}.",
                        hint=f"Valid arguments: {', '.join(params)}.")
    kwargs = {k: _decode(v, f"{path}.{k}") for k, v in config.items() if k != "name"}
    try:
        inspect.signature(builder).bind(**kwargs)
    except TypeError as e:
        validation.fail(fn, f"bad arguments for {name}{where}: {e}.",
                        hint=f"Signature: {name}{inspect.signature(builder)}.", error=TypeError)
    return builder(**kwargs)


def from_config(config: dict) -> Schedule:
    """Rebuilds a schedule from :func:`to_config`'s dict (validating it like the builders).

    Raises:
      TypeError: when ``config`` is not a dict, or a ``name`` or argument has the wrong kind.
      ValueError: for unknown names or arguments, invalid values (the builder's message), and
        configs nested deeper than ``MAX_DEPTH`` (32) or larger than ``MAX_ITEMS`` values.

    Examples:
      >>> import jaxlr
      >>> s = jaxlr.cosine_decay(1e-3, 100, end_value=1e-5)
      >>> jaxlr.from_config(jaxlr.to_config(s))
      cosine_decay(init_value=0.001, decay_steps=100, end_value=1e-05, periodic=False)
    """
    if not isinstance(config, dict):
        validation.fail("from_config", f"`config` must be a dict; got "
                                       f"{validation.shorten(config)}.", error=TypeError)
    validation.check_nesting("from_config", "config", config)
    return _from_config(config, "config")


# --------------------------------------------------------------------------------------------
# Spec strings.
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>[+-]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<punct>[()\[\],=])
""", re.VERBOSE)


def _tokenize(spec: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(spec):
        m = _TOKEN.match(spec, pos)
        if m is None:
            _parse_error(spec, pos, f"unexpected character {spec[pos]!r}")
        kind = m.lastgroup
        if kind != "ws":
            tokens.append((kind, m.group(), pos))
        pos = m.end()
    tokens.append(("end", "", len(spec)))
    return tokens


_WINDOW = 40  # characters shown on each side of the error position
_BLANKS = str.maketrans({c: " " for c in "\t\n\r\x0b\x0c"})


def _parse_error(spec: str, pos: int, message: str, hint: str | None = None):
    """ValueError: the message, then the spec (a window around ``pos``) and a caret under it."""
    start, end = max(0, pos - _WINDOW), min(len(spec), pos + _WINDOW)
    before = "..." if start else ""
    window = before + spec[start:end].translate(_BLANKS) + ("..." if end < len(spec) else "")
    pointer = f"\n  {window}\n  {' ' * (len(before) + pos - start)}^"
    validation.fail("parse", f"{message} at position {pos} of {validation.shorten(spec)}."
                             f"{pointer}", hint=hint)


def _valid_names() -> str:
    return ", ".join(sorted(BUILDERS))


def _found(kind: str, text: str) -> str:
    return "end of input" if kind == "end" else validation.shorten(text, 40)


class _Parser:

    def __init__(self, spec: str):
        self.spec = spec
        self.tokens = _tokenize(spec)
        self.i = 0
        self.depth = 0

    def enter(self, pos: int) -> None:
        """One more level of nesting (a call or a list); refuses more than MAX_DEPTH."""
        self.depth += 1
        if self.depth > validation.MAX_DEPTH:
            _parse_error(self.spec, pos, f"calls and lists are nested deeper than MAX_DEPTH = "
                                         f"{validation.MAX_DEPTH} levels",
                         hint="Real schedules nest a few levels; flatten the spec.")

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def next(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        kind, value, pos = self.next()
        if value != text or kind == "string":
            found = "end of input" if kind == "end" else validation.shorten(value, 40)
            _parse_error(self.spec, pos, f"expected {text!r}, found {found}")

    def value(self) -> Any:
        kind, text, pos = self.peek()
        if kind == "number":
            self.next()
            clean = text.replace("_", "")
            if len(clean) > 400:  # beyond any float; int() would refuse > 4300 digits anyway
                _parse_error(self.spec, pos, f"the number {validation.shorten(text, 40)} has "
                                             f"more than 400 characters")
            if re.fullmatch(r"[+-]?\d+", clean):
                return int(clean)
            return float(clean)
        if kind == "string":
            self.next()
            return text[1:-1]
        if kind == "punct" and text == "[":
            self.next()
            self.enter(pos)
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
                if self.peek()[1] == ",":
                    self.next()
                elif self.peek()[1] != "]":
                    k, t, p = self.peek()
                    _parse_error(self.spec, p, f"expected ',' or ']' in a list, found "
                                               f"{_found(k, t)}")
            self.next()
            self.depth -= 1
            return items
        if kind == "name":
            if self.tokens[self.i + 1][1] == "(":
                return self.call()
            self.next()
            return {"None": None, "True": True, "False": False}.get(text, text)
        _parse_error(self.spec, pos, f"expected a value (number, string, list or schedule "
                                     f"call), found {_found(kind, text)}")

    def call(self) -> Schedule:
        kind, name, pos = self.next()
        if name not in BUILDERS:
            close = difflib.get_close_matches(name, BUILDERS, n=1)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            _parse_error(self.spec, pos, f"unknown schedule {validation.shorten(name, 60)}",
                         hint=f"{hint}Valid names: {_valid_names()}.")
        self.enter(pos)
        self.expect("(")
        args, kwargs = [], {}
        while self.peek()[1] != ")":
            k, t, p = self.peek()
            if k == "name" and self.tokens[self.i + 1][1] == "=":
                self.next()
                self.next()
                if t in kwargs:
                    _parse_error(self.spec, p, f"argument {validation.shorten(t, 60)} given "
                                               f"twice")
                kwargs[t] = self.value()
            else:
                if kwargs:
                    _parse_error(self.spec, p, "positional argument after keyword argument")
                args.append(self.value())
            if self.peek()[1] == ",":
                self.next()
            elif self.peek()[1] != ")":
                k, t, p = self.peek()
                _parse_error(self.spec, p, f"expected ',' or ')' in the arguments of {name}, "
                                           f"found {_found(k, t)}")
        self.next()
        self.depth -= 1
        builder = BUILDERS[name]
        signature = inspect.signature(builder)
        try:
            signature.bind(*args, **kwargs)
        except TypeError as e:
            _parse_error(self.spec, pos, f"bad arguments for {name}: {e}",
                         hint=f"Signature: {name}{signature}.")
        try:
            return builder(*args, **kwargs)
        except (TypeError, ValueError) as e:  # the builder's own message, after the position
            _parse_error(self.spec, pos, f"invalid arguments for {name}", hint=str(e))
        raise AssertionError  # unreachable


def parse(spec: str) -> Schedule:
    """Builds a schedule from a readable spec string, without ``eval``.

    Grammar: builder calls with positional and keyword arguments, nested calls, lists for
    boundaries/milestones/values, numbers, quoted or bare strings, ``None``/``True``/``False``;
    a bare number means ``constant(number)``. See the module docstring for the full grammar.

    Args:
      spec: e.g. ``"warmup(cosine_decay(1e-3, 10000), 500)"``.

    Returns:
      The schedule.

    Raises:
      ValueError: naming the problem and its position (with the list of valid names for an
        unknown schedule, and the builder's own message for invalid arguments).

    Examples:
      >>> import jaxlr
      >>> jaxlr.parse("warmup(cosine_decay(1e-3, 10000), 500)")
      warmup(schedule=cosine_decay(init_value=0.001, decay_steps=10000, end_value=0.0,
             periodic=False), warmup_steps=500, init_value=0.0, shape='linear')
      >>> jaxlr.parse("piecewise_constant([100, 200], [0.1, 0.01, 0.001])")(150).item()
      0.01...
    """
    if not isinstance(spec, str):
        validation.fail("parse", f"`spec` must be a string; got {validation.shorten(spec)}.",
                        error=TypeError)
    if len(spec) > validation.MAX_SPEC_LENGTH:
        validation.fail("parse", f"`spec` is longer than MAX_SPEC_LENGTH = "
                                 f"{validation.MAX_SPEC_LENGTH} characters; got "
                                 f"{validation.shorten(spec, 60)}.",
                        hint="Build long schedules in Python (jaxlr.join, piecewise_linear with "
                             "arrays) instead of one huge string.")
    if not spec.strip():
        validation.fail("parse", "`spec` is empty.",
                        hint=f"Write a call such as 'cosine_decay(1e-3, 1000)'; valid names: "
                             f"{_valid_names()}.")
    parser = _Parser(spec)
    kind, text, pos = parser.peek()
    if kind == "number":
        result: Any = BUILDERS["constant"](parser.value())
    elif kind == "name" and parser.tokens[1][1] == "(":
        result = parser.call()
    else:
        _parse_error(spec, pos, f"expected a schedule call such as 'cosine_decay(1e-3, 1000)', "
                                f"found {_found(kind, text)}", hint=f"Valid names: "
                                                                  f"{_valid_names()}.")
    kind, text, pos = parser.peek()
    if kind != "end":
        _parse_error(spec, pos, f"unexpected {_found(kind, text)} after the schedule")
    return result


# --------------------------------------------------------------------------------------------
# Introspection.
# --------------------------------------------------------------------------------------------


@jax.jit
def _evaluate(schedule: Schedule, steps: jax.Array) -> jax.Array:
    return schedule(steps)


def describe(schedule: Any, total_steps: int) -> dict:
    """Numeric summary of ``schedule`` over steps ``0 .. total_steps - 1``.

    Returns a JSON-able dict: ``initial_value``, ``peak_value`` and ``peak_step`` (first
    maximum), ``min_value`` and ``min_step``, ``final_value`` (at ``total_steps - 1``), ``auc``
    (the sum of the values over the steps, i.e. the area under the curve with unit steps),
    ``mean_value``, ``total_steps`` and ``horizon`` (see :func:`jaxlr.schedules.horizon`; None
    when it never settles or cannot be computed).

    Examples:
      >>> import jaxlr
      >>> d = jaxlr.describe(jaxlr.warmup(jaxlr.linear(10.0, 0.0, 8), 2), 10)
      >>> d["peak_value"], d["peak_step"], d["final_value"], d["auc"]
      (10.0, 2, 1.25, 50.0)
    """

    schedule = as_schedule("describe", "schedule", schedule)
    validation.check_steps("describe", minimum=1, total_steps=total_steps)
    total_steps = int(total_steps)
    values = np.asarray(_evaluate(schedule, jnp.arange(total_steps, dtype=jnp.int32)),
                        dtype=np.float64)
    if values.shape != (total_steps,):
        validation.fail("describe", f"`schedule` must return one value per step; got shape "
                                    f"{values.shape} for {total_steps} steps.",
                        hint="Describe each lane of a stacked schedule separately.")
    try:
        h = horizon(schedule)
    except TypeError:
        h = None
    peak_step, min_step = int(np.argmax(values)), int(np.argmin(values))
    auc = float(np.sum(values))
    return {
        "initial_value": float(values[0]),
        "peak_value": float(values[peak_step]),
        "peak_step": peak_step,
        "min_value": float(values[min_step]),
        "min_step": min_step,
        "final_value": float(values[-1]),
        "auc": auc,
        "mean_value": auc / total_steps,
        "total_steps": total_steps,
        "horizon": h,
        "finite": bool(np.all(np.isfinite(values))),
    }


__all__ = ["describe", "from_config", "parse", "to_config"]
