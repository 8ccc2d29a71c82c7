"""How results show themselves: short repr, summary()/str(), the sweep table, finder JSON size.

Results are built directly from small numpy arrays (no training), so every test is fast;
``tests/test_plotting.py`` draws the same results.
"""

import json
import re

import numpy as np
import pytest

import jaxlr
from jaxlr.cli._compare import CompareResult

# ---- tiny results --------------------------------------------------------------------------


def parallel_result(**kw):
    """6 candidates x 2 seeds x 10 steps; the last candidate diverged.

    Seed-mean horizon losses 2.0, 1.5, 0.52, 0.50, 1.0 (and the diverged one): the best is
    0.1, 0.01 is within one standard error of it, so ``best_final`` (smaller near-equal rate)
    and ``minimum_div_10`` (0.1 / 10) both suggest 0.01: two coinciding rules.
    """
    lrs = 10.0 ** np.arange(-4, 2)
    mean = np.array([2.0, 1.5, 0.52, 0.50, 1.0, np.nan])
    final = np.stack([mean - 0.03, mean + 0.03], axis=1)
    div = np.zeros((6, 2), bool)
    div[-1] = True
    final[-1] = np.nan
    t = np.linspace(1.0, 0.0, 10)
    losses = 2.3 * t[None, None, :] + final[:, :, None] * (1 - t[None, None, :])
    losses[-1, :, 3:] = np.nan
    step = np.full((6, 2), -1)
    step[-1] = 3
    fields = {
        "method": "parallel", "lrs": lrs, "losses": losses, "smoothed": losses.copy(),
        "final_losses": final, "valid_losses": final + 0.01, "valid_curve": None,
        "valid_steps": None, "diverged": div, "diverged_step": step, "effective_lrs": None,
        "num_steps": 10, "batch_size": 8, "optimizer": "jaxlr.adam", "schedule": "constant",
        "smoothing": 0.0, "divergence_threshold": 4.0, "min_lr": 1e-4, "max_lr": 10.0,
        "task": "digits-mlp"}
    fields.update(kw)
    return jaxlr.FinderResult(**fields)


def range_result(**kw):
    """A 60-update exponential ramp: a steep drop near 1e-4, a slow descent to the minimum
    near 0.1, then a rise. The steepest point lies far below the minimum, so the range
    ``suggest_range()`` returns (minimum / 4 .. minimum) excludes the ``steepest`` suggestion.
    """
    n = 60
    lrs = 1e-6 * (1e7) ** (np.arange(n) / (n - 1))
    x = np.log10(lrs)
    loss = 2.0 - 1.0 / (1.0 + np.exp(-(x + 4.0) * 6.0)) - 0.1 * np.clip(x + 4, 0, 3)
    loss = loss + 2.0 * np.clip(x + 1.0, 0, None) ** 2
    fields = {
        "method": "range_test", "lrs": lrs, "losses": loss, "smoothed": loss.copy(),
        "final_losses": np.zeros(0), "valid_losses": None, "valid_curve": None,
        "valid_steps": None, "diverged": np.asarray(False), "diverged_step": np.asarray(-1),
        "effective_lrs": lrs.copy(), "num_steps": n, "batch_size": 8, "optimizer": "jaxlr.sgd",
        "schedule": "exp ramp", "smoothing": 0.0, "divergence_threshold": 4.0, "min_lr": 1e-6,
        "max_lr": 10.0, "step_mode": "exp", "task": "<lambda>", "lag_steps": 0}
    fields.update(kw)
    return jaxlr.FinderResult(**fields)


def sweep_result(log=True, **kw):
    lrs = np.array([1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0])
    wd = np.array([0.0, 0.01, 0.02, 0.0, 0.01, 0.02])
    metric = np.array([2.0, 1.2, 0.4, 0.3, 0.9, np.nan])
    curves = np.linspace(2.3, 1.0, 12)[None, :] * metric[:, None] / 2.0 + 0.05
    curves[-1, 4:] = np.nan
    div = np.array([False] * 5 + [True])
    fields = {
        "hparams": {"learning_rate": lrs, "weight_decay": wd},
        "metrics": {"valid_loss": metric}, "curves": {"train_loss": curves}, "diverged": div,
        "metric": "valid_loss",
        "space": {"learning_rate": {"kind": "loguniform", "low": 1e-4, "high": 10.0, "log": log},
                  "weight_decay": {"kind": "uniform", "low": 0.0, "high": 0.02, "log": False}}}
    fields.update(kw)
    return jaxlr.SweepResult(**fields)


