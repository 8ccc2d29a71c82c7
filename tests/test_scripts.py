"""Fast checks of the evidence script's scoring (scripts/ is not a package)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))

import eval_finder  # noqa: E402


def _entry(ratio, regret, diverged=False, compute=1.0):
    return {"key": 0, "lr": ratio, "ratio": ratio, "regret": regret, "diverged": diverged,
            "compute": compute, "seconds": 0.0}


ROWS = [
    {"setting": "a", "truth": {"replicate": [{"ratio": 1.0, "regret": 0.0},
                                             {"ratio": 3.0, "regret": 0.02}]},
     "methods": {"find/budget=4": [_entry(1.5, 0.004), _entry(2.5, 0.05)],
                 "lr-free/prodigy": [_entry(float("nan"), 0.03)]}},
    {"setting": "b", "truth": {"replicate": [{"ratio": 0.5, "regret": 0.001},
                                             {"ratio": 1.0, "regret": 0.0}]},
     "methods": {"find/budget=4": [_entry(0.4, 0.2, diverged=True), _entry(1.0, 0.0)],
                 "lr-free/prodigy": [_entry(float("nan"), 0.01)]}},
]


def test_table_counts_within_2x_regret_divergence_and_the_replicate_floor():
    text = eval_finder.table(ROWS)
    row = next(line for line in text.splitlines() if line.startswith("| find/budget=4"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # ratios 1.5, 2.5, 0.4, 1.0 -> 2 of 4 within 2x; regrets 0.004, 0.05, 0.2, 0 -> median
    # 2.7 %; 2 of 4 <= 1 %; 1 of 4 diverged
    assert cells[1:5] == ["50%", "2.7%", "50%", "25%"]
    floor = next(line for line in text.splitlines() if line.startswith("| replicate"))
    assert "| 75% |" in floor and "| 0.1% |" in floor
    free = next(line for line in text.splitlines() if line.startswith("| lr-free/prodigy"))
    assert free.split("|")[2].strip() == "-"


def test_lr_free_wins_compares_the_median_over_keys_per_setting():
    # setting a: median(0.004, 0.05) = 0.027 < 0.03 (win); b: median(0.2, 0) = 0.1 > 0.01
    assert eval_finder.lr_free_wins(ROWS, "find/budget=4") == 0.5


def test_every_setting_has_a_known_task_and_optimizer_and_held_out_excludes_design():
    import jaxlr

    names = set(jaxlr.tasks.list_tasks())
    for task, opt, kind, steps in eval_finder.SETTINGS.values():
        assert task in names and opt in eval_finder.OPTIMIZERS
        assert kind in ("constant", "cosine") and steps >= 100
    assert not set(eval_finder.DESIGN) & set(eval_finder.HELD_OUT)
    assert len(eval_finder.SETTINGS) >= 8
    assert any(s.startswith("transformer") for s in eval_finder.HELD_OUT)
