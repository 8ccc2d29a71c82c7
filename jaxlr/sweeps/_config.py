"""Validation of a sweep described as plain data (a TOML/YAML/JSON table; the CLI's config).

:func:`check_sweep_config` checks the kind and range of every key before any work starts (no
task is loaded, nothing is compiled), so a bad config fails at once with a message naming the
key, instead of a raw ``int()`` error or a failure after minutes of training.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jaxlr import schedules as schedules_lib
from jaxlr._utils._validation import check_nesting, fail, shorten
from jaxlr.sweeps import _space as space_lib

_FN = "sweep_from_config"

#: The keys of a sweep config (see :func:`jaxlr.sweep_from_config`).
KEYS = ("task", "space", "strategy", "num_trials", "optimizer", "schedule", "steps",
        "batch_size", "metric", "mode", "folds", "seeds", "chunk_size", "grid_points", "seed",
        "options")

#: Strategies that sample a given number of trials (``num_trials`` is required).
_SAMPLED = ("random", "halton", "sobol", "tpe", "gp", "cmaes")
#: Strategies that take no ``options``.
_NO_OPTIONS = ("grid", "random", "halton", "sobol")

_Check = Callable[[str, Any], None]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int(minimum: int) -> _Check:
    def check(name: str, value: Any) -> None:
        if not _is_int(value):
            fail(_FN, f"`{name}` must be an integer; got {name}={shorten(value)} (type "
                      f"{type(value).__name__}).", error=TypeError)
        if value < minimum or value > 2**31 - 1:
            fail(_FN, f"`{name}` must be an integer in [{minimum}, 2**31 - 1]; got "
                      f"{name}={shorten(value)}.")
    return check


def _choice(allowed: Sequence[str]) -> _Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            fail(_FN, f"`{name}` must be a string, one of {', '.join(map(repr, allowed))}; "
                      f"got {name}={shorten(value)} (type {type(value).__name__}).",
                 error=TypeError)
        if value not in allowed:
            close = difflib.get_close_matches(value, allowed, n=1)
            guess = f" Did you mean {close[0]!r}?" if close else ""
            fail(_FN, f"`{name}` must be one of {', '.join(map(repr, allowed))}; got "
                      f"{name}={shorten(value)}.{guess}")
    return check


def _text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        fail(_FN, f"`{name}` must be a non-empty string; got {name}={shorten(value)}.",
             error=TypeError if not isinstance(value, str) else ValueError)


def _quantile(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(_FN, f"`{name}` must be a number; got {name}={shorten(value)}.", error=TypeError)
    if not 0 < value <= 0.5:
        fail(_FN, f"`{name}` must be in (0, 0.5]; got {name}={shorten(value)}.")


def _names(name: str, value: Any) -> None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        fail(_FN, f"`{name}` must be a list of hyperparameter names; got "
                  f"{name}={shorten(value)}.", error=TypeError)


def _factors(name: str, value: Any) -> None:
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0 for v in value)
    if not ok:
        fail(_FN, f"`{name}` must be two positive numbers [low, high]; got "
                  f"{name}={shorten(value)}.", hint="Example: factors = [0.8, 1.2].",
             error=TypeError if not isinstance(value, (list, tuple)) else ValueError)


def _seed(name: str, value: Any) -> None:
    if not _is_int(value):
        fail(_FN, f"`{name}` must be an integer; got {name}={shorten(value)} (type "
                  f"{type(value).__name__}).", hint="Example: seed = 0.", error=TypeError)
    if not -(2**63) <= value < 2**63:
        fail(_FN, f"`{name}` must fit in 64 bits; got {name}={shorten(value)}.")


def _anything(name: str, value: Any) -> None:
    return None


_SEEDS = ("common", "independent")

#: Options each strategy accepts from a config, with their checks (the keyword arguments of
#: ``successive_halving``, ``pbt`` and ``optuna_search`` that ``sweep_task`` does not set).
STRATEGY_OPTIONS: dict[str, dict[str, _Check]] = {
    "successive_halving": {"eta": _int(2), "min_steps": _int(1), "max_steps": _int(1),
                           "seeds": _choice(_SEEDS)},
    "pbt": {"interval": _int(1), "steps": _int(1), "quantile": _quantile, "perturb": _names,
            "factors": _factors, "seeds": _choice(_SEEDS)},
    **{s: {"batch_size": _int(1), "seed": _seed, "seeds": _choice(_SEEDS), "study": _anything}
       for s in ("tpe", "gp", "cmaes")},
}


def _check_task(value: Any) -> None:
    if isinstance(value, str):
        _text("task", value)
        return
    if isinstance(value, (list, tuple)) or all(hasattr(value, a) for a in
                                               ("init", "loss", "train")):
        return  # (init, loss, data[, ...]) or a Task: checked by sweep_task
    fail(_FN, f"`task` must be a task name (e.g. 'digits-mlp'), a Task or a tuple (init, loss, "
              f"train_data[, valid_data]); got task={shorten(value)} (type "
              f"{type(value).__name__}).", error=TypeError)


def _check_named(name: str, value: Any, allowed: Sequence[str], what: str) -> None:
    """A name from ``allowed`` or (from Python) a callable."""
    if callable(value) and not isinstance(value, str):
        return
    if not isinstance(value, str):
        fail(_FN, f"`{name}` must be {what} name or a function; got {name}={shorten(value)} "
                  f"(type {type(value).__name__}).", error=TypeError)
    _choice(allowed)(name, value)


def _check_grid_points(value: Any) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                fail(_FN, f"`grid_points` names must be strings; got {shorten(k)}.",
                     error=TypeError)
            _int(1)(f"grid_points.{k}", v)
        return
    _int(1)("grid_points", value)


def _check_options(strategy: str, options: Any) -> dict[str, Any]:
    if not isinstance(options, Mapping):
        fail(_FN, f"`options` must be a table of strategy options; got "
                  f"options={shorten(options)} (type {type(options).__name__}).",
             hint="TOML: an [options] table, e.g. eta = 3 for successive_halving.",
             error=TypeError)
    options = dict(options)
    for k in options:
        if not isinstance(k, str):
            fail(_FN, f"`options` names must be strings; got {shorten(k)}.", error=TypeError)
    if strategy in _NO_OPTIONS:
        if options:
            fail(_FN, f"strategy={strategy!r} takes no options; got options="
                      f"{shorten(options)}.", hint="Remove the options table.")
        return options
    accepted = STRATEGY_OPTIONS.get(strategy, {})
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        fail(_FN, f"unknown option(s) {shorten(unknown)} for strategy={strategy!r}; the "
                  f"options are {', '.join(accepted) or 'none'}.")
    for k, v in options.items():
        accepted[k](f"options.{k}", v)
    return options


def check_sweep_config(config: Any, *, strategies: Sequence[str],
                       optimizers: Sequence[str]) -> dict[str, Any]:
    """Checks a sweep config and returns it as ``sweep_task`` keyword arguments.

    Every key is checked for its kind and range before anything runs; ``space`` is built with
    :func:`jaxlr.sweeps.space_from_config`. The result holds ``task``, ``seed`` (when given), the
    built ``space`` and the other keys that were present.

    Raises:
      TypeError: a key has the wrong kind (``seed = "abc"``, ``options = 3``).
      ValueError: unknown keys, values out of range, or input beyond the limits of
        :mod:`jaxlr._utils._validation`.
    """
    if not isinstance(config, Mapping):
        fail(_FN, f"`config` must be a table (dict); got {shorten(config)}.", error=TypeError)
    for k in config:
        if not isinstance(k, str):
            fail(_FN, f"config keys must be strings; got {shorten(k)}.", error=TypeError)
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], KEYS, n=1)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        fail(_FN, f"unknown keys {shorten(unknown)}; the keys are {', '.join(sorted(KEYS))}."
                  f"{guess}")
    plain = {k: v for k, v in config.items() if k != "task"}  # a task may hold arrays
    check_nesting(_FN, "config", plain)
    if "space" not in config:
        fail(_FN, "the config needs a `space` table.",
             hint="TOML: [space] then learning_rate = \"loguniform(1e-4, 1e-1)\".")
    cfg = dict(config)
    _check_task(cfg.get("task", "digits-mlp"))
    strategy = cfg.get("strategy", "random")
    _choice(tuple(strategies))("strategy", strategy)
    checks: dict[str, _Check] = {
        "num_trials": _int(1), "steps": _int(1), "batch_size": _int(1), "folds": _int(2),
        "chunk_size": _int(1), "seed": _seed, "metric": _text, "mode": _choice(("min", "max")),
        "seeds": _choice(_SEEDS),
    }
    for key, check in checks.items():
        if cfg.get(key) is not None:
            check(key, cfg[key])
    if cfg.get("grid_points") is not None:
        _check_grid_points(cfg["grid_points"])
    if cfg.get("optimizer") is not None:
        _check_named("optimizer", cfg["optimizer"], tuple(optimizers), "an optimizer")
    if cfg.get("schedule") is not None:
        names = tuple(n for n in schedules_lib.BUILDERS if n in schedules_lib.__all__)
        _check_named("schedule", cfg["schedule"], names, "a schedule builder")
    if strategy in _SAMPLED and cfg.get("num_trials") is None:
        fail(_FN, f"strategy={strategy!r} needs `num_trials`; got none.",
             hint="Add num_trials = 16 (or use strategy = \"grid\").")
    if cfg.get("folds") is not None and strategy in ("successive_halving", "pbt"):
        fail(_FN, f"folds={cfg['folds']} is not supported with strategy={strategy!r}.",
             hint="Use cross-validation with grid/random/halton/sobol/optuna strategies.")
    if cfg.get("options") is not None:
        cfg["options"] = _check_options(strategy, cfg["options"])
    space = cfg["space"]
    if not isinstance(space, Mapping):
        fail(_FN, f"`space` must be a table of hyperparameters; got space={shorten(space)} "
                  f"(type {type(space).__name__}).",
             hint="TOML: [space] then learning_rate = \"loguniform(1e-4, 1e-1)\".",
             error=TypeError)
    cfg["space"] = space_lib.space_from_config(space)
    return {k: v for k, v in cfg.items() if v is not None or k in ("task", "space")}