def pbt_result():
    r = sweep_result()
    r.extra["pbt"] = {"lr_history": np.array([[1e-3, 1e-2], [2e-3, 1e-2], [2e-3, 8e-3]]),
                      "best_schedule_steps": np.array([0, 10, 20]), "interval": 10,
                      "best_schedule": np.array([1e-3, 2e-3, 2e-3]), "lr_name": "learning_rate"}
    return r


def history():
    n = 20
    lr = np.concatenate([np.full(10, 1e-2), np.full(10, 1e-3)])
    return jaxlr.History(
        steps=np.arange(n), train={"loss": np.linspace(2.0, 0.5, n), "lr": lr,
                                   "finite": np.ones(n, bool)},
        eval_steps=np.array([10, 20]),
        eval={"val_loss": np.array([1.2, 0.7]), "val_accuracy": np.array([0.6, 0.8])},
        eval_time=np.array([0.1, 0.2]), reductions=np.array([10]),
        lr_scale=np.array([0.1, 0.1]), best_step=20, elapsed=0.25)


def compare_result():
    t = 40
    lrs = np.stack([np.full(t, 0.5), np.full(t, 0.02),
                    np.where(np.arange(t) < 30, 0.5, 0.005)])
    losses = np.exp(-np.arange(t) / 10.0)[None, None, :] * np.array([1.0, 2.0, 1.0])[:, None,
                                                                                         None]
    stats = [{"final_loss": float(losses[i, 0, -1]), "diverged": 0} for i in range(3)]
    return CompareResult(labels=["0.5", "0.02", "multistep"], lrs=lrs, losses=losses,
                         stats=stats, task="digits-mlp", optimizer="sgd", steps=t, seeds=1)



def big_parallel_result():
    """The CLI default's shape: 32 rates x 3 seeds x 200 steps, validation every 20 steps."""
    rng = np.random.default_rng(0)
    c, s, t = 32, 3, 200
    lrs = np.geomspace(1e-5, 10.0, c)
    losses = 2.3 * np.exp(-np.linspace(0, 3, t))[None, None] * rng.uniform(0.5, 1.5, (c, s, 1))
    div = np.zeros((c, s), bool)
    div[-5:] = True
    losses[-5:, :, 50:] = np.nan
    final = np.where(div, np.nan, losses[:, :, -1])
    return jaxlr.FinderResult(
        method="parallel", lrs=lrs, losses=losses, smoothed=losses * 1.01, final_losses=final,
        valid_losses=final + 0.02, valid_curve=losses[:, :, 19::20], valid_steps=np.arange(
            20, 201, 20), diverged=div, diverged_step=np.where(div, 50, -1),
        effective_lrs=None, num_steps=t, batch_size=64, optimizer="jaxlr.adam",
        schedule="constant", smoothing=0.98, divergence_threshold=4.0, min_lr=1e-5,
        max_lr=10.0, task="digits-mlp")


def no_array_dump(text):
    return "[" not in text and "array(" not in text and "..." not in text


RESULTS = {"history": history, "finder_parallel": parallel_result,
           "finder_range": range_result, "sweep": sweep_result,
           "finder_big": big_parallel_result}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_repr_is_short_and_has_no_arrays(name):
    text = repr(RESULTS[name]())
    assert len(text) < 300 and no_array_dump(text) and "\n" not in text


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_str_is_the_summary_and_short(name):
    r = RESULTS[name]()
    text = str(r)
    assert text == r.summary()
    lines = text.splitlines()
    assert 3 <= len(lines) <= 16 and max(map(len, lines)) < 160
    assert "array(" not in text and not re.search(r"\[\s*[-\d.e]+(,|\s)\s*[-\d.e]+", text)


def test_history_summary_content():
    h = history()
    text = h.summary()
    assert text.startswith("History: 20 steps, stopped: completed, 0.25 s")
    assert "train loss: final 0.5 (step 20), best 0.5 (step 20)" in text
    assert "val_loss: final 0.7 (step 20), best 0.7 (step 20)" in text
    assert "val_accuracy: final 0.8 (step 20), best 0.8 (step 20)" in text   # maximised
    assert "learning rate: 0.001 .. 0.01, final 0.001; 1 plateau reduction(s)" in text
    assert repr(h) == ("History(steps=20, stop_reason='completed', final_loss=0.5, "
                       "final_val_loss=0.7, elapsed=0.25s)")


def test_finder_summary_content():
    r = parallel_result()
    text = r.summary()
    assert text.splitlines()[0] == ("FinderResult - parallel finder: 6 candidates x 2 seeds "
                                    "x 10 steps")
    assert "suggestion: 0.01 (rule best_final)" in text
    assert "range for cyclic / one_cycle: 0.0025 .. 0.01" in text
    assert "near-best rates (within 1 s.e. of the best): 0.01 .. 0.1" in text
    assert "diverged: 1 of 6 candidates, from 10" in text
    assert "steepest" in text and "minimum_div_10" in text
    assert "suggestion=0.01 (best_final)" in repr(r)
    text = range_result().summary()
    assert "suggestion: 0.000104 (rule steepest)" in text
    assert "(does not contain the suggestion)" in text and "diverged: no" in text


def test_all_diverged_finder_summary():
    r = parallel_result(diverged=np.ones((6, 2), bool), final_losses=np.full((6, 2), np.nan),
                        valid_losses=np.full((6, 2), np.nan))
    text = str(r)
    assert "all 6 runs diverged" in text and len(repr(r)) < 300


def test_sweep_summary_table_and_repr():
    r = sweep_result()
    text = r.summary()
    assert text.splitlines()[0] == ("SweepResult - random sweep: 6 trials, ranked by "
                                    "valid_loss (min), 1 diverged")
    assert "best: trial 3, valid_loss 0.3 (learning_rate=0.1, weight_decay=0)" in text
    assert repr(r) == ("SweepResult(strategy='random', trials=6, metric='valid_loss', "
                       "mode='min', best=0.3 (trial 3), diverged=1)")
    assert len(r.summary(top=0).splitlines()) == 2                    # no table
    assert str(r).splitlines()[3].split()[:2] == ["trial", "learning_rate"]


def test_sweep_table_diverged_column_is_filled():
    lines = sweep_result().table(top=None).splitlines()
    assert lines[0].split()[-1] == "diverged"
    cells = [ln.split()[-1] for ln in lines[2:]]
    assert len(cells) == 6 and set(cells) <= {"yes", "no"}
    assert cells.count("yes") == 1 and cells[-1] == "yes"      # diverged trials sort last


def test_finder_json_is_small_by_default_and_curves_on_request(tmp_path):
    r = big_parallel_result()
    text = r.to_json()
    assert len(text) < 50_000
    d = json.loads(text)
    assert d["curves"] is False
    assert not {"losses", "smoothed", "effective_lrs", "valid_curve"} & set(d)
    assert len(d["lrs"]) == 32 and np.asarray(d["final_losses"], float).shape == (32, 3)
    assert np.asarray(d["valid_losses"], float).shape == (32, 3)
    assert d["diverged"][-1] == [True] * 3 and d["valid_steps"][-1] == 200
    assert d["suggestion"] == pytest.approx(r.suggestion)
    assert set(d["suggestions"]) == set(r.suggestions())
    assert d["suggest_range"] == pytest.approx(list(r.suggest_range()))
    assert d["num_steps"] == 200 and d["task"] == "digits-mlp"
    full = json.loads(r.to_json(str(tmp_path / "full.json"), curves=True))
    assert full["curves"] is True and (tmp_path / "full.json").exists()
    assert np.asarray(full["losses"], float).shape == (32, 3, 200)
    assert np.asarray(full["valid_curve"], float).shape == (32, 3, 10)
    assert len(json.dumps(full)) > 10 * len(text)
    assert r.to_dict(curves=True)["smoothed"][0][0][0] == pytest.approx(r.smoothed[0, 0, 0])


def test_range_test_json_default_and_curves():
    r = range_result()
    d = r.to_dict()
    assert d["method"] == "range_test" and len(d["lrs"]) == 60 and "losses" not in d
    assert len(r.to_dict(curves=True)["losses"]) == 60
